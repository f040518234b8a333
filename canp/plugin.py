"""The CANP stream plugin: CAN / CAN FD frame batches → the ``frames`` table, and frame queries.

A message on ``vehicle/{vin}/canp/{bus}`` carries one CANP batch (see :mod:`canp.wire`); every frame
becomes one row of ``frames`` (:data:`canp.schema.FRAMES_SCHEMA`) with the bus named by the last
level of the topic and the frame's own timestamp as the time column ``ts``. A payload that does
not decode goes whole to ``quarantine`` with the reason; the rest of the batch is stored.

Queries answer frames in time order, filtered by ``bus=`` and ``id=`` (values and ranges, matched
against the arbitration id without flag bits). Signal selectors (``msg=``, ``sig=``, ``where=``,
``out=``) need a DBC and come with signal support.
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

from canp.schema import FRAMES, TIME_COLUMN, FrameColumns
from canp.selectors import check_id_ranges, frame_mask
from canp.wire import decode_payloads
from logger.burstlog import BurstLogger
from logger.config import ExchangeConfig
from logger.errors import CommandError, PluginError
from logger.message import MessageBatch
from logger.plugin import (
    Query,
    StreamPlugin,
    TableChunk,
    WriteHints,
    parse_basic,
    quarantine_chunk,
)

log = logging.getLogger(__name__)

FRAME_ROWS = 65536
FRAME_SELECTORS = frozenset({"bus", "id", "limit"})
SIGNAL_SELECTORS = frozenset({"msg", "sig", "where", "out"})
#: On disk, the rows of each row group are sorted by (bus, id, ts): a message's frames sit together,
#: so its payloads and its regular timestamps compress well (``ts`` delta-encoded, the repetitive
#: columns dictionary/RLE-encoded). bench/storage_probe.py measures the choice against BLF.
FRAMES_HINTS = WriteHints(
    sort_by=("bus", "id", TIME_COLUMN),
    column_encoding=MappingProxyType({TIME_COLUMN: "DELTA_BINARY_PACKED"}),
    use_dictionary=("bus", "id", "dlc"),
    compression_level=6,
)


@dataclass(frozen=True)
class CanpQuery(Query):
    """A frame query: ``buses`` (empty = all) and inclusive arbitration id ranges (empty = all)."""

    buses: tuple[str, ...] = ()
    ids: tuple[tuple[int, int], ...] = ()


def _bus_levels(topics: list[str]) -> tuple[npt.NDArray[np.int32], list[str]]:
    """Per message an index into the bus names (last topic level), computed once per distinct topic."""
    encoded = pc.dictionary_encode(pa.array(topics, pa.string()))
    names = [topic.rpartition("/")[2] for topic in encoded.dictionary.to_pylist()]
    index = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    return index, names


def _take_frames(frames: FrameColumns, keep: npt.NDArray[np.bool_]) -> FrameColumns:
    return FrameColumns(
        frames.ts[keep],
        frames.can_id[keep],
        frames.flags[keep],
        frames.data.filter(pa.array(keep)),
    )


def _in_time_order(table: pa.Table) -> pa.Table:
    """``table`` stably sorted by ``ts`` (returned as is when already in order)."""
    if table.num_rows < 2:
        return table
    ts = table.column(TIME_COLUMN)
    if pc.all(pc.greater_equal(ts.slice(1), ts.slice(0, table.num_rows - 1))).as_py():
        return table
    return table.take(pc.sort_indices(ts))


class CanpPlugin(StreamPlugin):
    """CAN frames in, ``frames`` out; queries by time, bus and id."""

    id = 2
    name = "canp"
    #: A batch's files hold the frames of its messages, whose times may overlap another batch's.
    ordered_files = False

    def __init__(self, exchange: ExchangeConfig) -> None:
        super().__init__(exchange)
        self._bad_log = BurstLogger(log, f"{exchange.name}: malformed CANP payloads quarantined")
        #: Messages put in quarantine since start (malformed payload, topic or timestamp).
        self.quarantined = 0

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        if not len(batch):
            return []
        decoded = decode_payloads(batch.payloads)
        bus_index, bus_names = _bus_levels(batch.topics)
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

        chunks: list[TableChunk] = []
        if len(frames):
            names = pa.array(bus_names, pa.string())
            table = frames.to_table(names.take(pa.array(bus_index[source])))
            chunks.append(TableChunk(FRAMES, _in_time_order(table), TIME_COLUMN, FRAMES_HINTS))
        if reasons:
            rows = sorted(reasons)
            self.quarantined += len(rows)
            self._bad_log.hit(f"{len(rows)} in a batch, e.g. {reasons[rows[0]]}")
            chunks.append(
                quarantine_chunk(
                    batch.keys[rows].tolist(),
                    [batch.topics[i] for i in rows],
                    [batch.payloads[i] for i in rows],
                    [reasons[i] for i in rows],
                )
            )
        return chunks

    def parse_command(self, text: str) -> Query:
        cmd, limit = parse_basic(text, FRAME_SELECTORS | SIGNAL_SELECTORS)
        signal = [name for name, _ in cmd.selectors if name in SIGNAL_SELECTORS]
        if signal:
            raise CommandError(
                f"selector {signal[0]}= needs a DBC: signal selectors come with signal support; "
                "this stream answers frames by bus= and id="
            )
        return CanpQuery(
            cmd, FRAMES, TIME_COLUMN, limit, buses=cmd.buses, ids=check_id_ranges(cmd.ids)
        )

    def decode(self, tables: Iterable[pa.Table], query: Query) -> Iterator[pa.Table]:
        buses = query.buses if isinstance(query, CanpQuery) else ()
        ranges = query.ids if isinstance(query, CanpQuery) else ()
        for table in tables:
            if not table.num_rows:
                continue
            try:
                mask = frame_mask(table, buses, ranges)
                chosen = _in_time_order(table if mask is None else table.filter(mask))
            except (KeyError, pa.ArrowException) as exc:
                raise PluginError(f"not a frames table ({table.column_names}): {exc}") from exc
            for offset in range(0, chosen.num_rows, FRAME_ROWS):
                yield chosen.slice(offset, FRAME_ROWS)
