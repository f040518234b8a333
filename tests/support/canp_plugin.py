"""Helpers for the CANP plugin tests: frames on the wire, ring batches, stores and answers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from canp.plugin import CanpPlugin
from canp.schema import CAN_EFF_FLAG, FLAG_BRS, FLAG_FD, FRAMES_SCHEMA, FrameColumns
from canp.wire import encode_columns
from logger.core.config import EncryptionConfig, ExchangeConfig, ParquetConfig
from logger.core.message import MessageBatch
from logger.query.answer import END_MARK, Answerer, StoreSource
from logger.store import ParquetStore
from logger.store.chunk import TableChunk

T0 = 1_710_072_000_000_000_000  # 2024-03-10 12:00 UTC, ns
MS = 1_000_000
US = 1_000  # the CANP default time unit, in ns


def plugin() -> CanpPlugin:
    return CanpPlugin(ExchangeConfig(name="can", topic="vehicle/+/canp/#", stream="canp"))


def topic(bus: str, vin: str = "V1") -> str:
    return f"vehicle/{vin}/canp/{bus}"


def frames(
    ts: list[int], ids: list[int], data: list[bytes] | None = None, flags: list[int] | None = None
) -> FrameColumns:
    return FrameColumns(
        np.array(ts, np.int64),
        np.array(ids, np.uint32),
        np.array(flags or [0] * len(ts), np.uint8),
        pa.array(data if data is not None else [bytes([i % 256]) * 8 for i in ids], pa.binary()),
    )


def batch(*messages: tuple[str, bytes]) -> MessageBatch:
    keys = T0 + np.arange(len(messages), dtype=np.int64)
    return MessageBatch(keys, [t for t, _ in messages], [p for _, p in messages])


def frames_table(chunks: list[TableChunk]) -> pa.Table:
    [table] = [c.table for c in chunks if c.name == "frames"]
    return table


def ts_of(table: pa.Table) -> list[int]:
    values: list[int] = table.column("ts").to_pylist()
    return values


def make_store(
    directory: Path, row_group_rows: int = 65536, encryption: EncryptionConfig | None = None
) -> ParquetStore:
    cfg = ParquetConfig(dir=directory, row_group_rows=row_group_rows, encryption=encryption)
    store = ParquetStore(cfg, "can", {"sdvlog.plugin": "canp"})
    store.recover()
    return store


def store_chunks(store: ParquetStore, chunks: list[TableChunk]) -> None:
    store.publish(store.write(chunks))


IDS = [0x100, 0x101, 0x1FF, 0x200, 0x7FF, 0x100 | CAN_EFF_FLAG, 0x18FEF100 | CAN_EFF_FLAG]


def mixed_table(n: int = 700) -> pa.Table:
    """``n`` frames on can0/can1/can2 cycling through IDS, in time order."""
    ts = [T0 + i * MS for i in range(n)]
    ids = [IDS[i % len(IDS)] for i in range(n)]
    buses = [f"can{i % 3}" for i in range(n)]
    return frames(ts, ids).to_table(pa.array(buses, pa.string()))


def two_overlapping_batches() -> list[MessageBatch]:
    """Two ring batches whose frames overlap in time (can1 lags), with every frame kind."""
    rng = np.random.default_rng(11)
    out = []
    for b in range(2):
        messages = []
        for bus in ("can0", "can1"):
            n = 400
            start = T0 + b * 300 * MS + (150 * MS if bus == "can1" else 0)
            ts = np.sort(start + rng.integers(0, 400 * MS, n))
            ids = rng.choice(np.array(IDS, np.uint32), n)
            lens = rng.choice(np.array([0, 3, 8, 64]), n)
            data = [rng.integers(0, 4, k).astype(np.uint8).tobytes() for k in lens]
            flags = np.where(lens == 64, FLAG_FD | FLAG_BRS, 0).tolist()
            for lo in range(0, n, 128):
                part = frames(
                    ts[lo : lo + 128].tolist(),
                    ids[lo : lo + 128].tolist(),
                    data[lo : lo + 128],
                    flags[lo : lo + 128],
                )
                messages.append((topic(bus), encode_columns(part)))
        out.append(batch(*messages))
    return out


def sorted_rows(table: pa.Table) -> list[tuple[object, ...]]:
    return sorted(tuple(r.values()) for r in table.to_pylist())


def store_overlapping_batches(store: ParquetStore) -> list[pa.Table]:
    """Encode and store :func:`two_overlapping_batches`; their ``frames`` tables, in order."""
    p = plugin()
    encoded = []
    for b in two_overlapping_batches():
        chunks = p.encode(b)
        encoded.append(frames_table(chunks))
        store_chunks(store, chunks)
    return encoded


def answer(store: ParquetStore, command: str) -> tuple[pa.Table, bytes]:
    p = plugin()
    replies = list(Answerer(StoreSource("can", p, store)).answer(p.parse_command(command)))
    *data, end = replies
    assert end.startswith(END_MARK)
    tables = [pa.ipc.open_stream(frame).read_all() for frame in data]
    return (pa.concat_tables(tables) if tables else FRAMES_SCHEMA.empty_table()), end
