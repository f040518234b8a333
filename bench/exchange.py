"""Exchange throughput: CANP messages → Ringbus → BatchWriter → CanpPlugin.encode → durable Parquet.

In-process, no broker. The traffic is one vehicle: the demo DBC simulated (``can0``) next to every
real log present in :data:`bench.traffic.LOG_DIR` (each of its channels one more bus), all shifted
to start at the same time, cut per bus into CANP payloads of 256 frames (the gateway's batch at
high bus load), in order of publication. The whole set is repeated, later in time each round, until
it holds the wanted number of frames.

One feeder thread stands in for paho's network thread and the broker: per message it does what
``Exchange._capture`` does at QoS 1 (capture key, payload digest, redelivery check, ``Ringbus.push``
with a packet id) and, like a broker with receive maximum 65,535, never has more than 65,535
messages unacknowledged (the writer acknowledges a batch once its files are durable). The real
Ringbus (cap 20,000 messages, 1 s age flush, window 65,535) hands batches to the real BatchWriter
thread, which encodes them with ``CanpPlugin`` and writes them with ``ParquetStore`` (zstd, the
plugin's write hints, the QoS 1 ledger, fsync + rename). The clock runs from the first message
pushed to the moment every message is durable; the last partial batch is handed over when the
feed ends (as ``Ringbus.stop`` does), not after the 1 s age.

Breakdown: the same batches again, one step at a time in this thread: ``decode_payloads`` only,
``CanpPlugin.encode`` (decode + table), ``ParquetStore.write`` of the encoded tables.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq

from bench.common import RESULTS, VIN, scratch_dir
from bench.profile import Profiler, render, summarise
from bench.report import Report
from bench.traffic import (
    BATCH_FRAMES,
    BATCH_NS,
    Payload,
    Traffic,
    gateway_payloads,
    load_log,
    real_logs,
    simulated,
)
from canp.plugin import CanpPlugin
from canp.wire import decode_payloads
from logger.capture.batch_writer import BatchWriter
from logger.capture.ledger import RedeliveryFilter, digest
from logger.capture.ringbus import FlushReason, Ringbus
from logger.core.config import Config, ExchangeConfig, ParquetConfig, RingbusConfig
from logger.core.keys import CaptureClock
from logger.core.message import MessageBatch
from logger.store.chunk import TableChunk
from logger.store.layout import StoredFile
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore

log = logging.getLogger(__name__)

EXCHANGE = "can"
RING_CAP = 20_000
FLUSH_MS = 1000
RECEIVE_MAXIMUM = 65_535
TARGET_FRAMES_S = 1_000_000.0
SIM_SECONDS, QUICK_SIM_SECONDS = 600.0, 120.0
FRAMES_FULL, FRAMES_QUICK = 20_000_000, 6_000_000
SMALL_FULL, SMALL_QUICK = 2_000_000, 300_000  # the 10 ms payloads: many more messages per frame
QUICK_LOGS = ("hyundai_kona_turnonlog.trc", "ford_gt350_vsslog.trc")
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Workload:
    """Messages in publication order: topics, payloads, frames per message."""

    what: str
    topics: list[str]
    payloads: list[bytes]
    frames: npt.NDArray[np.int64]
    buses: int

    @property
    def n(self) -> int:
        return len(self.payloads)

    @property
    def total_frames(self) -> int:
        return int(self.frames.sum())

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.payloads))


def vehicle(quick: bool) -> tuple[list[Traffic], list[str]]:
    """The simulated bus and the real logs present, as buses of one vehicle from one start."""
    paths, notes = real_logs(QUICK_LOGS if quick else None)
    parts = [simulated(QUICK_SIM_SECONDS if quick else SIM_SECONDS)]
    for path in paths:
        try:
            parts.append(load_log(path))
        except Exception as exc:  # an unreadable log is reported and skipped
            notes.append(f"{path.name}: cannot read: {type(exc).__name__}: {exc}")
    t0 = int(parts[0].frames.ts[0])
    out, bus = [], 0
    for part in parts:
        names = [f"can{bus + i}" for i in range(len(part.names))]
        bus += len(part.names)
        out.append(part.shifted(t0 - int(part.frames.ts[0]), names))
    return out, notes


def make_workload(
    parts: Sequence[Traffic], frames: int, batch_ns: int | None, what: str
) -> Workload:
    """Payloads of every part, repeated (each round later by the longest span + 1 s) until the
    set holds at least ``frames`` frames."""
    base = sum(len(p) for p in parts)
    rounds = max(1, -(-frames // base))
    span = max(int(p.frames.ts[-1] - p.frames.ts[0]) for p in parts) + 1_000_000_000
    payloads: list[Payload] = []
    for r in range(rounds):
        for part in parts:
            payloads.extend(gateway_payloads(part.shifted(r * span), BATCH_FRAMES, batch_ns))
    payloads.sort(key=lambda p: p.last_ns)
    return Workload(
        what,
        [p.topic for p in payloads],
        [p.payload for p in payloads],
        np.array([p.frames for p in payloads], np.int64),
        sum(len(p.names) for p in parts),
    )


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


def _exchange_config() -> tuple[Config, ExchangeConfig]:
    ex = ExchangeConfig(
        name=EXCHANGE,
        topic="vehicle/+/canp/#",
        stream="canp",
        qos=1,
        ringbus=RingbusConfig(cap=RING_CAP, flush_ms=FLUSH_MS),
        receive_maximum=RECEIVE_MAXIMUM,
    )
    return Config(vin=VIN, exchanges=(ex,)), ex


def _store(directory: Path, plugin: CanpPlugin, store_cls: type[ParquetStore]) -> ParquetStore:
    cfg, ex = _exchange_config()
    store = store_cls(
        ParquetConfig(dir=directory, compress="zstd"), ex.name, file_metadata(cfg, ex, plugin)
    )
    store.recover()
    return store


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
    directory = tmp / f"pipeline-{w.n}"
    _cfg, ex = _exchange_config()
    plugin = TimedPlugin(ex)
    store = _store(directory, plugin, TimedStore)
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
    _cfg, ex = _exchange_config()
    plugin = CanpPlugin(ex)
    t0 = time.perf_counter()
    for b in batches:
        decode_payloads(b.payloads)
    decode_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    encoded = [plugin.encode(b) for b in batches]
    encode_s = time.perf_counter() - t0
    store = _store(tmp / f"breakdown-{w.n}", plugin, ParquetStore)
    files = 0
    t0 = time.perf_counter()
    for chunks in encoded:
        files += len(store.write(chunks))
    write_s = time.perf_counter() - t0
    return Breakdown(decode_s, encode_s, write_s, files)


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("exchange", quick, profiled=profile)
    report.context.update(
        {
            "ring_cap": RING_CAP,
            "flush_ms": FLUSH_MS,
            "receive_maximum": RECEIVE_MAXIMUM,
            "compress": "zstd",
            "qos": 1,
            "gateway_batch": f"{BATCH_FRAMES} frames",
        }
    )
    parts, notes = vehicle(quick)
    report.notes.extend(notes)
    report.context["sources"] = ", ".join(p.name for p in parts)
    big = make_workload(
        parts, FRAMES_QUICK if quick else FRAMES_FULL, None, f"{BATCH_FRAMES}-frame payloads"
    )
    small = make_workload(
        parts, SMALL_QUICK if quick else SMALL_FULL, BATCH_NS, "256 frames / 10 ms payloads"
    )
    runs: list[tuple[Workload, PipelineRun, Breakdown]] = []
    with scratch_dir(keep) as tmp:
        for w in (big, small):
            log.info("exchange: %s, %d messages, %d frames", w.what, w.n, w.total_frames)
            raw = RESULTS / f"profile-exchange-{w.n}.txt" if profile else None
            r = pipeline(tmp, w, raw)
            if raw is not None:
                print(f"\nprofile of the exchange pipeline, {w.what} ({raw}):")
                print(render(summarise(raw)))
            b = breakdown(tmp, w, r.batch_sizes)
            runs.append((w, r, b))
    t = report.table(
        "exchange: CANP messages in → durable Parquet (Ringbus → BatchWriter → CanpPlugin → store)",
        "payloads", "buses", "messages", "frames", "frames/msg", "input MB", "fed s", "durable s",
        "frames/s", "msg/s", "input MB/s", "batches", "frames/batch", "files", "disk B/frame",
        "window waits", "exact",
    )  # fmt: skip
    for w, r, _b in runs:
        t.add(
            w.what,
            w.buses,
            r.messages,
            r.frames,
            r.frames / r.messages,
            r.input_bytes / 1e6,
            r.fed_s,
            r.durable_s,
            r.frames_s,
            r.messages / r.durable_s,
            r.input_bytes / 1e6 / r.durable_s,
            len(r.batch_sizes),
            r.frames / max(1, len(r.batch_sizes)),
            r.files,
            r.disk_bytes / r.frames,
            r.window_waits,
            not r.problems,
        )
    parts_t = report.table(
        "where the time goes (seconds; frames/s if that step alone set the pace)",
        "payloads", "in writer: encode s", "in writer: write s", "writer busy %",
        "alone: decode s", "alone: encode s", "alone: write s",
        "decode frames/s", "encode frames/s", "write frames/s", "encode+write frames/s",
    )  # fmt: skip
    for w, r, b in runs:
        parts_t.add(
            w.what,
            r.encode_s,
            r.write_s,
            100 * (r.encode_s + r.write_s) / r.durable_s,
            b.decode_s,
            b.encode_s,
            b.write_s,
            r.frames / b.decode_s,
            r.frames / b.encode_s,
            r.frames / b.write_s,
            r.frames / (b.encode_s + b.write_s),
        )
    w, r, _ = runs[0]
    report.target(
        f"exchange, {w.what}, messages in → durable", r.frames_s, ">=", TARGET_FRAMES_S, "frames/s"
    )
    for w, r, _ in runs:
        for p in r.problems:
            report.failures.append(f"{w.what}: {p}")
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.reasons.items()))
        report.notes.append(f"{w.what}: ring flushes by reason: {reasons}")
    report.notes.append(
        f"{FlushReason.SHUTDOWN.value}: the partial batch handed over when the feed ended"
    )
    return report
