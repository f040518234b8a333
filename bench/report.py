"""Benchmark results: printed as tables and written to ``bench/results/<name>.json``."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shlex
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.common import RESULTS

Cell = str | int | float | bool | None


@dataclass
class Table:
    """One result table: a title, column names and rows of plain values."""

    title: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)

    def add(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{self.title}: {len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))

    def render(self) -> str:
        text = [[_fmt(c) for c in row] for row in self.rows]
        widths = [len(c) for c in self.columns]
        for row in text:
            widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]

        def line(cells: list[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()

        rule = "  ".join("-" * w for w in widths)
        return "\n".join([self.title, line(self.columns), rule, *(line(r) for r in text)])


@dataclass
class Report:
    """What one benchmark found: tables, target checks, free-form notes and context."""

    name: str
    quick: bool
    profiled: bool = False  # sampled by py-spy: figures slightly pessimistic, kept apart
    tables: list[Table] = field(default_factory=list)
    targets: list[dict[str, Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    context: dict[str, Cell] = field(default_factory=dict)

    def table(self, title: str, *columns: str) -> Table:
        t = Table(title, list(columns))
        self.tables.append(t)
        return t

    def target(self, what: str, value: float, op: str, limit: float, unit: str) -> bool:
        """Record a target check (``op`` is ``>=`` or ``<=``); returns whether it is met."""
        met = value >= limit if op == ">=" else value <= limit
        self.targets.append(
            {"what": what, "value": value, "op": op, "target": limit, "unit": unit, "met": met}
        )
        return met

    @property
    def file_name(self) -> str:
        return self.name + ("-quick" if self.quick else "") + ("-profiled" if self.profiled else "")


def _fmt(cell: Cell) -> str:
    if cell is None:
        return "-"
    if isinstance(cell, bool):
        return "yes" if cell else "NO"
    if isinstance(cell, float):
        if abs(cell) >= 1000:
            return f"{cell:,.0f}"
        if abs(cell) >= 100:
            return f"{cell:.1f}"
        return f"{cell:.3g}" if abs(cell) < 1 else f"{cell:.2f}"
    if isinstance(cell, int):
        return f"{cell:,}"
    return cell


def reproduce_command() -> str:
    """The command line that runs this benchmark again, from the repository root."""
    return (
        "cd "
        + shlex.quote(str(Path.cwd()))
        + " && .venv/bin/python -m bench "
        + shlex.join(sys.argv[1:])
    )


def machine() -> dict[str, Cell]:
    mem_kb = 0
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            mem_kb = int(fh.readline().split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def emit(report: Report, out_dir: Path = RESULTS) -> Path:
    """Print the report and write it as JSON; returns the JSON path."""
    command = reproduce_command()
    report.context.setdefault("when", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    report.context.update(machine())
    print()
    flags = ", ".join(f for f, on in (("quick", report.quick), ("profiled", report.profiled)) if on)
    print(f"=== {report.name}{f' ({flags})' if flags else ''} ===")
    for t in report.tables:
        print()
        print(t.render())
    if report.targets:
        print()
        print("targets")
        for tg in report.targets:
            verdict = "met" if tg["met"] else "MISSED"
            print(
                f"  {tg['what']}: {_fmt(tg['value'])} {tg['unit']} "
                f"(target {tg['op']} {_fmt(tg['target'])} {tg['unit']}): {verdict}"
            )
    for note in report.notes:
        print(f"note: {note}")
    for failure in report.failures:
        print(f"FAILED: {failure}")
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{report.file_name}.json"
    payload = {
        "name": report.name,
        "quick": report.quick,
        "profiled": report.profiled,
        "command": command,
        "context": report.context,
        "targets": report.targets,
        "tables": [asdict(t) for t in report.tables],
        "notes": report.notes,
        "failures": report.failures,
    }
    path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"results: {path}")
    print(f"reproduce: {command}")
    return path
