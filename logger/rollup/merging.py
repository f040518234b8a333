"""Merging partials: of consecutive spans (:func:`merge`) and into coarser windows (:func:`coarsen`).

The tables are concatenated in the order given (time order), the rows sorted stably by window and
signal (so the parts of one group stay in time order), and each group reduced with numpy
``reduceat``: sums for ``count``, ``coverage_ns``, ``mean·count`` and ``twa·coverage_ns``;
``fmin``/``fmax`` (nulls as NaN) for the extremes; the first and last part with samples for
``first``/``last``; the earliest ``ts_min``/``ts_max`` among the parts whose extreme is the
group's. Condition partials merge by summing ``condition_ns``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from logger.rollup.aggregates import Aggregates, signal_ranks
from logger.rollup.schema import condition_schema, empty_conditions, empty_partials, window_of
from logger.rollup.windows import window_starts

__all__ = ["coarsen", "coarsen_conditions", "merge", "merge_conditions"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
INT64_MAX = (1 << 63) - 1


def merge(tables: Sequence[pa.Table]) -> pa.Table:
    """Merge the partials of consecutive spans, given in time order, into one row per (window,
    signal): the partials the spans would give computed at once. All must share a window size."""
    window_ns = _common_window(tables)
    return _reduce(_concat(tables, window_ns), "signal", window_ns, None)


def coarsen(partials: pa.Table, window_ns: int) -> pa.Table:
    """The partials of windows of ``window_ns`` (a multiple of the table's window size) made by
    re-keying each row to its coarser window and merging (``1s`` → ``1m`` → ``1h``)."""
    _check_multiple(window_of(partials), window_ns)
    return _reduce(partials, "signal", window_ns, window_ns)


def merge_conditions(tables: Sequence[pa.Table]) -> pa.Table:
    """Merge condition partials of consecutive spans: ``condition_ns`` summed per (window,
    condition)."""
    window_ns = _common_window(tables)
    return _reduce(_concat(tables, window_ns, conditions=True), "condition", window_ns, None)


def coarsen_conditions(partials: pa.Table, window_ns: int) -> pa.Table:
    """Condition partials re-keyed to windows of ``window_ns`` (a multiple of theirs) and merged."""
    _check_multiple(window_of(partials), window_ns)
    return _reduce(partials, "condition", window_ns, window_ns)


def _common_window(tables: Sequence[pa.Table]) -> int:
    sizes = {window_of(t) for t in tables}
    if len(sizes) != 1:
        raise ValueError(f"partials of different window sizes cannot merge: {sorted(sizes)}")
    return sizes.pop()


def _check_multiple(source_ns: int, window_ns: int) -> None:
    if window_ns <= 0 or window_ns % source_ns:
        raise ValueError(f"window {window_ns} ns is not a multiple of the partials' {source_ns} ns")


def _concat(tables: Sequence[pa.Table], window_ns: int, conditions: bool = False) -> pa.Table:
    empty = empty_conditions(window_ns) if conditions else empty_partials(window_ns)
    parts = [t.select(empty.column_names).cast(empty.schema) for t in tables if t.num_rows]
    return pa.concat_tables(parts) if parts else empty


def _keys(
    table: pa.Table, key: str, window_ns: int, rekey: int | None
) -> tuple[I64, I64, list[str]]:
    """Window (re-keyed when ``rekey``), the key column's dictionary codes, and its names."""
    windows: I64 = table.column("window").to_numpy()
    if rekey is not None:
        windows = window_starts(windows, rekey)
    encoded = pc.dictionary_encode(table.column(key)).combine_chunks()
    codes: I64 = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    names: list[str] = encoded.dictionary.to_pylist()
    return windows, codes, names


def _reduce(table: pa.Table, key: str, window_ns: int, rekey: int | None) -> pa.Table:
    if not table.num_rows:
        return empty_conditions(window_ns) if key == "condition" else empty_partials(window_ns)
    windows, codes, names = _keys(table, key, window_ns, rekey)
    source: I64 | None = table.column("window").to_numpy() if rekey is not None else None
    ranks = signal_ranks(names)[codes]
    sort_keys = (ranks, windows) if source is None else (source, ranks, windows)
    order = np.lexsort(sort_keys)  # stable: the parts of a group keep their given order
    windows, codes = windows[order], codes[order]
    group = (windows[1:] != windows[:-1]) | (codes[1:] != codes[:-1])
    heads = np.concatenate(([0], np.flatnonzero(group) + 1)).astype(np.int64)
    if key == "condition":
        total = np.add.reduceat(table.column("condition_ns").to_numpy()[order], heads)
        columns = [
            pa.array(windows[heads], pa.int64()),
            pa.array(names, pa.string()).take(pa.array(codes[heads])),
            pa.array(total, pa.int64()),
        ]
        return pa.Table.from_arrays(columns, schema=condition_schema(window_ns))
    return _aggregate(table, order, heads, windows, codes).table(names, window_ns)


def _floats(table: pa.Table, name: str, order: I64) -> F64:
    values: F64 = table.column(name).cast(pa.float64()).to_numpy()
    return values[order]


def _ints(table: pa.Table, name: str, order: I64) -> I64:
    values: I64 = table.column(name).fill_null(0).to_numpy()
    return values[order]


def _aggregate(table: pa.Table, order: I64, heads: I64, windows: I64, codes: I64) -> Aggregates:
    count, coverage = _ints(table, "count", order), _ints(table, "coverage_ns", order)
    size = np.diff(np.append(heads, order.size))
    n_count = np.add.reduceat(count, heads)
    n_coverage = np.add.reduceat(coverage, heads)
    low = np.fmin.reduceat(_floats(table, "min", order), heads)
    high = np.fmax.reduceat(_floats(table, "max", order), heads)
    rows = np.arange(order.size, dtype=np.int64)
    has = count > 0
    first_row = np.minimum.reduceat(np.where(has, rows, INT64_MAX), heads)
    last_row = np.maximum.reduceat(np.where(has, rows, -1), heads)
    some = n_count > 0
    first = np.where(some, _floats(table, "first", order)[np.where(some, first_row, 0)], np.nan)
    last = np.where(some, _floats(table, "last", order)[np.maximum(last_row, 0)], np.nan)
    mean = np.where(has, _floats(table, "mean", order), 0.0) * count
    twa = np.where(coverage > 0, _floats(table, "twa", order), 0.0) * coverage
    with np.errstate(invalid="ignore", divide="ignore"):
        n_mean = np.where(some, np.add.reduceat(mean, heads) / np.maximum(n_count, 1), np.nan)
        n_twa = np.where(
            n_coverage > 0, np.add.reduceat(twa, heads) / np.maximum(n_coverage, 1), np.nan
        )
    return Aggregates(
        window=windows[heads],
        signal=codes[heads],
        count=n_count,
        min=low,
        max=high,
        first=first,
        last=last,
        mean=n_mean,
        twa=n_twa,
        ts_min=_extreme_time(table, "min", "ts_min", order, heads, size, low, has),
        ts_max=_extreme_time(table, "max", "ts_max", order, heads, size, high, has),
        coverage_ns=n_coverage,
    )


def _extreme_time(
    table: pa.Table,
    value: str,
    time: str,
    order: I64,
    heads: I64,
    size: I64,
    extreme: F64,
    has: npt.NDArray[np.bool_],
) -> I64:
    """The earliest time of the group's extreme among the parts that reach it."""
    reach = has & (_floats(table, value, order) == np.repeat(extreme, size))
    times = np.where(reach, _ints(table, time, order), INT64_MAX)
    out: I64 = np.minimum.reduceat(times, heads)
    return np.where(out == INT64_MAX, 0, out)
