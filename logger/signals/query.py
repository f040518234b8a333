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

Everything is vectorised (:mod:`logger.signals.align`): the time columns are merged by one
stable sort, per-message positions come from a cumulative count, the forward fill over nulls is
``np.maximum.accumulate`` over valid indices, and ``where`` is evaluated on each message's rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from logger.core.command import Command, Condition
from logger.core.errors import CommandError
from logger.signals.align import Signals, prepare, row_hits, runs, ts_array

__all__ = [
    "RESERVED_COLUMNS",
    "SignalRef",
    "align",
    "answer_signals",
    "catalog_of",
    "filter_where",
    "resolve",
    "signal_columns",
    "suggest",
    "to_intervals",
]

RESERVED_COLUMNS = frozenset({"ts", "bus", "topic"})
"""Columns of a signal table that are not signals."""

_Mask = npt.NDArray[np.bool_]


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


def suggest(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean …?)`` with up to three close matches of ``word``, or nothing."""
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
                    f"unknown message {msg!r} in {name!r}{suggest(msg, catalog)}"
                    if catalog
                    else f"unknown signal {name!r} (no signals available)"
                )
            elif sig not in catalog[msg]:
                problems.append(
                    f"unknown signal {name!r}: message {msg} has no signal {sig!r}"
                    f"{suggest(sig, catalog[msg])}"
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
            problems.append(f"unknown signal {name!r}{suggest(name, [*owners, *qualified])}")
    if problems:
        raise CommandError("; ".join(problems))
    return refs


# --------------------------------------------------------------------------- alignment


def _columns_by_message(refs: Sequence[SignalRef]) -> dict[str, list[str]]:
    by_msg: dict[str, list[str]] = {}
    for ref in refs:
        cols = by_msg.setdefault(ref.message, [])
        if ref.signal not in cols:
            cols.append(ref.signal)
    return by_msg


def _signals(
    tables: Mapping[str, pa.Table],
    refs: Sequence[SignalRef],
    start_ns: int,
    end_ns: int,
    buses: Sequence[str] = (),
) -> Signals:
    messages = {
        msg: prepare(tables[msg], cols, end_ns, buses)
        for msg, cols in _columns_by_message(refs).items()
        if msg in tables
    }
    return Signals(messages, start_ns)


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
    signals = _signals(tables, refs, start_ns, end_ns)
    columns: dict[str, pa.Array] = {"ts": pa.array(signals.timeline.ts, type=pa.int64())}
    cache: dict[tuple[str, str], pa.Array] = {}
    for ref in refs:
        if ref.name in columns:
            continue
        key = (ref.message, ref.signal)
        if key not in cache:
            cache[key] = signals.column(ref.message, ref.signal)
        columns[ref.name] = cache[key]
    return pa.table(columns)


def signal_columns(command: Command, catalog: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """The columns :func:`answer_signals` reads of each involved message's table: ``ts``,
    ``bus`` (with ``bus=``), then the signals named in ``sig=`` / ``where=``."""
    names = [*command.sigs, *(c.signal for c in command.where)]
    keys = ["ts", "bus"] if command.buses else ["ts"]
    return {m: [*keys, *cols] for m, cols in _columns_by_message(resolve(names, catalog)).items()}


# --------------------------------------------------------------------------- where / intervals


def filter_where(aligned: pa.Table, conditions: Sequence[Condition]) -> _Mask:
    """Rows of ``aligned`` where every condition holds; null values never match."""
    mask = np.ones(aligned.num_rows, dtype=np.bool_)
    for cond in conditions:
        if cond.signal not in aligned.column_names:
            raise CommandError(f"where=: signal {cond.signal!r} is not in the aligned table")
        col = aligned.column(cond.signal).combine_chunks()
        if pa.types.is_null(col.type):
            mask[:] = False
            continue
        mask &= row_hits(col, cond)
    return mask


_INTERVAL_SCHEMA = pa.schema(
    [
        ("start", pa.int64()),
        ("end", pa.int64()),
        ("rows", pa.int64()),
        ("duration_ns", pa.int64()),
    ]
)


def _intervals(ts: npt.NDArray[np.int64], mask: _Mask) -> pa.Table:
    start, end, rows = runs(ts, mask)
    return pa.Table.from_arrays(
        [
            pa.array(start, pa.int64()),
            pa.array(end, pa.int64()),
            pa.array(rows, pa.int64()),
            pa.array(end - start, pa.int64()),
        ],
        schema=_INTERVAL_SCHEMA,
    )


def to_intervals(aligned: pa.Table, mask: _Mask) -> pa.Table:
    """Merge runs of consecutive ``True`` rows of ``mask`` into ``start, end, rows, duration_ns``."""
    return _intervals(ts_array(aligned), mask)


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

    The same answer as :func:`align` + :func:`filter_where` + :func:`to_intervals` (the tests
    compare them), without building the aligned table: conditions are evaluated on each message's
    rows, and values are gathered only for the rows answered.
    """
    where_names = [c.signal for c in command.where]
    if not command.sigs and not where_names:
        raise CommandError("a signal query needs sig= or where=")
    out_names = list(dict.fromkeys(command.sigs or where_names))
    refs = resolve([*out_names, *where_names], catalog_of(tables) if catalog is None else catalog)
    by_name = {ref.name: ref for ref in refs}

    signals = _signals(tables, refs, command.start_ns, command.end_ns, command.buses)
    timeline = signals.timeline
    mask: _Mask | None = None
    if command.where:
        conditions = [
            (by_name[c.signal].message, by_name[c.signal].signal, c) for c in command.where
        ]
        mask = signals.where(conditions)
    if command.out == "intervals":
        everything = np.ones(timeline.size, dtype=np.bool_)
        result = _intervals(timeline.ts, everything if mask is None else mask)
        if command.limit is not None and result.num_rows > command.limit:
            result = result.slice(0, command.limit)
        return result
    rows = np.arange(timeline.size) if mask is None else np.flatnonzero(mask)
    if command.limit is not None:
        rows = rows[: command.limit]
    columns: dict[str, pa.Array] = {"ts": pa.array(timeline.ts[rows], type=pa.int64())}
    for name in out_names:
        ref = by_name[name]
        columns[name] = signals.column(ref.message, ref.signal, rows)
    return pa.table(columns)
