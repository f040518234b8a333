"""Window sizes and window starts: epoch-aligned UTC windows ``[W, W + w)``, ``W = floor(ts / w) * w``.

A size is written ``<n>s``, ``<n>m``, ``<n>h`` or ``<n>d`` (``"1s"``, ``"1m"``, ``"1h"``) and must
divide a day, so that every window lies inside one UTC day and a coarser size that is a multiple
of a finer one is made of whole finer windows (``1m`` of 60 ``1s``, ``1h`` of 60 ``1m``).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import numpy.typing as npt

from logger.core.errors import ConfigError

__all__ = ["DAY_NS", "final_before", "is_final", "parse_window", "window_name", "window_starts"]

SECOND_NS = 1_000_000_000
DAY_NS = 86_400 * SECOND_NS
_UNITS = {"s": SECOND_NS, "m": 60 * SECOND_NS, "h": 3_600 * SECOND_NS, "d": DAY_NS}
_SIZE_RE = re.compile(r"^([1-9][0-9]*)([smhd])$")


def parse_window(text: str, key: str = "window", file: Path | str | None = None) -> int:
    """The size in ns of the window ``text`` (``"1s"``, ``"1m"``, ``"1h"``, any ``<n>s|m|h|d``
    that divides a day); :class:`ConfigError` naming ``key``, ``file`` and the value otherwise."""
    m = _SIZE_RE.match(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ConfigError(
            key, f"expected a window like '1s', '1m' or '1h' (<n>s|m|h|d), got {text!r}", file
        )
    size = int(m.group(1)) * _UNITS[m.group(2)]
    if DAY_NS % size:
        raise ConfigError(key, f"window {text!r} does not divide a day (86400 s)", file)
    return size


def window_name(window_ns: int) -> str:
    """The shortest name of a window size: ``1_000_000_000`` → ``"1s"``, ``3_600 * 10**9`` → ``"1h"``."""
    for unit, size in sorted(_UNITS.items(), key=lambda item: -item[1]):
        if window_ns % size == 0:
            return f"{window_ns // size}{unit}"
    return f"{window_ns}ns"


def window_starts(ts: npt.NDArray[np.int64], window_ns: int) -> npt.NDArray[np.int64]:
    """The start of the window holding each time (floor division: right for times before 1970)."""
    out: npt.NDArray[np.int64] = (ts // np.int64(window_ns)) * np.int64(window_ns)
    return out


def final_before(horizon_ns: int, window_ns: int, hold_ns: int) -> int:
    """The start of the first window that may still change once data up to ``horizon_ns`` is
    seen: every window ``W`` below it is final.

    A window ``[W, W + w)`` is final once data at or after ``W + w + hold_ns`` has been seen (in
    time order): a later sample only changes windows from its own time on, and a hold it cuts
    short began at most ``hold_ns`` before it.
    """
    return ((horizon_ns - hold_ns) // window_ns) * window_ns


def is_final(window: int, window_ns: int, hold_ns: int, horizon_ns: int) -> bool:
    """Whether the window starting at ``window`` is final once data up to ``horizon_ns`` is seen."""
    return window + window_ns + hold_ns <= horizon_ns
