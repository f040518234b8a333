"""The docs name only code that exists: module paths and ``python -m`` modules."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "ARCHITECTURE.md"
PACKAGES = ("logger", "canp", "hw", "spi", "dbc", "bench")

#: Paths the docs name ahead of a move that is under way; remove each once it exists.

_PATH = re.compile(rf"(?<![\w./-])((?:{'|'.join(PACKAGES)})/(?:[\w.-]+/?)*)")
_MODULE = re.compile(r"\bpython -m ([\w.]+)")
#: A file named without its folder (`` `store.py` ``): the check above cannot see it.
_SHORT = re.compile(r"`([\w.-]+\.py)`")


def _paths(text: str) -> set[str]:
    """Code paths in ``text``: ``*.py`` files and folders (``logger/cli/``, ``hw/simulate``)."""
    found = set()
    for match in _PATH.finditer(text):
        path = match.group(1).rstrip(".")
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if path.endswith((".py", "/")) or "." not in name:
            found.add(path)
    return found


def _exists(path: str) -> bool:
    target = ROOT / path
    return target.is_dir() if path.endswith("/") else target.exists()


def _module_exists(module: str) -> bool:
    """``python -m module`` can run: ``a/b.py``, or a package ``a/b/`` with ``__main__.py``."""
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()


def test_architecture_names_only_paths_that_exist() -> None:
    named = _paths(ARCHITECTURE.read_text(encoding="utf-8"))
    assert len(named) > 30, sorted(named)  # the map names modules, not just packages
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"docs/ARCHITECTURE.md names paths that do not exist: {missing}"
    short = sorted(set(_SHORT.findall(ARCHITECTURE.read_text(encoding="utf-8"))))
    assert not short, f"docs/ARCHITECTURE.md: give files as paths from the root: {short}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_files_named_in_the_docs_exist(doc: Path) -> None:
    named = {p for p in _paths(doc.read_text(encoding="utf-8")) if p.endswith(".py")}
    missing = sorted(p for p in named if not _exists(p))
    assert not missing, f"{doc.name} names files that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_python_m_modules_in_the_docs_exist(doc: Path) -> None:
    modules = set(_MODULE.findall(doc.read_text(encoding="utf-8")))
    ours = {m for m in modules if m.split(".")[0] in PACKAGES}
    missing = sorted(m for m in ours if not _module_exists(m))
    assert not missing, f"{doc.name}: `python -m` modules that do not exist: {missing}"


def test_the_checks_see_what_they_check() -> None:
    """The patterns find paths and modules as the docs write them, and miss nothing obvious."""
    text = (
        "see `logger/capture/exchange.py`, hw/testbed/ and (`canp/io/read.py`), hw/simulate. "
        "Not paths: dbc/examples/demo.dbc, spi_topic, logger.query.client, tests/support/x.py"
    )
    assert _paths(text) == {
        "logger/capture/exchange.py",
        "hw/testbed/",
        "canp/io/read.py",
        "hw/simulate",
    }
    assert _MODULE.findall("x .venv/bin/python -m hw.testbed.vm --timeout 9") == ["hw.testbed.vm"]
    assert _module_exists("bench") and _module_exists("hw.testbed.vm")
    assert not _module_exists("hw.vm")
    assert not _exists("logger/nowhere.py")
