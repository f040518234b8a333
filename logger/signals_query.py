"""Signal-range queries over per-message signal tables (DESIGN.md, "Signal-range semantics").

The input is one Arrow table per message (as the DBC codec / SPI plugin write them): an ``int64``
``ts`` column (ns), usually a ``bus`` column, and one column per signal. Nothing here knows where
the tables come from.

Semantics, fixed here and relied on by the tests:

* **Names.** ``Signal`` or ``Message.Signal``. A bare ``Signal`` must name exactly one signal in the
  catalog; otherwise :class:`CommandError` (code 5) lists the candidates as ``Message.Signal``.
  Unknown names are a :class:`CommandError` naming them, with close matches suggested. All bad
  names of one request are reported in one error.
* **Sample times.** The aligned table has one row per *distinct* timestamp in ``[start, end]`` over
  all involved messages (a message is involved when one of its signals is requested). Equal
  timestamps — from different messages, or repeated within one — give a single row.
* **Sample-and-hold.** At every row, each signal holds its last non-null value at or before that
  time. Rows of one message with equal ``ts`` count in table order (a stable sort), so the last one
  wins. A null sample (a multiplexed signal whose multiplexor selected another group) does *not*
  overwrite the held value. Before a signal's first non-null sample its value is null. NaN is a
  value, not a null.
* **Lead-in.** Tables may hold rows before ``start`` (e.g. the last row before it); they seed the
  hold but produce no rows of their own. Rows after ``end`` are ignored.
* **where.** All conditions must hold; a null value never matches. NaN compares as IEEE (only
  ``!=`` matches). Only numeric and boolean signals can be compared.
* **Intervals.** Runs of consecutive matching rows; ``start``/``end`` are the ``ts`` of the first
  and last matching row of the run (so a one-row run has ``start == end`` and ``duration_ns == 0``),
  ``rows`` counts the rows. Runs are clipped to the query range like the rows are.
* **Missing data.** A message in the catalog without a table (no data in range) contributes no
  sample times and its signals are all null (type ``null``); so does a catalog signal missing
  from its message's table.
* **bus=** (in :func:`answer_signals`) keeps only rows of those buses before aligning.

Everything is vectorised: the time columns are merged by one stable sort, per-message positions
come from a cumulative count, and the forward fill is ``np.maximum.accumulate`` over valid indices.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from logger.command import Command, Condition
from logger.errors import CommandError

__all__ = [
    "RESERVED_COLUMNS",
    "SignalRef",
    "align",
    "answer_signals",
    "catalog_of",
    "filter_where",
    "resolve",
    "to_intervals",
]

RESERVED_COLUMNS = frozenset({"ts", "bus"})
"""Columns of a signal table that are not signals."""

_I64 = npt.NDArray[np.int64]
_Mask = npt.NDArray[np.bool_]

_COMPARE = {
    ">": pc.greater,
    ">=": pc.greater_equal,
    "<": pc.less,
    "<=": pc.less_equal,
    "=": pc.equal,
    "!=": pc.not_equal,
}


@dataclass(frozen=True)
class SignalRef:
    """One requested signal: where it lives and the column name the user gave it."""

    message: str
    signal: str
    name: str

    @property
    def qualified(self) -> str:
        return f"{self.message}.{self.signal}"


# --------------------------------------------------------------------------- name resolution


def catalog_of(tables: Mapping[str, pa.Table]) -> dict[str, list[str]]:
    """The catalog (message → signal names) of a set of signal tables."""
    return {
        msg: [c for c in table.column_names if c not in RESERVED_COLUMNS]
        for msg, table in tables.items()
    }


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)
    return f" (did you mean {', '.join(close)}?)" if close else ""


def resolve(names: Sequence[str], catalog: Mapping[str, Sequence[str]]) -> list[SignalRef]:
    """Resolve ``Signal`` / ``Message.Signal`` names against ``catalog`` (message → signals).

    Returns one :class:`SignalRef` per distinct name, in order. Raises :class:`CommandError`
    (code 5) naming every unknown or ambiguous name.
    """
    owners: dict[str, list[str]] = {}
    for msg, sigs in catalog.items():
        for sig in dict.fromkeys(sigs):
            owners.setdefault(sig, []).append(msg)
    qualified = [f"{m}.{s}" for m, sigs in catalog.items() for s in sigs]

    refs: list[SignalRef] = []
    problems: list[str] = []
    for name in dict.fromkeys(names):
        msg, dot, sig = name.partition(".")
        if dot:
            if msg not in catalog:
                problems.append(
                    f"unknown message {msg!r} in {name!r}{_suggest(msg, catalog)}"
                    if catalog
                    else f"unknown signal {name!r} (no signals available)"
                )
            elif sig not in catalog[msg]:
                problems.append(
                    f"unknown signal {name!r}: message {msg} has no signal {sig!r}"
                    f"{_suggest(sig, catalog[msg])}"
                )
            else:
                refs.append(SignalRef(msg, sig, name))
            continue
        where = owners.get(name, [])
        if len(where) == 1:
            refs.append(SignalRef(where[0], name, name))
        elif where:
            cands = ", ".join(f"{m}.{name}" for m in where)
            problems.append(f"ambiguous signal {name!r}: candidates {cands}")
        else:
            problems.append(f"unknown signal {name!r}{_suggest(name, [*owners, *qualified])}")
    if problems:
        raise CommandError("; ".join(problems))
    return refs


# --------------------------------------------------------------------------- alignment


def _ts_array(table: pa.Table) -> _I64:
    ts = table.column("ts")
    if not pa.types.is_int64(ts.type):
        ts = ts.cast(pa.int64())
    out: _I64 = ts.to_numpy()
    return out


@dataclass
class _Message:
    """One involved message, sorted by ts, restricted to ts <= end."""

    ts: _I64
    table: pa.Table


def _prepare(table: pa.Table, columns: list[str], end_ns: int) -> _Message:
    table = table.select(["ts", *columns])
    if table.column("ts").null_count:
        table = table.filter(pc.is_valid(table.column("ts")))
    ts = _ts_array(table)
    if ts.size > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
        order = np.argsort(ts, kind="stable")
        table = table.take(pa.array(order))
        ts = ts[order]
    stop = int(np.searchsorted(ts, end_ns, side="right"))
    if stop < ts.size:
        table = table.slice(0, stop)
        ts = ts[:stop]
    return _Message(ts, table)


def _hold(values: pa.ChunkedArray | pa.Array, pos: _I64) -> pa.Array:
    """Sample-and-hold ``values`` at row positions ``pos`` (-1 = before the first row)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if values.null_count:
        valid = values.is_valid().to_numpy(zero_copy_only=False)
        last = np.where(valid, np.arange(valid.size, dtype=np.int64), np.int64(-1))
        np.maximum.accumulate(last, out=last)
        idx = np.where(pos >= 0, last[np.maximum(pos, 0)], np.int64(-1)) if last.size else pos
    else:
        idx = pos
    missing = idx < 0
    indices = pa.array(idx, type=pa.int64(), mask=missing if missing.any() else None)
    return values.take(indices)


def align(
    tables: Mapping[str, pa.Table],
    refs: Sequence[SignalRef],
    start_ns: int,
    end_ns: int,
) -> pa.Table:
    """Align the signals ``refs`` by sample-and-hold over ``[start_ns, end_ns]`` (inclusive).

    Returns ``ts`` (int64 ns, strictly increasing) followed by one column per ref, named
    ``ref.name``. See the module docstring for the exact semantics.
    """
    by_msg: dict[str, list[str]] = {}
    for ref in refs:
        cols = by_msg.setdefault(ref.message, [])
        if ref.signal not in cols:
            cols.append(ref.signal)
    msgs = {
        msg: _prepare(tables[msg], [c for c in cols if c in tables[msg].column_names], end_ns)
        for msg, cols in by_msg.items()
        if msg in tables
    }

    # Merge the sorted time columns: one stable sort of their concatenation (timsort merges runs).
    names = list(msgs)
    parts = [msgs[m].ts for m in names]
    all_ts = np.concatenate(parts) if parts else np.empty(0, np.int64)
    src = np.repeat(np.arange(len(names), dtype=np.int32), [p.size for p in parts])
    order = np.argsort(all_ts, kind="stable")
    merged = all_ts[order]
    src = src[order]
    # One row per distinct time: keep the last element of each run of equal ts, within range.
    keep = np.ones(merged.size, dtype=np.bool_)
    keep[:-1] = merged[1:] != merged[:-1]
    keep &= merged >= start_ns
    sample_ts = merged[keep]

    # Position of each message's last row at or before every sample time.
    positions: dict[str, _I64] = {}
    for i, msg in enumerate(names):
        counts = np.cumsum(src == i, dtype=np.int64)
        positions[msg] = counts[keep] - 1

    columns: dict[str, pa.Array] = {"ts": pa.array(sample_ts, type=pa.int64())}
    cache: dict[tuple[str, str], pa.Array] = {}
    for ref in refs:
        if ref.name in columns:
            continue
        key = (ref.message, ref.signal)
        if key not in cache:
            if ref.message in msgs and ref.signal in msgs[ref.message].table.column_names:
                values = msgs[ref.message].table.column(ref.signal)
                cache[key] = _hold(values, positions[ref.message])
            else:
                cache[key] = pa.nulls(sample_ts.size)
        columns[ref.name] = cache[key]
    return pa.table(columns)


# --------------------------------------------------------------------------- where / intervals


def filter_where(aligned: pa.Table, conditions: Sequence[Condition]) -> _Mask:
    """Rows of ``aligned`` where every condition holds; null values never match."""
    mask = np.ones(aligned.num_rows, dtype=np.bool_)
    for cond in conditions:
        if cond.signal not in aligned.column_names:
            raise CommandError(f"where=: signal {cond.signal!r} is not in the aligned table")
        col = aligned.column(cond.signal)
        if pa.types.is_null(col.type):
            mask[:] = False
            continue
        if pa.types.is_boolean(col.type):
            col = col.cast(pa.int8())
        elif not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type)):
            raise CommandError(
                f"where=: signal {cond.signal!r} is {col.type}, not a number; it cannot be compared"
            )
        if cond.op not in _COMPARE:
            raise CommandError(f"where=: unknown operator {cond.op!r}")
        hit = pc.fill_null(_COMPARE[cond.op](col, pa.scalar(cond.value, pa.float64())), False)
        mask &= hit.to_numpy(zero_copy_only=False)
    return mask


_INTERVAL_SCHEMA = pa.schema(
    [
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("rows", pa.int64()),
        ("duration_ns", pa.int64()),
    ]
)


def to_intervals(aligned: pa.Table, mask: _Mask) -> pa.Table:
    """Merge runs of consecutive ``True`` rows of ``mask`` into ``start, end, rows, duration_ns``."""
    ts = _ts_array(aligned)
    m = np.asarray(mask, dtype=np.int8)
    if m.size != ts.size:
        raise ValueError(f"mask has {m.size} rows, the table {ts.size}")
    edges = np.diff(np.concatenate(([0], m, [0])).astype(np.int8))
    first = np.flatnonzero(edges == 1)
    last = np.flatnonzero(edges == -1) - 1
    start, end = ts[first], ts[last]
    return pa.Table.from_arrays(
        [
            pa.array(start, pa.int64()),
            pa.array(end, pa.int64()),
            pa.array(last - first + 1, pa.int64()),
            pa.array(end - start, pa.int64()),
        ],
        schema=_INTERVAL_SCHEMA,
    )


# --------------------------------------------------------------------------- command


def answer_signals(
    tables: Mapping[str, pa.Table],
    command: Command,
    catalog: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """Answer a signal query (``sig=`` / ``where=`` / ``out=`` / ``limit=``) over ``tables``.

    ``catalog`` defaults to the signal columns of ``tables``; pass the DBC's catalog so that
    signals of messages without data in range resolve (to null columns) instead of being
    unknown. ``bus=`` keeps only the rows of those buses. ``out=rows`` gives ``ts`` and the
    ``sig=`` columns (all ``where=`` signals when ``sig=`` is empty), ``out=intervals`` the
    intervals of :func:`to_intervals`; ``limit=`` caps the rows of either.
    """
    where_names = [c.signal for c in command.where]
    if not command.sigs and not where_names:
        raise CommandError("a signal query needs sig= or where=")
    out_names = list(dict.fromkeys(command.sigs or where_names))
    refs = resolve([*out_names, *where_names], catalog_of(tables) if catalog is None else catalog)

    if command.buses:
        wanted = pa.array(command.buses, pa.string())
        involved = {r.message for r in refs}
        tables = {
            m: (
                t.filter(pc.is_in(t.column("bus"), value_set=wanted))
                if m in involved and "bus" in t.column_names
                else t
            )
            for m, t in tables.items()
        }

    aligned = align(tables, refs, command.start_ns, command.end_ns)
    if command.where:
        mask = filter_where(aligned, command.where)
    else:
        mask = np.ones(aligned.num_rows, dtype=np.bool_)
    if command.out == "intervals":
        result = to_intervals(aligned, mask)
    else:
        result = aligned.select(["ts", *out_names])
        if command.where:
            result = result.filter(pa.array(mask))
    if command.limit is not None and result.num_rows > command.limit:
        result = result.slice(0, command.limit)
    return result
