"""The SPI stream plugin: SDV signal batches → the wide ``spi`` table, and signal queries.

A message on ``vehicle/{vin}/spi/{source}`` carries one SPI batch (:mod:`spi.wire`): a time and
records ``(12-bit id, type, update flag, value)``. The exchange's ``dbc`` names the signal catalog
(:mod:`spi.catalog`): a ``.toml`` catalog file, or a DBC whose catalog is generated in memory.

**The ``spi`` table is wide: one row per batch**, time column ``ts`` (the batch time, int64 ns),
``source`` (the last topic level), ``topic`` (the MQTT topic; schema version 2), ``updated`` (list
of the signal names whose record had the update bit set), then one nullable column per catalog signal, named ``Message.Signal``, typed by
the catalog (``u16`` → uint16, ``f32`` → float32, ``utf8`` → string …), in id order; a signal the
batch does not carry is null. Each signal column's field metadata holds ``spi_id`` and ``unit``.
Why wide: a batch is a snapshot taken at one time, so a row is exactly one sample time; reading a
few signals over a time range reads only their column chunks (Parquet is columnar, and null runs
cost almost nothing), values keep their own types without a union column, and min/max statistics
per signal column prune row groups for value-range queries. A long layout (one row per record)
would repeat ``ts``/``source`` per value, need a value column per type, and turn every
multi-signal query into a pivot. Every encoded table carries every catalog signal, so tables of
one catalog always have the same schema.

**Quarantine.** A payload that cannot be decoded goes to ``quarantine`` whole with the reason. A
payload with bad records (unknown id, a type other than the catalog's, a wrong length, invalid
UTF-8 …) has its good records stored and the whole payload quarantined too, with the reason
listing the records not stored. A payload that names one signal twice is refused whole (two
values for one instant). A payload left with no record to store gives no row.

**Queries**: ``sig=`` (``Message.Signal``, or ``Signal`` when unique in the catalog) picks the
signal columns and drops the rows that carry none of them; ``topic=`` (MQTT filters, applied to
memory and files alike by :class:`logger.query.answer.Answerer`; files of schema version 1 have no
``topic`` column, answer code 9 and a message); ``limit=``. ``msg=``, ``where=`` and
``out=`` come with the query engine (code 5 until then); ``bus=``/``id=`` are CANP selectors.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from logger.core.burstlog import BurstLogger
from logger.core.config import ExchangeConfig
from logger.core.errors import CommandError, ConfigError, PluginError
from logger.core.message import MessageBatch
from logger.core.stream_ids import stream_id
from logger.core.topics import TOPIC_COLUMN
from logger.store.chunk import TableChunk, WriteHints
from logger.store.split import time_metadata
from logger.streams.plugin import Query, StreamPlugin, frame_slices, parse_basic, quarantine_rows
from spi.catalog import MAX_IDS, Catalog, CatalogSignal, load_catalog_source
from spi.types import SpiType
from spi.wire import Decoded, decode_payloads

log = logging.getLogger(__name__)

SPI = "spi"
TIME_COLUMN = "ts"
SOURCE_COLUMN = "source"
UPDATED_COLUMN = "updated"
BASE_COLUMNS = (TIME_COLUMN, SOURCE_COLUMN, TOPIC_COLUMN, UPDATED_COLUMN)
SELECTORS = frozenset({"topic", "sig", "limit"})
#: ``sdvlog.schema_version`` of the files the SPI stream writes (2: ``topic`` added).
SCHEMA_VERSION = 2
CANP_ONLY_SELECTORS = frozenset({"msg", "where", "out"})
SPI_HINTS = WriteHints(column_encoding=MappingProxyType({TIME_COLUMN: "DELTA_BINARY_PACKED"}))
_MAX_LISTED = 5


def spi_schema(catalog: Catalog) -> pa.Schema:
    """The ``spi`` table's schema for ``catalog`` (see the module doc)."""
    fields = [
        pa.field(
            TIME_COLUMN,
            pa.int64(),
            nullable=False,
            metadata=time_metadata(doc="the batch time"),
        ),
        pa.field(SOURCE_COLUMN, pa.string(), nullable=False),
        pa.field(TOPIC_COLUMN, pa.string(), nullable=False),
        pa.field(UPDATED_COLUMN, pa.list_(pa.string()), nullable=False),
    ]
    fields += [
        pa.field(s.name, s.type.arrow, metadata={"spi_id": str(s.id), "unit": s.unit})
        for s in catalog.signals
    ]
    return pa.schema(fields)


@dataclass(frozen=True)
class SpiQuery(Query):
    """A signal query: ``signals`` are full catalog names (empty: every column)."""

    signals: tuple[str, ...] = ()


class SpiPlugin(StreamPlugin):
    """SDV signal batches in, the wide ``spi`` table out; queries by time and signal."""

    id = stream_id("spi")
    name = "spi"
    schema_version = SCHEMA_VERSION

    def __init__(self, exchange: ExchangeConfig) -> None:
        super().__init__(exchange)
        key = f"exchange[{exchange.name}].dbc"
        if exchange.dbc is None:
            raise ConfigError(
                key, "the spi stream needs a signal catalog: a catalog .toml or a DBC file"
            )
        self.catalog = load_catalog_source(exchange.dbc, key)
        self.schema = spi_schema(self.catalog)
        self._names = pa.array([s.name for s in self.catalog.signals], pa.string())
        self._column_of = np.full(MAX_IDS, -1, np.int32)
        self._type_of = np.full(MAX_IDS, 255, np.uint8)
        for col, sig in enumerate(self.catalog.signals):
            self._column_of[sig.id] = col
            self._type_of[sig.id] = sig.type
        self._bad_log = BurstLogger(log, f"{exchange.name}: malformed SPI payloads quarantined")
        #: Messages put in quarantine since start (whole or for some of their records).
        self.quarantined = 0

    def metadata(self) -> dict[str, str]:
        return {
            "sdvlog.dbc_name": self.catalog.source,
            "sdvlog.dbc_hash": self.catalog.source_sha256,
            "sdvlog.spi_catalog_sha256": self.catalog.sha256,
        }

    # ---- encode ----------------------------------------------------------------------------

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        if not len(batch):
            return []
        decoded = decode_payloads(batch.payloads)
        whole: dict[int, str] = dict(decoded.rejected)
        partial: dict[int, list[str]] = {}
        for index, reason in decoded.dropped:
            partial.setdefault(index, []).append(reason)
        sources = [topic.rpartition("/")[2] for topic in batch.topics]
        for i, name in enumerate(sources):
            if not name:
                whole.setdefault(i, f"topic {batch.topics[i]!r} has no source level at its end")

        keep = self._check_records(decoded, whole, partial)
        chunks: list[TableChunk] = []
        if keep.any():
            table = self._table(decoded, keep, sources, batch.topics)
            chunks.append(TableChunk(SPI, table, TIME_COLUMN, SPI_HINTS))
        reasons = dict(whole)
        for index, problems in partial.items():
            if index not in reasons:
                reasons[index] = _partial_reason(problems)
        if reasons:
            self.quarantined += len(reasons)
            self._bad_log.hit(f"{len(reasons)} in a batch, e.g. {reasons[min(reasons)]}")
            chunks.append(quarantine_rows(batch, reasons))
        return chunks

    def _check_records(
        self, decoded: Decoded, whole: dict[int, str], partial: dict[int, list[str]]
    ) -> npt.NDArray[np.bool_]:
        """Which records go into the table: known id, the catalog's type, not repeated, payload ok."""
        ids = decoded.id.astype(np.int64)
        known = self._column_of[ids] >= 0
        typed = self._type_of[ids] == decoded.type
        keep: npt.NDArray[np.bool_] = known & typed
        for k in np.flatnonzero(~keep).tolist():
            rid, code = int(ids[k]), int(decoded.type[k])
            sig = self.catalog.by_id.get(rid)
            partial.setdefault(int(decoded.source[k]), []).append(
                f"id 0x{rid:03X} is not in the catalog"
                if sig is None
                else f"id 0x{rid:03X} ({sig.name}) is {sig.type.label} in the catalog, "
                f"the record says {SpiType(code).label}"
            )
        pair = decoded.source * MAX_IDS + ids
        uniq, counts = np.unique(pair, return_counts=True)
        for value in uniq[counts > 1].tolist():
            index, rid = divmod(int(value), MAX_IDS)
            sig = self.catalog.by_id.get(rid)
            label = f"0x{rid:03X}" + (f" ({sig.name})" if sig else "")
            whole.setdefault(index, f"signal id {label} appears more than once in the batch")
        if whole:
            bad = np.zeros(int(decoded.source.max(initial=0)) + 1, np.bool_)
            listed = [i for i in whole if i < bad.size]
            bad[listed] = True
            if decoded.source.size:
                keep &= ~bad[decoded.source]
        return keep

    def _table(
        self,
        decoded: Decoded,
        keep: npt.NDArray[np.bool_],
        sources: list[str],
        topics: list[str],
    ) -> pa.Table:
        """One row per payload with kept records, columns by the catalog, in time order."""
        payloads, row_of_record = np.unique(decoded.source[keep], return_inverse=True)
        n = payloads.size
        kept = np.flatnonzero(keep)
        row = np.full(len(decoded), -1, np.int64)
        row[kept] = row_of_record
        first = np.zeros(n, np.int64)
        first[row_of_record[::-1]] = kept[::-1]  # a record of each row: its batch ts
        ts = decoded.ts[first]
        column = self._column_of[decoded.id.astype(np.int64)]

        arrays: list[pa.Array | None] = [None] * len(self.catalog)
        for type_, typed in decoded.values.items():
            index = typed.index[keep[typed.index]]
            if not index.size:
                continue
            values = (
                typed.values
                if isinstance(typed.values, pa.Array)
                else pa.array(typed.values, type_.arrow)
            ).take(pa.array(np.flatnonzero(keep[typed.index])))
            cols = column[index]
            order = np.argsort(cols, kind="stable")
            cols, index, values = cols[order], index[order], values.take(pa.array(order))
            bounds = np.flatnonzero(np.diff(cols)) + 1
            for lo, hi in zip([0, *bounds.tolist()], [*bounds.tolist(), cols.size], strict=True):
                take = np.full(n, -1, np.int64)
                take[row[index[lo:hi]]] = np.arange(lo, hi)
                arrays[int(cols[lo])] = values.take(pa.array(take, mask=take < 0))
        signal_columns = [
            arr if arr is not None else pa.nulls(n, sig.type.arrow)
            for arr, sig in zip(arrays, self.catalog.signals, strict=True)
        ]

        updated = np.flatnonzero(keep & decoded.update)
        up_rows = row[updated]
        order = np.lexsort((column[updated], up_rows))
        offsets = np.zeros(n + 1, np.int32)
        np.cumsum(np.bincount(up_rows, minlength=n), out=offsets[1:])
        names = self._names.take(pa.array(column[updated][order]))
        updated_col = pa.ListArray.from_arrays(pa.array(offsets), names)

        rows = pa.array(payloads)
        source_names = pa.array(sources, pa.string()).take(rows)
        topic_names = pa.array(topics, pa.string()).take(rows)
        table = pa.Table.from_arrays(
            [pa.array(ts, pa.int64()), source_names, topic_names, updated_col, *signal_columns],
            schema=self.schema,
        )
        if n > 1 and not bool(np.all(ts[1:] >= ts[:-1])):
            table = table.take(pa.array(np.argsort(ts, kind="stable")))
        return table

    # ---- queries ---------------------------------------------------------------------------

    def parse_command(self, text: str) -> Query:
        cmd, limit = parse_basic(text, SELECTORS | CANP_ONLY_SELECTORS)
        unanswered = [name for name, _ in cmd.selectors if name in CANP_ONLY_SELECTORS]
        if unanswered:
            raise CommandError(
                f"selector {unanswered[0]}= is not answered by the SPI stream (signal-range "
                "questions are answered by CANP exchanges); this stream answers sig= and limit="
            )
        chosen: list[str] = []
        for name in cmd.sigs:
            found = self.catalog.find(name)
            if not found:
                raise CommandError(f"sig=: unknown signal {name!r} (not in the SPI catalog)")
            if len(found) > 1:
                options = ", ".join(s.name for s in found[:_MAX_LISTED])
                raise CommandError(f"sig=: {name!r} is ambiguous; write one of {options}")
            if found[0].name not in chosen:
                chosen.append(found[0].name)
        return SpiQuery(cmd, SPI, TIME_COLUMN, limit, signals=tuple(chosen))

    def decode(self, tables: Iterable[pa.Table], query: Query) -> Iterator[pa.Table]:
        signals = query.signals if isinstance(query, SpiQuery) else ()
        for table in tables:
            if not table.num_rows:
                continue
            try:
                chosen = self._select(table, signals) if signals else table
            except (KeyError, pa.ArrowException) as exc:
                raise PluginError(f"not an spi table ({table.column_names}): {exc}") from exc
            yield from frame_slices(chosen)

    def _select(self, table: pa.Table, signals: tuple[str, ...]) -> pa.Table:
        """``ts``, ``source``, ``topic`` (when stored), ``updated`` (cut to ``signals``) and the
        signal columns, rows with any."""
        n = table.num_rows
        sigs: list[CatalogSignal] = [self.catalog.by_name[name] for name in signals]
        columns = [
            table.column(s.name) if s.name in table.column_names else pa.nulls(n, s.type.arrow)
            for s in sigs
        ]
        carried = np.zeros(n, np.bool_)
        for col in columns:
            carried |= pc.is_valid(col).to_numpy(zero_copy_only=False)
        updated = pa.concat_arrays(table.column(UPDATED_COLUMN).chunks) if n else None
        if updated is not None:
            flat = pc.list_flatten(updated)
            parents = pc.list_parent_indices(updated).to_numpy(zero_copy_only=False)
            mine = pc.is_in(flat, pa.array(signals, pa.string())).to_numpy(zero_copy_only=False)
            offsets = np.zeros(n + 1, np.int32)
            np.cumsum(np.bincount(parents[mine], minlength=n), out=offsets[1:])
            cut = pa.ListArray.from_arrays(pa.array(offsets), flat.filter(pa.array(mine)))
        else:
            cut = pa.array([], pa.list_(pa.string()))
        base = [c for c in BASE_COLUMNS if c != UPDATED_COLUMN and c in table.column_names]
        fields = [table.schema.field(c) for c in (*base, UPDATED_COLUMN)]
        fields += [self.schema.field(s.name) for s in sigs]
        out = pa.Table.from_arrays(
            [*(table.column(c) for c in base), cut, *columns], schema=pa.schema(fields)
        )
        return out if carried.all() else out.filter(pa.array(carried))


def _partial_reason(problems: list[str]) -> str:
    listed = "; ".join(problems[:_MAX_LISTED])
    more = f"; and {len(problems) - _MAX_LISTED} more" if len(problems) > _MAX_LISTED else ""
    return f"{len(problems)} record(s) not stored (the batch's other records were): {listed}{more}"
