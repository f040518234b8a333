"""Stores written by every stream plugin the way a running exchange writes them: the plugin's
chunks, the service's file metadata and a QoS 1 ledger in each batch's first file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from canp.plugin import CanpPlugin
from canp.schema import CAN_EFF_FLAG, CAN_EFF_MASK, FLAG_FD, FrameColumns
from canp.wire import encode_columns
from logger.capture.ledger import LEDGER_KEY, digest, encode_ledger
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.core.message import MessageBatch
from logger.store import ParquetStore
from logger.store.metadata import file_metadata
from logger.streams.plugin import StreamPlugin
from logger.streams.raw import RawPlugin
from spi.plugin import SpiPlugin
from spi.wire import Record, encode_batch

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"
#: 2024-03-10 12:00:00.123456789 UTC: not a whole us or ms, so every unit rounds.
T0 = 1_710_072_000_123_456_789
MS = 1_000_000
BAD_PAYLOAD = b"\x07 not a payload of any stream"


@dataclass(frozen=True)
class Written:
    """One exchange written to a store."""

    plugin: StreamPlugin
    store: ParquetStore
    messages: int
    batches: int


def demo_frames(t0: int, count: int, seed: int = 0) -> FrameColumns:
    """``count`` frames of every message of demo.dbc in turn (random payloads), 1 ms apart."""
    plugin = CanpPlugin(ExchangeConfig(name="probe", stream="canp", dbc=DEMO))
    assert plugin.codec is not None
    messages = list(plugin.codec.db.messages)
    rng = np.random.default_rng(seed)
    ids, flags, data = [], [], []
    for i in range(count):
        m = messages[i % len(messages)]
        extended = m.is_extended_frame
        ids.append((m.frame_id & CAN_EFF_MASK) | (CAN_EFF_FLAG if extended else 0))
        flags.append(FLAG_FD if m.length > 8 else 0)
        data.append(rng.integers(0, 256, m.length, dtype=np.uint8).tobytes())
    return FrameColumns(
        t0 + np.arange(count, dtype=np.int64) * MS,
        np.array(ids, np.uint32),
        np.array(flags, np.uint8),
        pa.array(data, pa.binary()),
    )


def batch(t0: int, topics: list[str], payloads: list[bytes]) -> MessageBatch:
    return MessageBatch(t0 + np.arange(len(topics), dtype=np.int64), topics, payloads)


def write(directory: Path, plugin: StreamPlugin, batches: list[MessageBatch]) -> Written:
    """Write ``batches`` as an exchange would: metadata, a ledger in each batch's first file."""
    ex = plugin.exchange
    cfg = Config(exchanges=(ex,), parquet=ParquetConfig(dir=directory))
    store = ParquetStore(cfg.parquet, ex.name, file_metadata(cfg, ex, plugin))
    store.recover()
    mid = 0
    for b in batches:
        mids = [(mid + i) % 65535 + 1 for i in range(len(b))]
        hashes = [digest(t, p) for t, p in zip(b.topics, b.payloads, strict=True)]
        mid += len(b)
        store.publish(store.write(plugin.encode(b), {LEDGER_KEY: encode_ledger(mids, hashes)}))
    return Written(plugin, store, sum(len(b) for b in batches), len(batches))


def canp_store(directory: Path, time_unit: str | None = None) -> Written:
    """CANP with demo.dbc (frames, a signal table per message, quarantine), in ``time_unit``."""
    ex = ExchangeConfig(
        name="can", topic="vehicle/+/canp/#", stream="canp", dbc=DEMO, time_unit=time_unit
    )
    batches = []
    for n in range(2):
        payloads = [
            encode_columns(demo_frames(T0 + n * 200 * MS, 40, seed=n + 2 * k)) for k in (0, 1)
        ]
        topics = ["vehicle/V1/canp/can0", "vehicle/V1/canp/can1"]
        batches.append(batch(T0 + n * 200 * MS, [*topics, topics[0]], [*payloads, BAD_PAYLOAD]))
    return write(directory, CanpPlugin(ex), batches)


def raw_store(directory: Path) -> Written:
    ex = ExchangeConfig(name="raw", topic="test/#", stream="raw")
    payloads = [bytes([i]) * i for i in range(50)] + [b"\xff\xfe not UTF-8"]
    return write(directory, RawPlugin(ex), [batch(T0, ["test/a"] * len(payloads), payloads)])


def spi_store(directory: Path) -> Written:
    """SPI on demo.dbc's catalog: good batches and one that is quarantined."""
    plugin = SpiPlugin(ExchangeConfig(name="sig", topic="vehicle/+/spi/#", stream="spi", dbc=DEMO))
    signals = plugin.catalog.signals[:6]
    payloads = [
        encode_batch(T0 + i * MS, [Record(s.id, s.type, _value(s.type.name, i)) for s in signals])
        for i in range(20)
    ]
    topics = ["vehicle/V1/spi/body"] * len(payloads)
    return write(directory, plugin, [batch(T0, [*topics, topics[0]], [*payloads, BAD_PAYLOAD])])


def _value(type_name: str, i: int) -> bool | float | str:
    if type_name == "BOOL":
        return i % 2 == 1
    if type_name == "UTF8":
        return f"v{i}"
    return i % 100
