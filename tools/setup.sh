#!/usr/bin/env bash
# Prepare a machine to develop and test sdv-logger: Debian packages (Mosquitto, its clients,
# openssl, the Python venv module; for the SocketCAN tests QEMU, the Debian kernel with its
# modules, a static busybox and can-utils) and the project's virtualenv (.venv: the exact
# versions of requirements.lock, hash-checked, then the project in editable mode; the dev tools
# include virtme-ng: `python -m hw.testbed.vm` boots that kernel with it).
#
# The dashboard's plotting library (uPlot) comes from npm into node_modules (npm ci, exactly
# package-lock.json), and its browser tests use Debian's chromium.
#
# For a fresh Debian machine, as root, with Python 3.11. Idempotent, and quick when everything is
# already there: apt is skipped when the tools exist, pip when neither pyproject.toml nor
# requirements.lock has changed since the last install. The tests start their own Mosquitto on free ports, so the system service that
# Debian's package would start is kept from starting (and disabled) instead.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV=.venv
STAMP="$VENV/.sdvlog-installed"

log() { printf 'setup: %s\n' "$*" >&2; }

have() { command -v "$1" >/dev/null 2>&1; }

# A Python of at least 3.11 that can make virtualenvs; prints its name.
find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if have "$candidate" &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null &&
            "$candidate" -c 'import ensurepip, venv' 2>/dev/null; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

# --- Debian packages -----------------------------------------------------------------------------
packages=()
have mosquitto || [ -x /usr/sbin/mosquitto ] || packages+=(mosquitto)
have mosquitto_pub || packages+=(mosquitto-clients)
have openssl || packages+=(openssl)
# SocketCAN tests (python -m hw.testbed.vm): QEMU, a kernel with CAN modules, busybox for virtme-ng's
# initramfs, and can-utils as the tests' peers (cangen, candump, cansend, canplayer).
have qemu-system-x86_64 || packages+=(qemu-system-x86)
compgen -G '/boot/vmlinuz-*' >/dev/null && compgen -G '/lib/modules/*/kernel/drivers/net/can/vcan.ko*' >/dev/null ||
    packages+=(linux-image-amd64)
have busybox || [ -x /bin/busybox ] || packages+=(busybox-static)
have cangen || packages+=(can-utils)
# The upload's tests check what landed in the bucket with a second client (aws); the fleet lake's
# Spark engine (pyspark) runs on Java 17.
have aws || packages+=(awscli)
have java || packages+=(openjdk-17-jre-headless)
# The dashboard: its plotting library comes from npm (package-lock.json), its browser tests drive
# Debian's chromium through Playwright.
have node || packages+=(nodejs)
have npm || packages+=(npm)
have chromium || [ -x /usr/bin/chromium ] || packages+=(chromium)
if [ ! -x "$VENV/bin/python" ] && ! find_python >/dev/null; then
    packages+=(python3 python3-venv)
fi

if [ "${#packages[@]}" -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "missing ${packages[*]}: run this script as root (or install them with apt-get)"
        exit 1
    fi
    log "installing ${packages[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # Keep the packages' services from being started while they are installed (policy-rc.d is
    # honoured by invoke-rc.d and deb-systemd-invoke); only if no policy is in place already.
    policy=/usr/sbin/policy-rc.d
    added_policy=false
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        added_policy=true
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${packages[@]}"
    if "$added_policy"; then
        rm -f "$policy"
        trap - EXIT
    fi
    # The system broker would hold port 1883; our tests and the embedded broker bring their own.
    if have systemctl && [ -d /run/systemd/system ]; then
        systemctl disable --now mosquitto.service >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/mosquitto ]; then
        /etc/init.d/mosquitto stop >/dev/null 2>&1 || true
    fi
fi

# --- the virtualenv ------------------------------------------------------------------------------
if [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    log "$VENV is broken (its Python does not run): making it again"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    python=$(find_python) || {
        log "no Python >= 3.11 with the venv module found (install python3 and python3-venv)"
        exit 1
    }
    log "creating $VENV with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$VENV"
fi

# Exactly the versions (and files, by hash) of requirements.lock, then the project itself without
# resolving anything again; tools/lock.sh refreshes the lock.
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ "$(cat "$STAMP" 2>/dev/null || true)" != "$want" ]; then
    log "installing the locked dependencies (requirements.lock) and sdv-logger into $VENV"
    pip=("$VENV/bin/python" -m pip install --disable-pip-version-check -q)
    "${pip[@]}" --require-hashes --no-deps -r requirements.lock
    "${pip[@]}" --no-deps --no-build-isolation -e .
    "$VENV/bin/python" -m pip check
    echo "$want" >"$STAMP"
fi
# --- the dashboard's JavaScript (node_modules: exactly package-lock.json) ----------------------
NODE_STAMP=node_modules/.sdvlog-installed
want_js=$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)
if [ "$(cat "$NODE_STAMP" 2>/dev/null || true)" != "$want_js" ]; then
    log "installing the dashboard's JavaScript (package-lock.json) into node_modules"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want_js" >"$NODE_STAMP"
fi
mosquitto=$(command -v mosquitto || echo /usr/sbin/mosquitto)
log "ready: $("$VENV/bin/python" --version 2>&1), $("$mosquitto" -h 2>&1 | head -n1 || true)"
