"""M4 decimation of signal columns for plots (``GET /api/series``).

M4 splits a time window into equal-width buckets and keeps, per bucket, its first, min, max and
last samples, each with its own timestamp. A line drawn through them has the same pixels as one
drawn through every sample at (one pixel column per bucket), so no spike disappears, and the answer
is at most ``points`` samples whatever the window holds.

Everything here is vectorised numpy: the window and the bucket edges by binary search on the
(sorted) timestamps, the extremes by ``reduceat``, and their positions by one equality pass.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from logger.core.errors import Code, CommandError
from logger.signals.query import RESERVED_COLUMNS, suggest

__all__ = ["MAX_POINTS", "m4", "series"]

MAX_POINTS = 100_000
"""The most points one signal's answer may ask for."""

_INT64_MAX = int(np.iinfo(np.int64).max)
_INT64_MIN = int(np.iinfo(np.int64).min)

Times = npt.NDArray[np.int64]
Values = npt.NDArray[np.float64]
_Index = npt.NDArray[np.intp]


def m4(ts: Times, values: Values, start_ns: int, end_ns: int, points: int) -> tuple[Times, Values]:
    """At most ``points`` samples of ``(ts, values)`` in ``[start_ns, end_ns]`` (both included).

    The window is split into ``max(1, points // 4)`` buckets of equal width (sample ``t`` falls in
    bucket ``(t - start_ns) * buckets // (end_ns - start_ns + 1)``, in exact integer arithmetic).
    Each bucket with samples keeps its first, min, max and last samples; a tie for min or max goes
    to the earliest sample. The kept samples come back once each, in time order, with their own
    timestamps and values. With ``points`` below 4 the single bucket keeps, of those four, the min,
    then the max, then the last, as many as ``points`` allows.

    ``ts`` must be in time order (non-decreasing), as the store returns it; this is checked with
    one vectorised comparison (``ValueError`` otherwise). NaN values are skipped. An empty input,
    an empty window (``end_ns < start_ns``) and empty buckets are fine.
    """
    ts_arr, val_arr = _as_arrays(ts, values)
    if ts_arr.size > 1 and bool(np.any(ts_arr[1:] < ts_arr[:-1])):
        raise ValueError("m4: ts is not in time order")
    return _m4_sorted(ts_arr, val_arr, start_ns, end_ns, points)


def _m4_sorted(
    ts: Times, values: Values, start_ns: int, end_ns: int, points: int
) -> tuple[Times, Values]:
    """:func:`m4` on arrays already known to be int64/float64 and in time order (not checked)."""
    if points < 1:
        raise ValueError(f"m4: points must be at least 1, not {points}")
    _check_window(start_ns, end_ns)
    if end_ns < start_ns:
        return _empty()
    lo = int(np.searchsorted(ts, start_ns, side="left"))
    hi = int(np.searchsorted(ts, end_ns, side="right"))
    t, v = ts[lo:hi], values[lo:hi]
    if t.size == 0:
        return _empty()
    first, last, imin, imax = _extremes(t, v, start_ns, end_ns, max(1, points // 4))
    if first.size == 0:
        return _empty()
    if points < 4:  # one bucket: the extremes first, then the last sample
        cand = np.array([imin[0], imax[0], last[0], first[0]], dtype=np.intp)
        _, where = np.unique(cand, return_index=True)
        kept = np.sort(cand[np.sort(where)][:points])
    else:
        rows = np.stack((first, imin, imax, last), axis=1)
        rows.sort(axis=1)
        flat = rows.ravel()  # buckets are disjoint and in order: flat is non-decreasing
        fresh = np.empty(flat.size, dtype=np.bool_)
        fresh[0] = True
        np.not_equal(flat[1:], flat[:-1], out=fresh[1:])
        kept = flat[fresh]
    return t[kept], v[kept]


def _extremes(
    t: Times, v: Values, start_ns: int, end_ns: int, buckets: int
) -> tuple[_Index, _Index, _Index, _Index]:
    """Per bucket with a non-NaN sample: the positions of its first, last, (earliest) min and
    max non-NaN samples. ``t`` is the window's samples, in time order."""
    span = end_ns - start_ns + 1
    # More buckets than nanoseconds splits the samples no further: each nanosecond is a bucket.
    buckets = min(buckets, span)
    q, r = divmod(span, buckets)
    k = np.arange(1, buckets, dtype=np.int64)
    # Bucket k starts at offset ceil(k * span / buckets), computed without overflowing int64.
    edges = start_ns + (k * q + (k * r + (buckets - 1)) // buckets)
    bounds = np.searchsorted(t, edges, side="left")
    starts = np.concatenate(([0], bounds)).astype(np.intp, copy=False)
    ends = np.concatenate((bounds, [t.size])).astype(np.intp, copy=False)
    full = starts < ends
    seg, stop = starts[full], ends[full]
    nan = np.isnan(v)
    if nan.any():  # NaN stay in place (no copy of the window): skip them at the bucket's ends
        first, last = _valid_ends(nan, seg, stop)
        some = first <= last
        seg, first, last = seg[some], first[some], last[some]
        if seg.size == 0:
            return seg, seg, seg, seg
    else:
        first, last = seg, stop - 1
    # fmin/fmax ignore NaN; a segment runs on to the next one's start, over all-NaN buckets only.
    imin = _first_equal(v, np.fmin.reduceat(v, seg), seg)
    imax = _first_equal(v, np.fmax.reduceat(v, seg), seg)
    return first, last, imin, imax


def _valid_ends(nan: npt.NDArray[np.bool_], seg: _Index, stop: _Index) -> tuple[_Index, _Index]:
    """Per segment ``[seg[i], stop[i])``: its first and last non-NaN positions (first > last
    when it has none), found from the runs of NaN, not by copying the non-NaN samples."""
    at = np.flatnonzero(nan)
    breaks = np.flatnonzero(np.diff(at) != 1)
    run_first = at[np.concatenate(([0], breaks + 1))]
    run_last = at[np.concatenate((breaks, [at.size - 1]))]
    first, last = seg.copy(), stop - 1
    hit = nan[first]
    first[hit] = run_last[np.searchsorted(run_first, first[hit], side="right") - 1] + 1
    hit = nan[last]
    last[hit] = run_first[np.searchsorted(run_first, last[hit], side="right") - 1] - 1
    return first, last


def _first_equal(v: Values, target: Values, seg: _Index) -> _Index:
    """Per segment ``[seg[i], seg[i + 1])`` (the last one to the end): where ``v`` first equals
    ``target[i]``, which it does in the segment (it is the segment's own min or max)."""
    sizes = np.diff(seg, append=v.size)
    hits = np.flatnonzero(v[seg[0] :] == np.repeat(target, sizes)) + seg[0]
    found: _Index = hits[np.searchsorted(hits, seg, side="left")]
    return found


def series(
    table: pa.Table, signals: Sequence[str], start_ns: int, end_ns: int, points: int
) -> dict[str, tuple[Times, Values]]:
    """:func:`m4` of each of ``signals``, columns of ``table`` whose ``ts`` column is int64 ns.

    Null values are skipped, as NaN are; each name appears once in the answer. Raises
    :class:`CommandError` for ``points`` outside 1..``MAX_POINTS`` or a name that is not a signal
    column of ``table`` (code 5), and for a window that ends before it starts or does not fit in
    int64 nanoseconds (code 4).
    """
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= MAX_POINTS:
        raise CommandError(f"points={points!r}: must be a whole number from 1 to {MAX_POINTS:,}")
    try:
        _check_window(start_ns, end_ns)
    except ValueError as exc:
        raise CommandError(str(exc), Code.BAD_KEY_RANGE) from exc
    if end_ns < start_ns:
        raise CommandError(
            f"the window ends ({end_ns}) before it starts ({start_ns})", Code.BAD_KEY_RANGE
        )
    names = list(dict.fromkeys(signals))
    _check_columns(table, names)

    ts_col = table.column("ts")
    if ts_col.null_count:
        table = table.filter(pc.is_valid(ts_col))
    ts_all = _int64_ns(table.column("ts"))
    if ts_all.size > 1 and bool(np.any(ts_all[1:] < ts_all[:-1])):
        raise ValueError("series: the table's ts column is not in time order")
    # Only the window's rows are converted.
    lo = int(np.searchsorted(ts_all, start_ns, side="left"))
    hi = int(np.searchsorted(ts_all, end_ns, side="right"))
    ts = ts_all[lo:hi]
    window = table.slice(lo, hi - lo)
    return {
        name: _m4_sorted(ts, _float_values(window.column(name)), start_ns, end_ns, points)
        for name in names
    }


def _check_columns(table: pa.Table, names: Sequence[str]) -> None:
    """:class:`CommandError` naming each name that is not a numeric signal column of ``table``."""
    if "ts" not in table.column_names:
        raise ValueError("series: the table has no ts column")
    available = [c for c in table.column_names if c not in RESERVED_COLUMNS]
    problems: list[str] = []
    for name in names:
        if name not in available:
            problems.append(f"unknown signal {name!r}{suggest(name, available)}")
            continue
        kind = table.schema.field(name).type
        if not (
            pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
        ):
            problems.append(f"signal {name!r} is not numeric ({kind})")
    if problems:
        raise CommandError("; ".join(problems))


def _int64_ns(column: pa.ChunkedArray) -> Times:
    """A ``ts`` column (int64 or timestamp) as int64 nanoseconds."""
    if pa.types.is_timestamp(column.type):
        column = column.cast(pa.timestamp("ns")).cast(pa.int64())
    return np.asarray(column.to_numpy(), dtype=np.int64)


def _float_values(column: pa.ChunkedArray) -> Values:
    """A numeric column as float64, nulls as NaN."""
    if column.type != pa.float64():
        column = column.cast(pa.float64(), safe=False)  # plots: int64 beyond 2**53 may round
    if column.null_count:
        column = pc.fill_null(column, np.nan)
    return np.asarray(column.to_numpy(), dtype=np.float64)


def _as_arrays(ts: Times, values: Values) -> tuple[Times, Values]:
    """``ts`` as int64 and ``values`` as float64, one-dimensional and of one length."""
    ts_arr = np.asarray(ts)
    if ts_arr.size and not np.issubdtype(ts_arr.dtype, np.integer):
        raise TypeError(f"m4: ts must hold integers (ns), not {ts_arr.dtype}")
    ts_arr = ts_arr.astype(np.int64, copy=False)
    val_arr = np.asarray(values, dtype=np.float64)
    if ts_arr.ndim != 1 or ts_arr.shape != val_arr.shape:
        raise ValueError(f"m4: ts {ts_arr.shape} and values {val_arr.shape} differ in shape")
    return ts_arr, val_arr


def _check_window(start_ns: int, end_ns: int) -> None:
    """``ValueError`` unless both ends and the window's width fit in int64 nanoseconds."""
    if not (_INT64_MIN <= start_ns <= _INT64_MAX and _INT64_MIN <= end_ns <= _INT64_MAX):
        raise ValueError(f"the window [{start_ns}, {end_ns}] does not fit in int64 nanoseconds")
    if end_ns - start_ns + 1 > _INT64_MAX:
        raise ValueError(f"the window [{start_ns}, {end_ns}] is wider than int64 nanoseconds")


def _empty() -> tuple[Times, Values]:
    return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
