"""The layout's size limit: every Python file of the project stays under 400 lines, so that each
module does one thing a reader can take in; a file that grows past it is split, not waived."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The project's Python trees (the packages, the benchmarks and the tests).
TREES = ("logger", "canp", "spi", "dbc", "hw", "bench", "tests")
LIMIT = 400


def line_count(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


def python_files() -> list[Path]:
    return sorted(path for tree in TREES for path in (ROOT / tree).rglob("*.py"))


def test_the_trees_hold_python_files() -> None:
    files = python_files()
    for tree in TREES:
        assert any(f.is_relative_to(ROOT / tree) for f in files), f"no .py file under {tree}/"


def test_every_python_file_is_under_400_lines() -> None:
    too_long = {
        str(path.relative_to(ROOT)): n
        for path in python_files()
        if (n := line_count(path)) >= LIMIT
    }
    listing = "\n".join(f"  {name}: {n} lines" for name, n in sorted(too_long.items()))
    assert not too_long, f"{len(too_long)} files of {LIMIT} lines or more; split them:\n{listing}"
