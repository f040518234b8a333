"""The exchange pipeline as the exchange benchmark (:mod:`bench.exchange`) runs it: a feeder in
place of paho and the broker, the real Ringbus and BatchWriter, CanpPlugin and ParquetStore timed;
and the same batches again one step at a time (decode, encode, write)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from bench.common import VIN, open_store
from bench.exchange_workload import Workload
from bench.profile import Profiler
from canp.plugin import CanpPlugin
from canp.wire import decode_payloads
from logger.capture.batch_writer import BatchWriter
from logger.capture.ledger import RedeliveryFilter, digest
from logger.capture.ringbus import Ringbus
from logger.core.config import Config, ExchangeConfig, ParquetConfig, RingbusConfig
from logger.core.keys import CaptureClock
from logger.core.message import MessageBatch
from logger.store.chunk import TableChunk
from logger.store.layout import StoredFile
from logger.store.store import ParquetStore

EXCHANGE = "can"
RING_CAP = 20_000
FLUSH_MS = 1000
RECEIVE_MAXIMUM = 65_535
TIMEOUT_S = 600.0


class TimedPlugin(CanpPlugin):
    """``CanpPlugin`` that adds up its encode time and remembers each batch's size."""

    def __init__(self, exchange: ExchangeConfig) -> None:
        super().__init__(exchange)
        self.seconds = 0.0
        self.batch_sizes: list[int] = []

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        t0 = time.perf_counter()
        try:
            return super().encode(batch)
        finally:
            self.seconds += time.perf_counter() - t0
            self.batch_sizes.append(len(batch))


class TimedStore(ParquetStore):
    """``ParquetStore`` that adds up its write time."""

    seconds = 0.0

    def write(
        self, chunks: Sequence[TableChunk], extra_metadata: Mapping[str, bytes] | None = None
    ) -> list[StoredFile]:
        t0 = time.perf_counter()
        try:
            return super().write(chunks, extra_metadata)
        finally:
            self.seconds += time.perf_counter() - t0


def _exchange_config(directory: Path) -> tuple[Config, ExchangeConfig]:
    ex = ExchangeConfig(
        name=EXCHANGE,
        topic="vehicle/+/canp/#",
        stream="canp",
        qos=1,
        ringbus=RingbusConfig(cap=RING_CAP, flush_ms=FLUSH_MS),
        receive_maximum=RECEIVE_MAXIMUM,
    )
    parquet = ParquetConfig(dir=directory, compress="zstd")
    return Config(vin=VIN, exchanges=(ex,), parquet=parquet), ex


@dataclass
class PipelineRun:
    what: str
    messages: int
    frames: int
    input_bytes: int
    fed_s: float  # the last message pushed
    durable_s: float  # every message durable
    files: int
    disk_bytes: int
    encode_s: float  # inside the writer thread
    write_s: float
    batch_sizes: list[int]
    reasons: dict[str, int]
    window_waits: int
    problems: list[str] = field(default_factory=list)

    @property
    def frames_s(self) -> float:
        return self.frames / self.durable_s


class Feeder:
    """paho's thread and the broker's receive maximum, as far as the exchange sees them."""

    def __init__(self, window: int) -> None:
        self.window = window
        self.inflight = 0
        self.waits = 0
        self.cond = threading.Condition()
        self.redelivery = RedeliveryFilter()

    def ack(self, mids: list[int]) -> None:
        self.redelivery.acked(mids)
        with self.cond:
            self.inflight -= len(mids)
            self.cond.notify_all()

    def feed(self, ring: Ringbus, w: Workload) -> None:
        clock = CaptureClock()
        check = self.redelivery.check
        push = ring.push
        cond = self.cond
        for i, (topic, payload) in enumerate(zip(w.topics, w.payloads, strict=True)):
            if self.inflight >= self.window:
                with cond:
                    self.waits += 1
                    cond.wait_for(lambda: self.inflight < self.window)
            mid = i % 65535 + 1
            d = digest(topic, payload)
            check(mid, d, False)
            with cond:
                self.inflight += 1
            push(clock.next(), topic, payload, mid, d)


def pipeline(tmp: Path, w: Workload, profile: Path | None = None) -> PipelineRun:
    cfg, ex = _exchange_config(tmp / f"pipeline-{w.n}")
    plugin = TimedPlugin(ex)
    store = open_store(cfg, ex, plugin, TimedStore)
    feeder = Feeder(RECEIVE_MAXIMUM)
    lock = threading.Condition()
    writer = BatchWriter(ex.name, plugin, store, lock, feeder.ack)
    ring = Ringbus(ex.ringbus, writer, lock, window=RECEIVE_MAXIMUM, name=ex.name)
    writer.start()
    ring.start()
    profiler = Profiler(os.getpid(), profile) if profile is not None else None
    try:
        t0 = time.monotonic()
        feeder.feed(ring, w)
        fed = time.monotonic() - t0
        ring.stop()  # hands over the last partial batch, as at shutdown
        if not writer.wait_stored(w.n, TIMEOUT_S):
            raise RuntimeError(f"only {writer.counters.messages} of {w.n} messages durable")
        durable = time.monotonic() - t0
    finally:
        if profiler is not None:
            profiler.stop()
        writer.stop(timeout=60)
    problems = []
    c = writer.counters
    if c.encode_errors or c.write_errors or plugin.quarantined:
        problems.append(
            f"encode errors {c.encode_errors}, write errors {c.write_errors}, "
            f"quarantined {plugin.quarantined}"
        )
    rows = _stored_rows(store)
    if rows != w.total_frames:
        problems.append(f"{rows} frames stored, {w.total_frames} sent")
    flushed = ring.counters.flushed_batches
    return PipelineRun(
        what=w.what,
        messages=w.n,
        frames=w.total_frames,
        input_bytes=w.nbytes,
        fed_s=fed,
        durable_s=durable,
        files=c.files,
        disk_bytes=c.bytes,
        encode_s=plugin.seconds,
        write_s=getattr(store, "seconds", 0.0),
        batch_sizes=plugin.batch_sizes,
        reasons={k: int(v) for k, v in flushed.items()},
        window_waits=feeder.waits,
        problems=problems,
    )


def _stored_rows(store: ParquetStore) -> int:
    return sum(pq.read_metadata(f.path).num_rows for f in store.files("frames"))


@dataclass
class Breakdown:
    decode_s: float
    encode_s: float
    write_s: float
    files: int


def breakdown(tmp: Path, w: Workload, sizes: Sequence[int]) -> Breakdown:
    """The pipeline's batches again, step by step in this thread."""
    batches: list[MessageBatch] = []
    start = 0
    for size in sizes:
        keys = np.arange(start + 1, start + size + 1, dtype=np.int64)
        batches.append(
            MessageBatch(keys, w.topics[start : start + size], w.payloads[start : start + size])
        )
        start += size
    cfg, ex = _exchange_config(tmp / f"breakdown-{w.n}")
    plugin = CanpPlugin(ex)
    t0 = time.perf_counter()
    for b in batches:
        decode_payloads(b.payloads)
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoded = [plugin.encode(b) for b in batches]
    encode_s = time.perf_counter() - t0
    store = open_store(cfg, ex, plugin)
    files = 0
    t0 = time.perf_counter()
    for chunks in encoded:
        files += len(store.write(chunks))
    write_s = time.perf_counter() - t0
    return Breakdown(decode_s, encode_s, write_s, files)
