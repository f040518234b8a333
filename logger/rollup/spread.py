"""Time segments spread over windows: per key and window, the covered length and Σ value·length.

A segment ``[start, end)`` (a held value, or a run of a condition) adds ``|segment ∩ window|`` to
every window it crosses. The segments are expanded into one piece per (segment, window) with
``np.repeat`` (a segment inside one window is one piece), and the pieces, in (key, time) order,
are summed per (key, window) with ``np.add.reduceat``: no Python loop over rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Spread", "group_starts", "spread"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]


def group_starts(keys: I64, *more: I64) -> I64:
    """The first index of every run of equal values in ``keys`` (and ``more``, taken together)."""
    if not keys.size:
        return np.empty(0, np.int64)
    change = keys[1:] != keys[:-1]
    for other in more:
        change |= other[1:] != other[:-1]
    out: I64 = np.concatenate((np.zeros(1, np.int64), np.flatnonzero(change) + 1))
    return out


@dataclass(frozen=True)
class Spread:
    """Per (key, window), in that order, each with ``length > 0``: the covered length and
    Σ value·length (empty without values). ``windows`` are window starts in ns."""

    keys: I64
    windows: I64
    length: I64
    weighted: F64


def spread(
    start: I64, end: I64, window_ns: int, values: F64 | None = None, keys: I64 | None = None
) -> Spread:
    """Spread the segments ``[start, end)`` over the windows of ``window_ns``.

    The segments of one key must be disjoint and in time order, and the keys grouped in
    ascending order (as holds and runs are); empty segments (``end <= start``) add nothing.
    ``values`` (one per segment) weights the lengths; ``keys`` default to 0.
    """
    keep = end > start
    if not keep.all():
        start, end = start[keep], end[keep]
        values = None if values is None else values[keep]
        keys = None if keys is None else keys[keep]
    if keys is None:
        keys = np.zeros(start.size, np.int64)
    w = np.int64(window_ns)
    first = start // w
    pieces = (end - 1) // w - first + 1
    if not pieces.size or int(pieces.max()) == 1:  # the usual case: no segment crosses an edge
        seg = np.arange(start.size)
        win = first
    else:
        seg = np.repeat(np.arange(start.size), pieces)
        offset = np.arange(seg.size, dtype=np.int64) - np.repeat(np.cumsum(pieces) - pieces, pieces)
        win = first[seg] + offset
    win *= w
    length = np.minimum(end[seg], win + w) - np.maximum(start[seg], win)
    key = keys[seg]
    heads = group_starts(win, key)
    if not heads.size:
        e = np.empty(0, np.int64)
        return Spread(e, e, e, np.empty(0, np.float64))
    weighted: F64 = (
        np.empty(0, np.float64) if values is None else np.add.reduceat(values[seg] * length, heads)
    )
    return Spread(key[heads], win[heads], np.add.reduceat(length, heads), weighted)
