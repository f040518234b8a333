"""The CANP stream plugin: CAN / CAN FD frame batches → the ``frames`` table, and frame queries.

A message on ``vehicle/{vin}/canp/{bus}`` carries one CANP batch (see :mod:`canp.wire`); every frame
becomes one row of ``frames`` (:data:`canp.schema.FRAMES_SCHEMA`) with the bus named by the last
level of the topic, the topic itself (``topic``, last column; schema version 2) and the frame's own
timestamp as the time column ``ts``. A payload that does
not decode goes whole to ``quarantine`` with the reason; the rest of the batch is stored.

Queries answer frames in time order, filtered by ``bus=`` and ``id=`` (values and ranges, matched
against the arbitration id without flag bits) and ``topic=`` (MQTT filters, applied to every part
of the answer by :class:`logger.query.answer.Answerer`; files of schema version 1 have no topic
and answer code 9 with a message; imported frames have a null topic, which no filter matches).

With a DBC (``dbc`` on the exchange) every batch also becomes one table per decoded message,
``signals/message=<Name>`` (``ts``, ``bus``, [``source_address``], one column per signal, then
``topic``; see :class:`dbc.codec.DatabaseCodec`); frames too short for their message or with an id the DBC does not
know stay in ``frames`` only (counted in :attr:`CanpPlugin.decode_stats`). Remote and error frames
carry no signals and are not decoded. Signal selectors then work:

* ``msg=A,B`` alone: the rows of those messages' signal tables (all signals), in time order.
* ``sig=`` / ``where=`` / ``out=``: the signal-range engine (:mod:`logger.signals.query`) over the
  involved messages; ``msg=`` with them narrows the messages whose signals the names resolve in.
* ``bus=`` and ``topic=`` keep the rows of those buses and topics (before sample-and-hold); ``id=``
  cannot be combined with signal selectors.

Without a DBC the signal selectors are a bad command (code 5), as is every unknown name.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from canp.schema import FRAMES, SCHEMA_VERSION, TIME_COLUMN, FrameColumns
from canp.selectors import check_id_ranges, frame_mask
from canp.wire import decode_payloads
from dbc.codec import DatabaseCodec, DecodeStats
from dbc.load import database_identity, load_database
from logger.core.burstlog import BurstLogger
from logger.core.config import ExchangeConfig
from logger.core.errors import CommandError, PluginError, StoreError
from logger.core.message import MessageBatch
from logger.core.stream_ids import stream_id
from logger.signals.query import answer_signals, resolve, signal_columns, suggest
from logger.store.chunk import TableChunk, WriteHints, in_time_order
from logger.store.layout import check_table_name
from logger.store.split import round_to_unit
from logger.streams.plugin import Query, StreamPlugin, frame_slices, parse_basic, quarantine_rows

log = logging.getLogger(__name__)

FRAME_SELECTORS = frozenset({"topic", "bus", "id", "limit"})
SIGNAL_SELECTORS = frozenset({"msg", "sig", "where", "out"})
#: On disk, the rows of each row group are sorted by (bus, id, ts): a message's frames sit together,
#: so its payloads and its regular timestamps compress well (``ts`` delta-encoded, the repetitive
#: columns dictionary/RLE-encoded). bench/storage_probe.py measures the choice against BLF.
FRAMES_HINTS = WriteHints(
    sort_by=("bus", "id", TIME_COLUMN),
    column_encoding=MappingProxyType({TIME_COLUMN: "DELTA_BINARY_PACKED"}),
    use_dictionary=("bus", "id", "dlc", "topic"),
    compression_level=6,
)
#: Signal tables keep time order (row groups narrow in time for pruning, and that is the order
#: every reader wants); ``ts`` delta-encoded (regular cycle times), the rest dictionary-encoded
#: where it pays (Parquet falls back to plain pages for columns with too many distinct values).
SIGNAL_HINTS = WriteHints(
    column_encoding=MappingProxyType({TIME_COLUMN: "DELTA_BINARY_PACKED"}),
    use_dictionary=True,
    compression_level=6,
)
SIGNAL_TABLE_PREFIX = "signals/message="
#: How far before ``start`` a signal query reads the signal tables. Sample-and-hold needs the value
#: each signal held when the window opens, i.e. the last sample before ``start``; 10 s covers every
#: message with a cycle time up to 10 s (nearly all cyclic CAN traffic: 10 ms … 1 s). Signals of
#: slower or event-driven messages are null at the window's start until their first sample in it.
SIGNAL_LEAD_NS = 10_000_000_000


_ROW_KEYS = ("ts", "bus", "source_address", "topic")


def signal_table(message: str) -> str:
    """The store table of a DBC message's signals: ``signals/message=<Name>``."""
    return SIGNAL_TABLE_PREFIX + message


@dataclass(frozen=True)
class CanpQuery(Query):
    """A frame query: ``buses`` (empty = all) and inclusive arbitration id ranges (empty = all)."""

    buses: tuple[str, ...] = ()
    ids: tuple[tuple[int, int], ...] = ()


def _bus_levels(topics: list[str]) -> tuple[npt.NDArray[np.int32], list[str], pa.Array]:
    """Per message an index into the distinct topics and into their bus names (last topic
    level, computed once per distinct topic); the distinct topics."""
    encoded = pc.dictionary_encode(pa.array(topics, pa.string()))
    names = [topic.rpartition("/")[2] for topic in encoded.dictionary.to_pylist()]
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    return index, names, encoded.dictionary


def _take_frames(frames: FrameColumns, keep: npt.NDArray[np.bool_]) -> FrameColumns:
    return FrameColumns(
        frames.ts[keep],
        frames.can_id[keep],
        frames.flags[keep],
        frames.data.filter(pa.array(keep)),
    )


@dataclass(frozen=True)
class SignalQuery(Query):
    """A signal query. ``scope``: the ``msg=`` messages (empty = the whole DBC); ``rows_only``:
    ``msg=`` alone, answered with those messages' stored rows."""

    scope: tuple[str, ...] = ()
    rows_only: bool = False


class CanpPlugin(StreamPlugin):
    """CAN frames in, ``frames`` (and with a DBC ``signals/message=<Name>``) out; queries by time,
    bus and id, and with a DBC by message and signal."""

    id = stream_id("canp")
    name = "canp"
    schema_version = SCHEMA_VERSION
    #: A batch's files hold the frames of its messages, whose times may overlap another batch's.
    ordered_files = False
    #: Microseconds by default: python-can's float timestamps resolve about 0.24 µs today, and
    #: ASC, candump, TRC and SocketCAN's own µs timestamps hold no more; ``ns`` keeps every bit.
    time_units = ("us", "ns", "ms")

    def __init__(self, exchange: ExchangeConfig) -> None:
        super().__init__(exchange)
        #: How this exchange lays out its tables: times as int64 ns, or as Parquet timestamps
        #: in the exchange's coarser unit.
        stored_unit = None if self.time_unit == "ns" else self.time_unit
        self.frames_hints = replace(FRAMES_HINTS, time_unit=stored_unit)
        self.signal_hints = replace(SIGNAL_HINTS, time_unit=stored_unit)
        self._bad_log = BurstLogger(log, f"{exchange.name}: malformed CANP payloads quarantined")
        #: Messages put in quarantine since start (malformed payload, topic or timestamp).
        self.quarantined = 0
        self.codec: DatabaseCodec | None = None
        #: DBC message → its signal names (in DBC order); empty without a DBC.
        self.catalog: dict[str, list[str]] = {}
        self._metadata: dict[str, str] = {}
        self._databases: dict[str, Path] = {}
        self._stats_lock = threading.Lock()
        #: What the signal decoding could not decode since start (also counts the batches that
        #: queries encode from memory).
        self.decode_stats = DecodeStats()
        if exchange.dbc is not None:
            db = load_database(exchange.dbc)
            identity = database_identity(exchange.dbc, db)
            self.codec = DatabaseCodec(db)
            self._metadata = {"sdvlog.dbc_name": identity.name, "sdvlog.dbc_hash": identity.sha256}
            self._databases = {identity.sha256: Path(exchange.dbc)}
            for message, codec in self.codec.codecs.items():
                try:
                    check_table_name(signal_table(message))
                except StoreError:
                    log.warning(
                        "%s: message %r has no valid table name; not decoded", exchange.dbc, message
                    )
                    continue
                self.catalog[message] = [p.name for p in codec.plans]

    def metadata(self) -> dict[str, str]:
        return dict(self._metadata)

    def databases(self) -> dict[str, Path]:
        return dict(self._databases)

    def signal_chunks(self, frames: pa.Table) -> list[TableChunk]:
        """One ``signals/message=<Name>`` chunk per message decoded from a ``frames`` table (in
        time order); nothing without a DBC. Remote and error frames are not decoded."""
        if self.codec is None or not frames.num_rows:
            return []
        plain = pc.invert(pc.or_(frames.column("remote"), frames.column("error")))
        if not pc.all(plain).as_py():
            frames = frames.filter(plain)
        tables, stats = self.codec.decode_frames_with_stats(frames)
        with self._stats_lock:
            self.decode_stats.add(stats)
        return [
            TableChunk(signal_table(message), table, TIME_COLUMN, self.signal_hints)
            for message, table in tables.items()
            if message in self.catalog
        ]

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        if not len(batch):
            return []
        decoded = decode_payloads(batch.payloads)
        bus_index, bus_names, distinct_topics = _bus_levels(batch.topics)
        reasons: dict[int, str] = dict(decoded.rejected)
        frames, source = decoded.frames, decoded.source

        bad = np.zeros(len(batch), np.bool_)
        no_bus = np.array([not name for name in bus_names], np.bool_)
        if no_bus.any():
            for i in np.flatnonzero(no_bus[bus_index]).tolist():
                reasons.setdefault(i, f"topic {batch.topics[i]!r} has no bus level at its end")
        late = frames.ts < 0  # u64 on the wire above int64: not a time we can store
        if late.any():
            for i in np.unique(source[late]).tolist():
                reasons.setdefault(i, "a frame timestamp does not fit int64 nanoseconds")
        bad[list(reasons)] = True
        keep = ~bad[source]
        if not keep.all():
            frames, source = _take_frames(frames, keep), source[keep]
        frames = replace(frames, ts=round_to_unit(frames.ts, self.time_unit))

        chunks: list[TableChunk] = []
        if len(frames):
            names = pa.array(bus_names, pa.string())
            index = pa.array(bus_index[source])
            table = frames.to_table(names.take(index), distinct_topics.take(index))
            table = in_time_order(table, TIME_COLUMN)
            chunks.append(TableChunk(FRAMES, table, TIME_COLUMN, self.frames_hints))
            chunks += self.signal_chunks(table)
        if reasons:
            self.quarantined += len(reasons)
            self._bad_log.hit(f"{len(reasons)} in a batch, e.g. {reasons[min(reasons)]}")
            chunks.append(quarantine_rows(batch, reasons))
        return chunks

    def parse_command(self, text: str) -> Query:
        cmd, limit = parse_basic(text, FRAME_SELECTORS | SIGNAL_SELECTORS)
        signal = [name for name, _ in cmd.selectors if name in SIGNAL_SELECTORS]
        if not signal:
            return CanpQuery(
                cmd, FRAMES, TIME_COLUMN, limit, buses=cmd.buses, ids=check_id_ranges(cmd.ids)
            )
        if self.codec is None:
            raise CommandError(
                f"selector {signal[0]}= needs a DBC for signal support (dbc on exchange "
                f"{self.exchange.name}); this stream answers frames by bus= and id="
            )
        if cmd.ids:
            raise CommandError("id= selects frames, msg=/sig=/where=/out= select signals: pick one")
        unknown = [m for m in dict.fromkeys(cmd.msgs) if m not in self.catalog]
        if unknown:
            raise CommandError(
                "; ".join(f"unknown message {m!r}{suggest(m, self.catalog)}" for m in unknown)
            )
        scope = tuple(dict.fromkeys(cmd.msgs))
        rows_only = not cmd.sigs and not cmd.where
        if rows_only:
            if not scope:
                raise CommandError("out= needs sig= or where= (or msg= for a message's rows)")
            if cmd.out == "intervals":
                raise CommandError("out=intervals needs where= (or sig=)")
            involved = scope
        else:
            names = [*cmd.sigs, *(c.signal for c in cmd.where)]
            refs = resolve(names, self._scoped(scope))
            involved = tuple(dict.fromkeys(r.message for r in refs))
        return SignalQuery(
            cmd,
            signal_table(involved[0]),
            TIME_COLUMN,
            limit,
            joint_tables=tuple(signal_table(m) for m in involved),
            lead_ns=0 if rows_only else SIGNAL_LEAD_NS,
            scope=scope,
            rows_only=rows_only,
        )

    def _scoped(self, scope: tuple[str, ...]) -> dict[str, list[str]]:
        return {m: self.catalog[m] for m in scope} if scope else self.catalog

    def answer_joint(self, tables: Mapping[str, pa.Table], query: Query) -> pa.Table:
        if not isinstance(query, SignalQuery) or self.codec is None:
            return super().answer_joint(tables, query)
        by_message = {
            name.removeprefix(SIGNAL_TABLE_PREFIX): table
            for name, table in tables.items()
            if name.startswith(SIGNAL_TABLE_PREFIX)
        }
        if query.rows_only:
            return self._message_rows(by_message, query)
        return answer_signals(by_message, query.command, self._scoped(query.scope))

    def joint_columns(self, query: Query) -> dict[str, list[str]] | None:
        """The columns :meth:`answer_joint` reads of each signal table (None: all of them)."""
        if not isinstance(query, SignalQuery) or self.codec is None or query.rows_only:
            return None
        columns = signal_columns(query.command, self._scoped(query.scope))
        return {signal_table(message): names for message, names in columns.items()}

    def _message_rows(self, tables: Mapping[str, pa.Table], query: SignalQuery) -> pa.Table:
        """The stored rows of the ``msg=`` messages in [start, end] (and ``bus=``), in time order.

        One message: its table as stored. Several: ``ts``, ``bus``, ``message``, then the signal
        columns named ``Message.Signal`` (so equal signal names of two messages never clash).
        """
        assert self.codec is not None
        several = len(query.scope) > 1
        pieces: list[pa.Table] = []
        for message in query.scope:
            table = tables.get(message)
            if table is None:
                table = self.codec.codecs[message].schema.empty_table()
            ts = table.column(TIME_COLUMN)
            keep = pc.and_(pc.greater_equal(ts, query.start_ns), pc.less_equal(ts, query.end_ns))
            if query.command.buses and "bus" in table.column_names:
                wanted = pa.array(query.command.buses, pa.string())
                keep = pc.and_(keep, pc.is_in(table.column("bus"), value_set=wanted))
            table = table.filter(keep)
            if several:
                signals = [c for c in table.column_names if c not in _ROW_KEYS]
                table = table.select([*(c for c in table.column_names if c in _ROW_KEYS), *signals])
                table = table.rename_columns(
                    [c if c in _ROW_KEYS else f"{message}.{c}" for c in table.column_names]
                )
                message_column = pa.repeat(pa.scalar(message, pa.string()), table.num_rows)
                table = table.add_column(2, "message", message_column)
            pieces.append(table)
        result = (
            pieces[0]
            if len(pieces) == 1
            else pa.concat_tables(pieces, promote_options="permissive")
        )
        return in_time_order(result, TIME_COLUMN)

    def decode(self, tables: Iterable[pa.Table], query: Query) -> Iterator[pa.Table]:
        buses = query.buses if isinstance(query, CanpQuery) else ()
        ranges = query.ids if isinstance(query, CanpQuery) else ()
        for table in tables:
            if not table.num_rows:
                continue
            try:
                mask = frame_mask(table, buses, ranges)
                chosen = in_time_order(table if mask is None else table.filter(mask), TIME_COLUMN)
            except (KeyError, pa.ArrowException) as exc:
                raise PluginError(f"not a frames table ({table.column_names}): {exc}") from exc
            yield from frame_slices(chosen)
