"""Holds of all the signals of one message at once: coverage and Σ value·length per window.

Sample ``i`` of a signal holds over ``[t_i, min(t_next, t_i + hold))``. Measured on the rows of
the message, that is: over the gap from row ``r`` to the next row, ``[ts_r, ts_r+1)``, a signal
holds the value of its last sample at or before ``r`` (a row without a sample of the signal does
not end the hold), up to that sample's time + hold. Every signal shares the gaps, so:

* the part of each gap inside its row's window is summed per window of rows with one
  ``reduceat`` over the (signals by rows) matrix, as the sample aggregates are;
* the part past the window's end (a gap that crosses an edge: one per window, or a long gap) and
  the hold of the lead-in sample before the first row are few segments, spread over windows
  with :func:`logger.rollup.spread.spread`;
* the last sample's hold ends at ``t + hold`` unless a later sample cuts it short; while ``t +
  hold`` is past the horizon that is not known, and the hold is left out and carried (pending).

When every row has a sample of every signal (no multiplexing, no null or NaN), the last sample
of a signal at each row is the row itself and the gaps' coverage is one vector for all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from logger.rollup.spread import Spread, spread

__all__ = ["Holds", "Lead", "holds"]

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]
Mask = npt.NDArray[np.bool_]
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Lead:
    """Per signal: the sample whose hold is open (``has``), its time and value."""

    ts: I64
    value: F64
    has: Mask


@dataclass(frozen=True)
class Holds:
    """Coverage and Σ value·length per signal and window of rows (signals by windows), the rest
    (``extra``, keyed by signal), and the holds left open."""

    coverage: I64
    weighted: F64
    extra: Spread
    pending: Lead


def plus_hold(ts: I64, hold_ns: int) -> I64:
    """``ts + hold_ns``, saturating at the largest int64."""
    out: I64 = np.minimum(ts, INT64_MAX - hold_ns) + hold_ns
    return out


def holds(
    ts: I64,
    heads: I64,
    edge: I64,
    values: F64,
    valid: Mask,
    all_valid: bool,
    lead: Lead,
    hold_ns: int,
    horizon: int,
    window_ns: int,
) -> Holds:
    """The holds of ``values`` (signals by rows in time order, ``valid`` marking the samples) after
    the ``lead`` samples; ``heads`` are the windows' first rows, ``edge`` each row's window end."""
    k, n = values.shape
    if n == 0:
        pending = lead.has & (plus_hold(lead.ts, hold_ns) > horizon)
        done = lead.has & ~pending
        extra = spread(
            lead.ts[done], plus_hold(lead.ts, hold_ns)[done], window_ns, lead.value[done],
            np.flatnonzero(done).astype(np.int64),
        )  # fmt: skip
        empty = np.empty((k, 0), np.int64)
        return Holds(empty, empty.astype(np.float64), extra, Lead(lead.ts, lead.value, pending))
    signals = np.arange(k)
    rows = np.arange(n, dtype=np.int64)
    gap_end = plus_hold(ts, hold_ns)  # each gap ends at the next row, or a hold after its row
    np.minimum(ts[1:], gap_end[:-1], out=gap_end[:-1])
    if all_valid:
        last_row = np.full(k, n - 1, np.int64)
        held_v = values
        ends = gap_end  # one vector for every signal
        known: Mask | None = None
    else:
        pos = np.where(valid, rows, np.int64(-1))
        np.maximum.accumulate(pos, axis=1, out=pos)
        has = pos >= 0
        safe = np.maximum(pos, 0)
        held_v = np.where(has, np.take_along_axis(values, safe, axis=1), lead.value[:, None])
        held_t = np.where(has, ts[safe], lead.ts[:, None])
        ends = np.minimum(gap_end, plus_hold(held_t, hold_ns))
        known = has | lead.has[:, None]
        last_row = pos[:, -1]
    last = last_row >= 0
    at = np.maximum(last_row, 0)
    latest = Lead(
        np.where(last, ts[at], lead.ts),
        np.where(last, values[signals, at], lead.value),
        last | lead.has,
    )
    pending = latest.has & (plus_hold(latest.ts, hold_ns) > horizon)
    # the gaps a pending hold covers (from its sample's row on) are left out
    active = ~(pending[:, None] & (rows >= at[:, None]))
    if known is not None:
        active &= known
    inside = np.where(active, np.clip(np.minimum(ends, edge) - ts, 0, None), np.int64(0))
    coverage = np.add.reduceat(inside, heads, axis=1)
    product = np.zeros(inside.shape)  # value x length where something is covered (inf x 0: 0)
    np.multiply(held_v, inside, out=product, where=inside > 0)
    weighted = np.add.reduceat(product, heads, axis=1)

    cross = np.flatnonzero(gap_end > edge)  # gaps that go on past their window's end
    spill_end = np.where(active[:, cross], ends[..., cross], ts[cross])
    lead_end = plus_hold(lead.ts, hold_ns)
    np.minimum(lead_end, ts[0], out=lead_end)
    lead_on = lead.has & ~(pending & ~last)  # a lead-in still pending covers nothing yet
    keys = np.concatenate((signals, np.repeat(signals, cross.size)))
    order = np.argsort(keys, kind="stable")  # per signal: the lead-in first, then in time order
    extra = spread(
        np.concatenate((lead.ts, np.tile(edge[cross], k)))[order],
        np.concatenate((np.where(lead_on, lead_end, lead.ts), spill_end.ravel()))[order],
        window_ns,
        np.concatenate((lead.value, held_v[:, cross].ravel()))[order],
        keys[order].astype(np.int64),
    )
    return Holds(coverage, weighted, extra, Lead(latest.ts, latest.value, pending))
