"""Sampling the service with py-spy while a benchmark runs, and summarising where time goes.

py-spy is not a dependency of the project: install it into the venv
(``.venv/bin/pip install py-spy``) to use ``--profile``.
"""

from __future__ import annotations

import logging
import re
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bench.common import PY_SPY, REPO

log = logging.getLogger(__name__)
_FRAME_RE = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_SITE = re.compile(r".*/site-packages/")
_PYLIB = re.compile(r".*/lib/python3\.\d+/")
#: Files that count as "our code" in the per-thread summary (repository-relative prefixes).
OURS = ("logger/", "canp/", "hw/", "spi/")


class Profiler:
    """``py-spy record`` attached to a pid, writing raw collapsed stacks to ``out``."""

    def __init__(self, pid: int, out: Path, *, rate: int = 200, gil: bool = False) -> None:
        if not PY_SPY.exists():
            raise RuntimeError(f"{PY_SPY} not found: `.venv/bin/pip install py-spy` to profile")
        self.out = out
        cmd = [
            str(PY_SPY),
            "record",
            "-p",
            str(pid),
            "-o",
            str(out),
            "-f",
            "raw",
            "-r",
            str(rate),
            "--threads",
            "--full-filenames",
            "--nonblocking",
        ]
        if gil:
            cmd.append("--gil")
        self._log = out.with_suffix(".log").open("wb")
        self._proc = subprocess.Popen(
            cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log
        )

    def stop(self) -> Path:
        self._proc.send_signal(signal.SIGINT)
        try:
            self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()
        return self.out


def short_file(path: str) -> str:
    """Repository-relative for our files, package-relative for libraries."""
    try:
        return str(Path(path).relative_to(REPO))
    except ValueError:
        pass
    return _PYLIB.sub("", _SITE.sub("", path))


def frame_name(frame: str) -> tuple[str, str]:
    """``("function", "file")`` of one collapsed-stack frame."""
    m = _FRAME_RE.match(frame)
    if m is None:
        return frame, ""
    return m.group("func"), short_file(m.group("file"))


@dataclass
class Summary:
    """Sample counts: total, per thread, by leaf function (self) and by function (inclusive)."""

    total: int = 0
    threads: Counter[str] = field(default_factory=Counter)
    self_: Counter[str] = field(default_factory=Counter)
    # per leaf function: the (up to) three frames that called it
    callers: dict[str, Counter[str]] = field(default_factory=dict)
    inclusive: Counter[str] = field(default_factory=Counter)
    # per thread: inclusive counts of our own functions (OURS: logger/, canp/, ...)
    ours_by_thread: dict[str, Counter[str]] = field(default_factory=dict)


def summarise(raw: Path) -> Summary:
    s = Summary()
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        thread = "?"
        if frames and frames[0].startswith(("thread ", "process ")):
            while frames and frames[0].startswith(("thread ", "process ")):
                if frames[0].startswith("thread "):
                    thread = frames[0]
                frames = frames[1:]
        names = [f"{fn} ({fl})" for fn, fl in map(frame_name, frames)]
        s.total += count
        s.threads[thread] += count
        if names:
            s.self_[names[-1]] += count
            chain = " < ".join(n.split(" (")[0] for n in reversed(names[-4:-1]))
            s.callers.setdefault(names[-1], Counter())[chain or "-"] += count
        mine = s.ours_by_thread.setdefault(thread, Counter())
        for name in set(names):
            s.inclusive[name] += count
            if any(f"({prefix}" in name for prefix in OURS):
                mine[name] += count
    return s


def render(s: Summary, top: int = 15) -> str:
    """A text summary: per thread, top self functions, top inclusive functions of ours."""
    if s.total == 0:
        return "no samples"

    def pct(n: int) -> str:
        return f"{100 * n / s.total:5.1f}%"

    out = [f"{s.total} samples (active threads only)", "threads:"]
    out += [f"  {pct(n)}  {t}" for t, n in s.threads.most_common()]
    out.append("self time (leaf function):")
    for name, n in s.self_.most_common(top):
        out.append(f"  {pct(n)}  {name}")
        if n * 20 >= s.total:  # callers of the leaves that take 5 % or more
            for chain, k in s.callers.get(name, Counter()).most_common(2):
                out.append(f"           {pct(k)}  < {chain}")
    out.append(f"inclusive time, our code ({', '.join(OURS)}), per thread:")
    for thread, counts in sorted(s.ours_by_thread.items(), key=lambda kv: -s.threads[kv[0]]):
        if not counts:
            continue
        out.append(f"  {thread}:")
        out += [f"    {pct(n)}  {name}" for name, n in counts.most_common(top)]
    return "\n".join(out)
