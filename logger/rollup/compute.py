"""Partial aggregates of one message table: per window and signal, from samples and holds.

The table is sorted by ``ts`` once (stably, only when it is not sorted) and its signals become one
(signals by rows) float64 matrix, NaN where a row has no sample; all signals are then reduced
together (:mod:`logger.rollup.samples`, :mod:`logger.rollup.holds`) and the two results joined
per (signal, window). Long tables are computed in spans of about :data:`SPAN_VALUES` matrix
entries, carried and merged like any spans, so memory stays bounded. The semantics are in the
package docstring (:mod:`logger.rollup`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from logger.rollup.aggregates import Aggregates
from logger.rollup.holds import Holds, Lead, holds
from logger.rollup.merging import merge
from logger.rollup.samples import Samples, samples
from logger.rollup.schema import is_numeric, ns_time
from logger.rollup.spread import group_starts
from logger.rollup.state import INT64_MIN, Held, RollupState, check_horizon, next_horizon

__all__ = ["SPAN_VALUES", "partials"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
#: Matrix entries (signals by rows) computed at a time: about 8 MB per working array.
SPAN_VALUES = 1 << 20


def partials(
    table: pa.Table,
    signals: Mapping[str, str],
    window_ns: int,
    hold_ns: int,
    lead_in: RollupState | None = None,
    horizon_ns: int | None = None,
) -> tuple[pa.Table, RollupState]:
    """Partial aggregates of ``table`` (one message) per window of ``window_ns`` and signal.

    ``signals`` maps a column of ``table`` to its signal name (``Message.Signal``; see
    :func:`logger.rollup.schema.signal_columns`); a column the table lacks, or one that is not
    a number, has no samples. ``lead_in`` is the state returned for the previous span of the same
    message (None at the very start). ``horizon_ns`` says that every later row has ``ts >=
    horizon_ns`` (default: the table's largest ``ts``); a hold that ends by then is accounted now.

    Returns the partials (:func:`logger.rollup.schema.partials_schema`, rows sorted by window
    and signal) and the state to pass as ``lead_in`` with the next span. Raises
    :class:`logger.rollup.state.RollupError` when a row is before the lead-in's horizon.
    """
    if window_ns <= 0 or hold_ns <= 0:
        raise ValueError(f"window_ns and hold_ns must be positive, got {window_ns}, {hold_ns}")
    names = list(signals.values())
    if len(set(names)) != len(names):
        raise ValueError(f"two columns map to one signal name: {sorted(signals.items())}")
    state = RollupState(INT64_MIN) if lead_in is None else lead_in
    table, ts, order = _sorted(table)
    check_horizon(ts, state.horizon_ns, "rollup")
    horizon = next_horizon(ts, state.horizon_ns, horizon_ns)
    values = np.empty((len(names), ts.size), np.float64)
    for row, column in enumerate(signals):
        values[row] = _values(table, column, order)
    lead = _lead(state, names)
    step = max(1, SPAN_VALUES // max(1, len(names)))
    parts: list[pa.Table] = []
    for lo in range(0, max(ts.size, 1), step):
        hi = min(lo + step, ts.size)
        until = horizon if hi == ts.size else int(ts[hi - 1])
        aggregates, lead = _span(ts[lo:hi], values[:, lo:hi], lead, window_ns, hold_ns, until)
        parts.append(aggregates.table(names, window_ns))
    held = {k: v for k, v in state.held.items() if k not in signals.values()}
    for i in np.flatnonzero(lead.has).tolist():
        held[names[i]] = Held(int(lead.ts[i]), float(lead.value[i]))
    out = parts[0] if len(parts) == 1 else merge(parts)
    return out, RollupState(horizon, MappingProxyType(held))


def _sorted(table: pa.Table) -> tuple[pa.Table, I64, I64 | None]:
    """Rows with a time, ``ts`` as int64 ns, and the stable order by time (None: already sorted)."""
    table = ns_time(table)
    if table.column("ts").null_count:
        table = table.filter(pc.is_valid(table.column("ts")))
    ts: I64 = table.column("ts").to_numpy()
    if ts.size < 2 or bool(np.all(ts[1:] >= ts[:-1])):
        return table, ts, None
    order: I64 = np.argsort(ts, kind="stable")
    return table, ts[order], order


def _values(table: pa.Table, column: str, order: I64 | None) -> F64:
    """The column as float64 in time order, NaN where null; all NaN when it is missing or not a
    number (such a column has no samples)."""
    if column not in table.column_names or not is_numeric(table.schema.field(column).type):
        return np.full(table.num_rows, np.nan)
    values: F64 = table.column(column).cast(pa.float64()).to_numpy()
    return values if order is None else values[order]


def _lead(state: RollupState, names: list[str]) -> Lead:
    held = [state.held.get(name) for name in names]
    return Lead(
        np.array([0 if h is None else h.ts for h in held], np.int64),
        np.array([0.0 if h is None else h.value for h in held], np.float64),
        np.array([h is not None for h in held], np.bool_),
    )


def _span(
    ts: I64, values: F64, lead: Lead, window_ns: int, hold_ns: int, horizon: int
) -> tuple[Aggregates, Lead]:
    """The aggregates of one span of rows (signals by rows in ``values``) and its open holds."""
    w = np.int64(window_ns)
    windows = ts // w
    heads = group_starts(windows)
    valid = ~np.isnan(values)
    all_valid = bool(valid.all())
    edge = (windows + 1) * w
    held = holds(ts, heads, edge, values, valid, all_valid, lead, hold_ns, horizon, window_ns)
    stats = samples(ts, values, valid, heads, all_valid) if ts.size else None
    return _join(stats, windows[heads], held, window_ns), held.pending


def _join(stats: Samples | None, starts: I64, held: Holds, window_ns: int) -> Aggregates:
    """Samples and holds per (signal, window) on the union of their windows (``starts``: the
    windows of rows, as window numbers), keeping the pairs with a sample or coverage."""
    k = held.coverage.shape[0]
    g = starts.size
    extra = held.extra
    extra_windows = extra.windows // np.int64(window_ns)
    span = np.concatenate((starts, extra_windows))
    base = int(span.min()) if span.size else 0
    width = int(span.max()) - base + 1 if span.size else 1
    # (signal, window) as one sortable number: signal-major, like the arrays
    rows_key = np.repeat(np.arange(k, dtype=np.int64), g) * width + np.tile(starts - base, k)
    extra_key = extra.keys * width + (extra_windows - base)
    keys, at_rows, at_extra = _union(rows_key, extra_key)
    m = keys.size

    def ints(source: I64 | None) -> I64:
        out = np.zeros(m, np.int64)
        if source is not None:
            out[at_rows] = source.ravel()
        return out

    def floats(source: F64 | None) -> F64:
        out = np.full(m, np.nan)
        if source is not None:
            out[at_rows] = source.ravel()
        return out

    count = ints(None if stats is None else stats.count)
    coverage = ints(held.coverage)
    coverage[at_extra] += extra.length
    weighted = np.zeros(m)
    weighted[at_rows] = held.weighted.ravel()
    weighted[at_extra] += extra.weighted
    total = floats(None if stats is None else stats.sum)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
        twa = weighted / coverage
    keep = (count > 0) | (coverage > 0)
    signal, window = np.divmod(keys, width)
    return Aggregates(
        window=(window[keep] + base) * np.int64(window_ns),
        signal=signal[keep],
        count=count[keep],
        min=floats(None if stats is None else stats.min)[keep],
        max=floats(None if stats is None else stats.max)[keep],
        first=floats(None if stats is None else stats.first)[keep],
        last=floats(None if stats is None else stats.last)[keep],
        mean=mean[keep],
        twa=twa[keep],
        ts_min=ints(None if stats is None else stats.ts_min)[keep],
        ts_max=ints(None if stats is None else stats.ts_max)[keep],
        coverage_ns=coverage[keep],
    )


def _union(a: I64, b: I64) -> tuple[I64, I64, I64]:
    """The distinct values of two sorted arrays, and where each element of each went (two
    sorted runs: the stable sort merges them in linear time)."""
    both = np.concatenate((a, b))
    order = np.argsort(both, kind="stable")
    ordered = both[order]
    new = np.ones(both.size, np.bool_)
    np.not_equal(ordered[1:], ordered[:-1], out=new[1:])
    slot = np.empty(both.size, np.int64)
    slot[order] = np.cumsum(new) - 1
    return ordered[new], slot[: a.size], slot[a.size :]
