"""``sdvlog lake query``: one command of the query grammar answered for a fleet.

The catalog plans the files (Iceberg partitions: the vehicles asked for, the hours of the range);
an engine (:mod:`logger.lake.engines`) answers the SQL that :mod:`logger.lake.sql` compiles from
the command. The answer is our engine's answer per vehicle, with a ``vehicle`` column first;
``limit=`` counts per vehicle. ``msg=`` alone answers one message at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import pyarrow as pa

from canp.plugin import SIGNAL_LEAD_NS, SIGNAL_SELECTORS
from canp.selectors import check_id_ranges
from logger.core.command import Command, parse_command
from logger.core.errors import CommandError, LakeError
from logger.lake.catalog import NAMESPACE, TIME_COLUMN, VEHICLE
from logger.lake.engines import Engine
from logger.lake.keys import iceberg_name
from logger.lake.sql import SignalPlan, frames_sql, rows_sql, signals_sql
from logger.signals.query import resolve, suggest

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog

__all__ = ["Fleet"]

_HOUR_NS = 3_600_000_000_000
_NOT_SIGNALS = frozenset({TIME_COLUMN, "bus", "topic", VEHICLE, "source_address", "_tie"})
_SIGNALS = "signals__"


@dataclass
class _Table:
    columns: list[str]
    numeric: set[str]
    #: (address, vehicle, hour)
    files: list[tuple[str, str, int]] = field(default_factory=list)


class Fleet:
    """The lake's tables as the catalog knows them, and the questions asked of them."""

    def __init__(self, catalog: Catalog, namespace: str = NAMESPACE) -> None:
        from pyiceberg.types import (  # noqa: PLC0415  # noqa: PLC0415
            BooleanType,
            DecimalType,
            DoubleType,
            FloatType,
            IntegerType,
            LongType,
        )

        numeric_types = (BooleanType, DecimalType, DoubleType, FloatType, IntegerType, LongType)
        self.tables: dict[str, _Table] = {}
        for ident in catalog.list_tables(namespace):
            table = catalog.load_table(ident)
            schema = table.schema()
            cols = [f.name for f in schema.fields if f.name != VEHICLE]
            numeric = {f.name for f in schema.fields if isinstance(f.field_type, numeric_types)}
            entry = _Table(cols, numeric)
            if table.current_snapshot() is not None:
                for task in table.scan().plan_files():
                    part = task.file.partition
                    entry.files.append((task.file.file_path, str(part[0]), int(part[1])))
            self.tables[ident[-1]] = entry

    @property
    def vehicles(self) -> list[str]:
        return sorted({v for t in self.tables.values() for _, v, _ in t.files})

    def catalog(self) -> dict[str, list[str]]:
        """Message → its signal columns (over every vehicle's files)."""
        return {
            name.removeprefix(_SIGNALS): [c for c in t.columns if c not in _NOT_SIGNALS]
            for name, t in self.tables.items()
            if name.startswith(_SIGNALS)
        }

    def choose(self, vehicles: Sequence[str] | None) -> list[str]:
        known = self.vehicles
        if vehicles is None:
            return known
        unknown = [v for v in vehicles if v not in known]
        if unknown:
            raise LakeError(
                f"unknown vehicle(s) {', '.join(unknown)}; the lake has "
                f"{', '.join(known) or 'none (register files first)'}"
            )
        return list(dict.fromkeys(vehicles))

    def _files(self, name: str, vehicles: Sequence[str], lo_ns: int, hi_ns: int) -> list[str]:
        table = self.tables.get(name)
        if table is None:
            return []
        want, lo, hi = set(vehicles), lo_ns // _HOUR_NS, hi_ns // _HOUR_NS
        return [uri for uri, v, hour in table.files if v in want and lo <= hour <= hi]

    def answer(self, text: str, engine: Engine, vehicles: Sequence[str] | None = None) -> pa.Table:
        """The answer to ``text`` for ``vehicles`` (None: all), ``vehicle`` first."""
        command = parse_command(text)
        chosen = self.choose(vehicles)
        signal = [n for n, _ in command.selectors if n in SIGNAL_SELECTORS]
        if signal and command.ids:
            raise CommandError("id= selects frames, msg=/sig=/where=/out= select signals: pick one")
        if not signal:
            return self._frames(command, engine, chosen)
        if not command.sigs and not command.where:
            return self._rows(command, engine, chosen)
        return self._signals(command, engine, chosen)

    def _frames(self, command: Command, engine: Engine, vehicles: list[str]) -> pa.Table:
        command = _with_ids(command)
        files = self._files("frames", vehicles, command.start_ns, command.end_ns)
        if not files:
            return pa.table({VEHICLE: pa.array([], pa.string())})
        sql = frames_sql(engine.dialect, "frames", command, self.tables["frames"].columns)
        return engine.run({"frames": files}, sql)

    def _rows(self, command: Command, engine: Engine, vehicles: list[str]) -> pa.Table:
        if command.out == "intervals":
            raise CommandError("out=intervals needs where= (or sig=)")
        messages = list(dict.fromkeys(command.msgs))
        if len(messages) != 1:
            raise CommandError(
                "out= needs sig= or where= (or msg= for a message's rows)"
                if not messages
                else "the lake answers msg= alone for one message at a time"
            )
        catalog = self.catalog()
        if messages[0] not in catalog:
            raise CommandError(f"unknown message {messages[0]!r}{suggest(messages[0], catalog)}")
        name = iceberg_name(f"signals/message={messages[0]}")
        files = self._files(name, vehicles, command.start_ns, command.end_ns)
        if not files:
            return pa.table({VEHICLE: pa.array([], pa.string())})
        sql = rows_sql(engine.dialect, name, command, self.tables[name].columns)
        return engine.run({name: files}, sql)

    def _signals(self, command: Command, engine: Engine, vehicles: list[str]) -> pa.Table:
        catalog = self.catalog()
        unknown = [m for m in dict.fromkeys(command.msgs) if m not in catalog]
        if unknown:
            raise CommandError(
                "; ".join(f"unknown message {m!r}{suggest(m, catalog)}" for m in unknown)
            )
        if command.msgs:
            catalog = {m: catalog[m] for m in dict.fromkeys(command.msgs)}
        where_names = [c.signal for c in command.where]
        out_names = list(dict.fromkeys(command.sigs or where_names))
        refs = {r.name: r for r in resolve([*out_names, *where_names], catalog)}
        for cond in command.where:
            ref = refs[cond.signal]
            table = self.tables[_SIGNALS + ref.message]
            if ref.signal not in table.numeric:
                raise CommandError(
                    f"where=: signal {cond.signal!r} is not a number; it cannot be compared"
                )
        lo = max(command.start_ns - SIGNAL_LEAD_NS, 0)
        views: dict[str, list[str]] = {}
        order: list[str] = []
        signals: dict[str, tuple[int, str] | None] = {}
        for name, ref in refs.items():
            view = _SIGNALS + ref.message
            if view not in views:
                views[view] = self._files(view, vehicles, lo, command.end_ns)
            if not views[view]:
                signals[name] = None
                continue
            if view not in order:
                order.append(view)
            signals[name] = (order.index(view), ref.signal)
        if not order:
            return pa.table({VEHICLE: pa.array([], pa.string())})
        plan = SignalPlan([(v, self.tables[v].columns) for v in order], signals, out_names)
        sql = signals_sql(engine.dialect, plan, command, SIGNAL_LEAD_NS)
        return engine.run({v: views[v] for v in order}, sql)


def _with_ids(command: Command) -> Command:
    return replace(command, ids=check_id_ranges(command.ids))
