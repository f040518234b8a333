"""Condition durations: the time per window during which a named ``where=`` condition held.

Built on the signal engine (:mod:`logger.signals`): the involved messages' rows are aligned by
sample-and-hold and the conditions evaluated exactly as ``where=`` does
(:class:`logger.signals.align.Signals`), and runs of matching rows are found as
``out=intervals`` finds them (:func:`logger.signals.align.runs`). A run lasts from its first to
its last matching row, which is the sum of the gaps between consecutive aligned rows that both
match; that sum is what makes the durations incremental:

* the next span is aligned with one lead-in row per message (the held value of each involved
  signal, placed just before the horizon), so its rows see the values held from before;
* the pair of aligned rows ending at the span's last row is left for the next span while a row
  of the same time may still come (that row would replace it, as equal times make one aligned
  row): the state keeps the last one or two rows and whether the condition held on them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from logger.core.command import Condition, parse_conditions
from logger.core.errors import CommandError, ConfigError
from logger.rollup.schema import condition_schema, ns_time
from logger.rollup.spread import spread
from logger.rollup.state import INT64_MIN, ConditionState, check_horizon, next_horizon
from logger.signals.align import MessageRows, Signals, prepare, runs, take_rows
from logger.signals.query import SignalRef, resolve

__all__ = ["ConditionSpec", "compile_condition", "condition_partials"]

I64 = npt.NDArray[np.int64]
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class ConditionSpec:
    """A named condition: its ``where`` conditions and the signal each one names."""

    name: str
    where: tuple[Condition, ...]
    refs: tuple[SignalRef, ...]

    def columns(self) -> dict[str, list[str]]:
        """The involved messages and, for each, the columns the condition reads."""
        out: dict[str, list[str]] = {}
        for ref in self.refs:
            cols = out.setdefault(ref.message, [])
            if ref.signal not in cols:
                cols.append(ref.signal)
        return out


def compile_condition(
    name: str,
    where: str,
    catalog: Mapping[str, Sequence[str]],
    key: str = "where",
    file: Path | str | None = None,
) -> ConditionSpec:
    """The condition ``name`` with ``where`` (``"EngineSpeed>4000,VehicleSpeed<5"``, the grammar
    of ``where=``), its signals resolved against ``catalog`` (message → signal names) as a query
    resolves them; :class:`ConfigError` naming ``key`` and ``file`` when it cannot be."""
    try:
        conditions = parse_conditions(where)
        refs = {r.name: r for r in resolve([c.signal for c in conditions], catalog)}
    except CommandError as exc:
        raise ConfigError(key, f"condition {name!r}: {exc}", file) from exc
    return ConditionSpec(name, conditions, tuple(refs[c.signal] for c in conditions))


def condition_partials(
    tables: Mapping[str, pa.Table],
    spec: ConditionSpec,
    window_ns: int,
    state: ConditionState | None = None,
    horizon_ns: int | None = None,
) -> tuple[pa.Table, ConditionState]:
    """``condition_ns`` per window of ``window_ns`` for one span: ``tables`` maps each involved
    message (those it has rows of) to its signal table. ``state`` is the one returned for the
    previous span (None at the very start); ``horizon_ns`` says every later row has ``ts >=
    horizon_ns`` (default: the span's largest time), and when it is past the last row that row
    is final (give a larger horizon, with no tables, to close the last run at the end).

    Returns the partials (:func:`logger.rollup.schema.condition_schema`, only windows with
    ``condition_ns > 0``) and the state for the next span.
    """
    if window_ns <= 0:
        raise ValueError(f"window_ns must be positive, got {window_ns}")
    state = ConditionState(INT64_MIN) if state is None else state
    messages: dict[str, MessageRows] = {}
    fresh_ts: list[I64] = []
    for message, cols in spec.columns().items():
        table = tables.get(message)
        fresh = None if table is None else prepare(ns_time(table), cols, INT64_MAX)
        if fresh is not None:
            check_horizon(fresh.ts, state.horizon_ns, f"condition {spec.name!r}")
            fresh_ts.append(fresh.ts)
        rows = _with_held(fresh, state.held.get(message), cols, state.horizon_ns)
        if rows is not None:
            messages[message] = rows
    span_ts = np.concatenate(fresh_ts) if fresh_ts else np.empty(0, np.int64)
    horizon = next_horizon(span_ts, state.horizon_ns, horizon_ns)

    signals = Signals(messages, state.horizon_ns)
    mask = signals.where(
        [(r.message, r.signal, c) for r, c in zip(spec.refs, spec.where, strict=True)]
    )
    chain_ts, chain_match = _chain(state, signals.timeline.ts, mask)
    n = chain_ts.size
    final = n if n and int(chain_ts[-1]) < horizon else max(n - 1, 0)
    first, last, _ = runs(chain_ts[:final], chain_match[:final])
    covered = spread(first, last, window_ns)
    out = pa.Table.from_arrays(
        [
            pa.array(covered.windows, pa.int64()),
            pa.array([spec.name] * covered.windows.size, pa.string()),
            pa.array(covered.length, pa.int64()),
        ],
        schema=condition_schema(window_ns),
    )
    keep = max(final - 1, 0)
    return out, ConditionState(
        horizon,
        tuple(int(t) for t in chain_ts[keep:]),
        tuple(bool(m) for m in chain_match[keep:]),
        MappingProxyType({m: _held(rows, spec.columns()[m]) for m, rows in messages.items()}),
    )


def _chain(
    state: ConditionState, ts: I64, mask: npt.NDArray[np.bool_]
) -> tuple[I64, npt.NDArray[np.bool_]]:
    """The state's tail followed by the span's aligned rows; a span row at the time of the
    tail's last row replaces it (one aligned row per time)."""
    tail_ts = np.array(state.tail_ts, np.int64)
    tail_match = np.array(state.tail_match, np.bool_)
    if tail_ts.size and ts.size and ts[0] == tail_ts[-1]:
        tail_ts, tail_match = tail_ts[:-1], tail_match[:-1]
    return np.concatenate((tail_ts, ts)), np.concatenate((tail_match, mask))


def _complete(table: pa.Table, cols: list[str]) -> pa.Table:
    """``ts`` and ``cols`` of ``table``, a null column for each it lacks."""
    return pa.table(
        {
            "ts": table.column("ts"),
            **{
                c: table.column(c) if c in table.column_names else pa.nulls(table.num_rows)
                for c in cols
            },
        }
    )


def _with_held(
    fresh: MessageRows | None, held: pa.Table | None, cols: list[str], horizon: int
) -> MessageRows | None:
    """The span's rows of one message after its lead-in row (placed at ``horizon - 1``, before
    every sample time of the span, so that it seeds the hold and is never a sample itself)."""
    if held is None:
        return fresh
    lead = _complete(held, cols).set_column(0, "ts", pa.array([horizon - 1], pa.int64()))
    if fresh is None:
        return MessageRows(np.array([horizon - 1], np.int64), lead)
    table = pa.concat_tables([lead, _complete(fresh.table, cols)], promote_options="permissive")
    return MessageRows(np.concatenate((np.array([horizon - 1], np.int64), fresh.ts)), table)


def _held(rows: MessageRows, cols: list[str]) -> pa.Table:
    """One row: the message's last time and the last non-null value of each column."""
    columns: dict[str, pa.Array] = {"ts": pa.array([int(rows.ts[-1])], pa.int64())}
    for col in cols:
        values = rows.table.column(col) if col in rows.table.column_names else None
        if values is None:
            columns[col] = pa.nulls(1)
            continue
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        last = int(valid.size - 1 - np.argmax(valid[::-1])) if valid.any() else -1
        columns[col] = take_rows(values, np.array([last], np.int64))
    return pa.table(columns)
