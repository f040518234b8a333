"""The vectorised signal codec: CAN frames → one Arrow table per DBC message.

:class:`MessageCodec` is compiled once per message (bit positions, types, scaling, multiplexer
tree) and decodes all signals of many frames at once with numpy. :class:`DatabaseCodec` holds one
codec per frame id (and per PGN for J1939 messages) and decodes a whole ``frames`` table
(:data:`canp.schema.FRAMES_SCHEMA`): it groups the rows by message with one sort, decodes each
group, and counts what it could not decode (unknown ids, frames shorter than their message)
instead of failing. When the frames carry a ``topic`` column (the MQTT topic, CANP schema 2), each
message table ends with it too, taken from its frames, so ``topic=`` selects signal rows as well.

Values equal cantools' ``decode(data, decode_choices=False, scaling=True)``: integers stay exact
integers, floats are computed as ``raw * scale + offset`` in float64 like cantools does.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa
from cantools.database.can import Database, Message

from dbc.bits import U8, Words, binary_parts, gather_rows, matrix_rows
from dbc.schema import is_j1939, message_schema
from dbc.signals import MuxNode, SignalPlan, compile_signals
from logger.core.topics import TOPIC_COLUMN

log = logging.getLogger(__name__)

__all__ = ["DatabaseCodec", "DecodeStats", "DecodedMessage", "MessageCodec", "j1939_pgn"]

Column: TypeAlias = "npt.NDArray[np.generic] | pa.Array"
BoolMask = npt.NDArray[np.bool_]
_EXTENDED_KEY = 0x80000000
_PAD = 72  # bytes appended to the payload buffer so every gather stays in bounds


def j1939_pgn(can_id: npt.NDArray[np.uint64] | int) -> npt.NDArray[np.uint64] | int:
    """PGN of 29-bit ids: ``(id >> 8) & 0x3FFFF``, the PS byte dropped when PF < 240 (PDU1)."""
    pgn = (can_id >> 8) & 0x3FFFF
    pdu1 = ((pgn >> 8) & 0xFF) < 240
    if isinstance(pgn, int):
        return pgn & 0x3FF00 if pdu1 else pgn
    return np.where(pdu1, pgn & 0x3FF00, pgn)


@dataclass
class DecodedMessage:
    """The result of :meth:`MessageCodec.decode`.

    ``valid`` marks the input rows that were decoded (long enough); ``columns`` hold one array
    per signal for those rows only (numpy arrays, or pyarrow arrays with nulls for multiplexed
    signals). ``mux_error`` marks decoded rows whose multiplexer value is not in the DBC (cantools
    raises for those; here their multiplexed signals are null).
    """

    valid: BoolMask
    columns: dict[str, Column]
    mux_error: BoolMask

    @property
    def short(self) -> int:
        """How many input rows were too short to decode."""
        return int(len(self.valid) - np.count_nonzero(self.valid))


class MessageCodec:
    """All signals of one message, precompiled for vectorised decoding."""

    def __init__(self, message: Message) -> None:
        self.message = message
        self.name: str = message.name
        self.length: int = message.length
        self.j1939: bool = is_j1939(message)
        self.schema: pa.Schema = message_schema(message)
        self._plans, self._muxes = compile_signals(message)
        top = max((p.field.word for p in self._plans), default=0)
        top2 = max((p.field.word2 for p in self._plans), default=-1)
        self._words = max(top, top2, (self.length - 1) // 8 if self.length else 0) + 1
        self._nbytes = 8 * self._words

    def decode(self, data: pa.Array | pa.ChunkedArray | U8) -> DecodedMessage:
        """Decode payloads: a pyarrow binary array, or a 2-D uint8 array ``(n, length)``."""
        if isinstance(data, np.ndarray):
            if data.ndim != 2:
                raise ValueError("payload matrix must be 2-D (frames, bytes)")
            n, width = data.shape
            if width < self.length:
                return self._decode_matrix(np.zeros((0, self._nbytes), np.uint8), np.zeros(n, bool))
            return self._decode_matrix(matrix_rows(data, self._nbytes), np.ones(n, bool))
        values, starts, lengths = binary_parts(data)
        return self.decode_parts(values, starts, lengths)

    def decode_parts(
        self, values: U8, starts: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
    ) -> DecodedMessage:
        """Decode payloads given as one byte buffer with per-frame start offsets and lengths."""
        valid = lengths >= self.length
        if not valid.all():
            starts = starts[valid]
        return self._decode_matrix(gather_rows(values, starts, self._nbytes), valid)

    def _decode_matrix(self, rows: U8, valid: BoolMask) -> DecodedMessage:
        with np.errstate(invalid="ignore", over="ignore"):  # NaN payloads, NaN mux values
            return self._decode_words(Words(rows), rows.shape[0], valid)

    def _decode_words(self, words: Words, n: int, valid: BoolMask) -> DecodedMessage:
        values = {p.name: p.decode(words) for p in self._plans}
        conds: dict[tuple[tuple[str, int], ...], BoolMask] = {}
        mux_numbers: dict[str, npt.NDArray[np.int64]] = {}

        def number(name: str) -> npt.NDArray[np.int64]:
            got = mux_numbers.get(name)
            if got is None:
                got = np.asarray(values[name]).astype(np.int64)
                mux_numbers[name] = got
            return got

        def cond(path: tuple[tuple[str, int], ...]) -> BoolMask:
            got = conds.get(path)
            if got is None:
                name, mux_id = path[-1]
                got = number(name) == mux_id
                if len(path) > 1:
                    got &= cond(path[:-1])
                conds[path] = got
            return got

        mux_error = np.zeros(n, bool)
        for node in self._muxes:
            bad = ~np.isin(number(node.name), node.ids)
            if node.path:
                bad &= cond(node.path)
            mux_error |= bad
        columns: dict[str, Column] = {}
        for plan in self._plans:
            value = values[plan.name]
            if plan.paths is None:
                columns[plan.name] = value
                continue
            selected = np.zeros(n, bool)
            for path in plan.paths:
                if not path:
                    selected[:] = True
                    break
                selected |= cond(path)
            columns[plan.name] = pa.array(value, type=plan.stype.arrow, mask=~selected)
        return DecodedMessage(valid, columns, mux_error)

    def to_table(
        self,
        decoded: DecodedMessage,
        ts: npt.NDArray[np.int64],
        bus: pa.Array,
        source_address: npt.NDArray[np.uint8] | None = None,
    ) -> pa.Table:
        """The message table for decoded rows (``ts``, ``bus``, ``source_address`` per row)."""
        arrays: list[pa.Array | npt.NDArray[np.generic]] = [pa.array(ts, pa.int64()), bus]
        if self.j1939:
            if source_address is None:
                source_address = np.zeros(len(ts), np.uint8)
            arrays.append(pa.array(source_address, pa.uint8()))
        arrays += [decoded.columns[p.name] for p in self._plans]
        return pa.Table.from_arrays(arrays, schema=self.schema)

    @property
    def plans(self) -> tuple[SignalPlan, ...]:
        return self._plans

    @property
    def muxes(self) -> tuple[MuxNode, ...]:
        return self._muxes


@dataclass
class DecodeStats:
    """What a :meth:`DatabaseCodec.decode_frames` call (or all of them) could and could not decode."""

    frames: int = 0
    decoded: int = 0
    unknown: int = 0
    short: int = 0
    mux_errors: int = 0
    unknown_ids: dict[int, int] = field(default_factory=dict)
    short_by_message: dict[str, int] = field(default_factory=dict)

    def add(self, other: DecodeStats) -> None:
        self.frames += other.frames
        self.decoded += other.decoded
        self.unknown += other.unknown
        self.short += other.short
        self.mux_errors += other.mux_errors
        for key, count in other.unknown_ids.items():
            self.unknown_ids[key] = self.unknown_ids.get(key, 0) + count
        for name, count in other.short_by_message.items():
            self.short_by_message[name] = self.short_by_message.get(name, 0) + count


class DatabaseCodec:
    """Decodes ``frames`` tables with every message of a cantools database."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.codecs: dict[str, MessageCodec] = {}
        self._by_key: dict[int, MessageCodec] = {}
        self._by_pgn: dict[int, MessageCodec] = {}
        for message in db.messages:
            if message.is_container:
                log.warning("container message %s is not decoded", message.name)
                continue
            codec = MessageCodec(message)
            self.codecs[message.name] = codec
            key = message.frame_id | (_EXTENDED_KEY if message.is_extended_frame else 0)
            self._by_key.setdefault(key, codec)
            if codec.j1939 and message.is_extended_frame:
                pgn = int(j1939_pgn(message.frame_id))
                if self._by_pgn.setdefault(pgn, codec) is not codec:
                    log.warning(
                        "PGN %#x: %s shadowed by %s", pgn, message.name, self._by_pgn[pgn].name
                    )
        self.stats = DecodeStats()

    def codec_for(self, can_id: int, extended: bool) -> MessageCodec | None:
        """The codec for one frame id (cantools' rule: ids above 0x7FF are extended)."""
        key = can_id | (_EXTENDED_KEY if extended or can_id > 0x7FF else 0)
        codec = self._by_key.get(key)
        if codec is None and key & _EXTENDED_KEY and self._by_pgn:
            codec = self._by_pgn.get(int(j1939_pgn(can_id)))
        return codec

    def decode_frames(self, frames: pa.Table) -> dict[str, pa.Table]:
        """One table per message present in ``frames``; counts accumulate in :attr:`stats`."""
        tables, stats = self.decode_frames_with_stats(frames)
        self.stats.add(stats)
        return tables

    def decode_frames_with_stats(self, frames: pa.Table) -> tuple[dict[str, pa.Table], DecodeStats]:
        """Like :meth:`decode_frames`, returning this call's counts instead of accumulating them."""
        stats = DecodeStats(frames=frames.num_rows)
        if frames.num_rows == 0:
            return {}, stats
        ids = frames.column("id").to_numpy().astype(np.uint64)
        ext = frames.column("extended").to_numpy(zero_copy_only=False)
        keys = ids | np.where(ext | (ids > 0x7FF), np.uint64(_EXTENDED_KEY), np.uint64(0))
        order = np.argsort(keys.astype(np.uint16) if keys.max() <= 0xFFFF else keys, kind="stable")
        sorted_keys = keys[order]
        bounds = np.flatnonzero(sorted_keys[1:] != sorted_keys[:-1]) + 1
        begins = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(order)]))
        groups: dict[str, list[npt.NDArray[np.intp]]] = {}
        for begin, end in zip(begins.tolist(), ends.tolist(), strict=True):
            key = int(sorted_keys[begin])
            can_id = key & ~_EXTENDED_KEY
            codec = self.codec_for(can_id, bool(key & _EXTENDED_KEY))
            if codec is None:
                stats.unknown += end - begin
                stats.unknown_ids[key] = end - begin
            else:
                groups.setdefault(codec.name, []).append(order[begin:end])
        values, starts, lengths = binary_parts(frames.column("data"))
        values = np.concatenate((values, np.zeros(_PAD, np.uint8)))
        ts = frames.column("ts").to_numpy()
        bus = frames.column("bus")
        bus = bus.combine_chunks() if isinstance(bus, pa.ChunkedArray) else bus
        topic = None
        if TOPIC_COLUMN in frames.column_names:
            topic = frames.column(TOPIC_COLUMN).combine_chunks()
        tables: dict[str, pa.Table] = {}
        for name, parts in groups.items():
            codec = self.codecs[name]
            idx = parts[0] if len(parts) == 1 else np.sort(np.concatenate(parts))
            decoded = codec.decode_parts(values, starts[idx], lengths[idx])
            rows = idx if decoded.valid.all() else idx[decoded.valid]
            if decoded.short:
                stats.short += decoded.short
                stats.short_by_message[name] = decoded.short
            stats.mux_errors += int(np.count_nonzero(decoded.mux_error))
            if len(rows) == 0:
                continue
            stats.decoded += len(rows)
            sa = (ids[rows] & np.uint64(0xFF)).astype(np.uint8) if codec.j1939 else None
            table = codec.to_table(decoded, ts[rows], bus.take(rows), sa)
            if topic is not None:
                table = table.append_column(TOPIC_COLUMN, topic.take(rows))
            tables[name] = table
        return tables, stats
