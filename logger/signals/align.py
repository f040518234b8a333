"""Sample-and-hold machinery of the signal-range engine (semantics: :mod:`logger.signals.query`).

Nothing here materialises the aligned table unless asked: a :class:`Timeline` holds the distinct
sample times and, per message, the row each sample holds; values are gathered only for the rows
that are answered, and ``where`` conditions are evaluated on each message's own rows, then carried
to the samples by one gather per message.

* **Merge.** The messages' time columns (each sorted) are merged by one stable ``argsort`` of their
  concatenation (timsort merges the runs in linear time); a message's held row at every merged
  element is a running count of its own elements. One message needs no merge at all.
* **Nulls.** A null sample does not replace the held value: per signal, the index of the last
  non-null row at or before each row (``np.maximum.accumulate``) redirects the held row.
* **Conditions.** A condition holds at a sample exactly when it holds on the value of the row the
  sample holds, so it is computed once per row (``pyarrow.compute``, as on the held values) and
  gathered; every condition on one message is combined on its rows before the gather.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from logger.core.command import Condition
from logger.core.errors import CommandError

_I64 = npt.NDArray[np.int64]
_Index = npt.NDArray[np.signedinteger]
_Mask = npt.NDArray[np.bool_]

COMPARE: dict[str, Callable[..., pa.ChunkedArray | pa.Array]] = {
    ">": pc.greater,
    ">=": pc.greater_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    "=": pc.equal,
    "!=": pc.not_equal,
}


def ts_array(table: pa.Table) -> _I64:
    """The ``ts`` column of ``table`` as int64 nanoseconds (a copy only when it is chunked)."""
    ts = table.column("ts")
    if not pa.types.is_int64(ts.type):
        ts = ts.cast(pa.int64())
    out: _I64 = ts.to_numpy()
    return out


@dataclass(frozen=True)
class MessageRows:
    """One involved message: ``ts`` and ``table`` rows with ``ts <= end``, in stable time order."""

    ts: _I64
    table: pa.Table


def prepare(
    table: pa.Table, columns: Sequence[str], end_ns: int, buses: Sequence[str] = ()
) -> MessageRows:
    """``ts`` and ``columns`` of ``table`` (those it has), rows of ``buses`` only (when given and
    the table has ``bus``), null times dropped, stably sorted by time, cut after ``end_ns``."""
    present = [c for c in columns if c in table.column_names]
    if buses and "bus" in table.column_names:
        keep = pc.is_in(table.column("bus"), value_set=pa.array(list(buses), pa.string()))
        table = table.select(["ts", "bus", *present]).filter(keep)
    table = table.select(["ts", *present])
    if table.column("ts").null_count:
        table = table.filter(pc.is_valid(table.column("ts")))
    ts = ts_array(table)
    if ts.size > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
        order = np.argsort(ts, kind="stable")
        table = table.take(pa.array(order))
        ts = ts[order]
    stop = int(np.searchsorted(ts, end_ns, side="right"))
    if stop < ts.size:
        table = table.slice(0, stop)
        ts = ts[:stop]
    return MessageRows(ts, table)


def _samples(ts: _I64, start_ns: int) -> slice | _Index:
    """The elements of sorted ``ts`` that are sample times: at or after ``start_ns``, the last of
    each run of equal times. A slice when no time repeats (the usual case)."""
    first = int(np.searchsorted(ts, start_ns, side="left"))
    tail = ts[first:]
    if tail.size < 2 or bool(np.all(tail[1:] != tail[:-1])):
        return slice(first, None)
    last = np.empty(tail.size, dtype=np.bool_)
    np.not_equal(tail[1:], tail[:-1], out=last[:-1])
    last[-1] = True
    rows: _Index = np.flatnonzero(last) + first
    return rows


@dataclass(frozen=True)
class Timeline:
    """The distinct sample times in range and, per message, the row held at each of them."""

    ts: _I64
    #: message → index of its last row at or before each sample time (-1: none yet); never
    #: decreasing, so the -1s come first
    positions: dict[str, _Index]

    @staticmethod
    def of(messages: Mapping[str, MessageRows], start_ns: int) -> Timeline:
        names = list(messages)
        if len(names) == 1:
            only = messages[names[0]].ts
            picked = _samples(only, start_ns)
            rows = np.arange(only.size)[picked] if isinstance(picked, slice) else picked
            return Timeline(only[picked], {names[0]: rows})
        parts = [messages[m].ts for m in names]
        all_ts = np.concatenate(parts) if parts else np.empty(0, np.int64)
        order = np.argsort(all_ts, kind="stable")  # timsort: merges the sorted parts
        merged = all_ts[order]
        picked = _samples(merged, start_ns)
        ends = np.cumsum([p.size for p in parts])
        small = all_ts.size < np.iinfo(np.int32).max  # int32 counts run ~4x faster
        positions: dict[str, _Index] = {}
        for i, msg in enumerate(names):
            # the merged elements of message i: its rows, in order; each holds their count - 1
            mine = order < ends[i] if i == 0 else order >= ends[i - 1]
            if 0 < i < len(names) - 1:
                mine &= order < ends[i]
            held = np.cumsum(mine, dtype=np.int32) if small else np.cumsum(mine, dtype=np.int64)
            held -= 1
            positions[msg] = held[picked]
        return Timeline(merged[picked], positions)

    @property
    def size(self) -> int:
        return int(self.ts.size)


_Column: TypeAlias = "pa.Array | pa.ChunkedArray"


def last_valid(values: _Column) -> _I64 | None:
    """Per row, the last non-null row at or before it (-1: none); None when nothing is null."""
    if not values.null_count:
        return None
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    last = np.where(valid, np.arange(valid.size, dtype=np.int64), np.int64(-1))
    np.maximum.accumulate(last, out=last)
    return last


def held_rows(pos: _Index, last: _I64 | None) -> _Index:
    """The row whose value is held at each position ``pos`` (-1: nothing held)."""
    if last is None or not last.size:
        return pos
    out: _Index = np.where(pos >= 0, last[np.maximum(pos, 0)], np.int64(-1))
    return out


def take_rows(values: _Column, rows: _Index) -> pa.Array:
    """``values`` at ``rows`` (-1: null), keeping the column's type, as one array."""
    missing = rows < 0
    indices = pa.array(rows, type=pa.int64(), mask=missing if missing.any() else None)
    taken = values.take(indices)
    return taken.combine_chunks() if isinstance(taken, pa.ChunkedArray) else taken


class Signals:
    """The involved messages on one timeline: held columns and ``where`` masks on demand."""

    def __init__(self, messages: Mapping[str, MessageRows], start_ns: int) -> None:
        self.messages = messages
        self.timeline = Timeline.of(messages, start_ns)
        self._last: dict[tuple[str, str], _I64 | None] = {}

    def values(self, message: str, signal: str) -> _Column | None:
        """The stored column of ``signal`` (None: its message or column is missing)."""
        rows = self.messages.get(message)
        if rows is None or signal not in rows.table.column_names:
            return None
        column: _Column = rows.table.column(signal)
        return column

    def _last_valid(self, message: str, signal: str, values: _Column) -> _I64 | None:
        key = (message, signal)
        if key not in self._last:
            self._last[key] = last_valid(values)
        return self._last[key]

    def column(self, message: str, signal: str, samples: _Index | None = None) -> pa.Array:
        """``signal`` held at the samples ``samples`` (None: every sample), as an Arrow column."""
        n = self.timeline.size if samples is None else int(samples.size)
        values = self.values(message, signal)
        if values is None:
            return pa.nulls(n)
        pos = self.timeline.positions[message]
        if samples is not None:
            pos = pos[samples]
        return take_rows(values, held_rows(pos, self._last_valid(message, signal, values)))

    def where(self, conditions: Sequence[tuple[str, str, Condition]]) -> _Mask:
        """Samples where every condition ``(message, signal, condition)`` holds (nulls never do).

        Checks every condition as :func:`logger.signals.query.filter_where` does, in order.
        """
        mask = np.ones(self.timeline.size, dtype=np.bool_)
        per_row: dict[str, _Mask] = {}
        all_null = False  # a condition on a signal without data: nothing matches
        for message, signal, cond in conditions:
            values = self.values(message, signal)
            if values is None or pa.types.is_null(values.type):
                all_null = True
                continue
            hit = row_hits(values, cond)
            last = self._last_valid(message, signal, values)
            if last is not None:  # the held row is the last valid one; none yet: no match
                hit = np.concatenate(([False], hit))[last + 1]
            held = per_row.get(message)
            per_row[message] = hit if held is None else held & hit
        if all_null:
            mask[:] = False
            return mask
        for message, hits in per_row.items():
            pos = self.timeline.positions[message]
            lead = int(np.searchsorted(pos, 0))  # samples before the message's first row
            mask[:lead] = False
            mask[lead:] &= hits[pos[lead:]]
        return mask


def row_hits(values: _Column, cond: Condition) -> _Mask:
    """Rows of ``values`` where ``cond`` holds (null: no); :class:`CommandError` for a column
    that cannot be compared or an unknown operator."""
    col = values
    if pa.types.is_boolean(col.type):
        col = col.cast(pa.int8())
    elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
        raise CommandError(
            f"where=: signal {cond.signal!r} is {col.type}, not a number; it cannot be compared"
        )
    if cond.op not in COMPARE:
        raise CommandError(f"where=: unknown operator {cond.op!r}")
    hit = pc.fill_null(COMPARE[cond.op](col, pa.scalar(cond.value, pa.float64())), False)
    out: _Mask = hit.to_numpy(zero_copy_only=False)
    return out


def runs(ts: _I64, mask: _Mask) -> tuple[_I64, _I64, _I64]:
    """Runs of consecutive ``True`` in ``mask``: first ts, last ts, row count."""
    m = np.asarray(mask, dtype=np.int8)
    if m.size != ts.size:
        raise ValueError(f"mask has {m.size} rows, the table {ts.size}")
    edges = np.diff(np.concatenate(([0], m, [0])).astype(np.int8))
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1) - 1
    return ts[first], ts[last], (last - first + 1).astype(np.int64)
