#!/usr/bin/env bash
# Refresh requirements.lock to the newest releases that pyproject.toml's ranges allow (runtime and
# dev, exact versions with hashes, for CPython 3.11 on x86_64 Linux), install them into .venv, and
# run the host test suite on them. Review `git diff requirements.lock`, then commit it with the
# suite's result. `tools/lock.sh --check` only says whether the lock still satisfies pyproject.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

UV_VERSION=0.9.30
TOOL=.venv-lock
if [ ! -x "$TOOL/bin/uv" ] || [ "$("$TOOL/bin/uv" --version | cut -d' ' -f2)" != "$UV_VERSION" ]; then
    python3 -m venv "$TOOL"
    "$TOOL/bin/python" -m pip install --disable-pip-version-check -q "uv==$UV_VERSION"
fi
compile() {
    "$TOOL/bin/uv" pip compile pyproject.toml tools/lock.in --extra dev --generate-hashes \
        --python-version 3.11 --python-platform x86_64-manylinux_2_28 --no-header --quiet "$@"
}
if [ "${1:-}" = "--check" ]; then
    # Resolving again while preferring the locked versions must change nothing.
    copy=$(mktemp)
    trap 'rm -f "$copy"' EXIT
    cp requirements.lock "$copy"
    compile -o "$copy"
    diff -q "$copy" requirements.lock >/dev/null && echo "lock: up to date" && exit 0
    echo "lock: pyproject.toml and requirements.lock disagree; run tools/lock.sh" >&2
    exit 1
fi
compile --upgrade -o requirements.lock
bash tools/setup.sh
.venv/bin/python -m pytest -q
