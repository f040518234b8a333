"""Capture throughput: mosquitto_pub → Mosquitto → ``sdvlog run`` (RAW, QoS 1) → durable Parquet.

Every run gets a fresh Mosquitto (so no persistent session survives between runs) and a fresh
service process. The clock starts when the publishers are launched and stops at the first poll
(every 50 ms) that finds all N messages in final Parquet files (written, fsynced, renamed).
Baselines without the service show that the publishers and the broker are not the bottleneck.

The service's memory is read from /proc: idle (VmRSS once it listens, before the first message)
and peak (VmHWM at the end). With ``BENCH_PEER=<another checkout>`` (its ``.venv`` set up) every
plan also runs that checkout's ``sdvlog``, alternating which goes first, and the table gives this
checkout's throughput and memory as ratios to the peer's, measured in the same run.
"""

from __future__ import annotations

import logging
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.common import (
    EXCHANGE,
    RESULTS,
    SDVLOG,
    TOPIC_FILTER,
    BenchMosquitto,
    ServiceProcess,
    StoreCounter,
    client_id,
    cpu_seconds,
    query_url,
    scratch_dir,
    service_toml,
)
from bench.profile import Profiler, render, summarise
from bench.report import Report, Table

log = logging.getLogger(__name__)

TOPIC = "bench/x"
PUBLISHERS = 2
# mosquitto_pub -M: measured fastest on loopback (default 20 is close; 5000 is 6x slower)
PUB_MAX_INFLIGHT = 100
# mosquitto_pub 2.0.11 -l disconnects (exit code 0) when the PUBACK of the first message whose
# 16-bit packet id equals the *last* line's arrives: past 65535 lines that is long before the
# end, and the rest is silently never sent. So no mosquitto_pub gets more lines than this.
MAX_LINES = 60_000
RING_CAP = 20000
RECEIVE_MAXIMUM = 65535  # the exchange's default (MQTT 5 receive maximum it asks the broker for)
FLUSH_MS = 1000
POLL_S = 0.05
TARGET_MSG_S_2K = 15000.0
TARGET_IDLE_MIB = 80.0
TARGET_PEAK_MIB_2K = 150.0
#: Environment variable naming a peer checkout whose ``sdvlog`` is measured beside this one.
PEER_ENV = "BENCH_PEER"
_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8
)
_PREFIX = 12  # "P-NNNNNNNNN-"


@dataclass(frozen=True)
class Workload:
    """N messages of ``size`` bytes: per publisher lane, files of at most ``MAX_LINES`` lines."""

    size: int
    n: int
    lanes: tuple[tuple[Path, ...], ...]
    payloads: pa.BinaryArray  # every payload, for the loss/duplicate check

    @property
    def mb(self) -> float:
        return self.n * self.size / 1e6


def make_lines(size: int, pub: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """``count`` lines of exactly ``size`` printable bytes (+ newline), unique by their prefix.

    The prefix is ``<pub>-<9-digit index>-``; the rest is random base64 characters (so zstd
    cannot compress a batch down to nothing, unlike repeated filler).
    """
    if size < _PREFIX + 1:
        raise ValueError(f"payload size {size} is below the {_PREFIX}-byte unique prefix")
    lines = _ALPHABET[rng.integers(0, len(_ALPHABET), (count, size + 1), dtype=np.uint8)]
    index = np.arange(count, dtype=np.int64)
    lines[:, 0] = ord("0") + pub
    lines[:, 1] = ord("-")
    for k in range(9):
        lines[:, 2 + k] = ord("0") + (index // 10 ** (8 - k)) % 10
    lines[:, 11] = ord("-")
    lines[:, size] = ord("\n")
    return lines


def make_workload(tmp: Path, size: int, n: int, publishers: int = PUBLISHERS) -> Workload:
    rng = np.random.default_rng(size * 1_000_003 + n)
    lanes = []
    blobs = []
    for p in range(publishers):
        count = n // publishers + (1 if p < n % publishers else 0)
        lines = make_lines(size, p, count, rng)
        files = []
        for c, first in enumerate(range(0, count, MAX_LINES)):
            path = tmp / f"lines-{size}-{n}-{p}-{c}.txt"
            path.write_bytes(lines[first : first + MAX_LINES].tobytes())
            files.append(path)
        lanes.append(tuple(files))
        blobs.append(np.ascontiguousarray(lines[:, :size]).reshape(-1))
    data = np.concatenate(blobs)
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64)
    payloads = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return Workload(size, n, tuple(lanes), payloads.cast(pa.binary()))


def _publish_lane(port: int, lane: int, files: tuple[Path, ...]) -> None:
    """One publisher lane: its files one after the other, each by a fresh ``mosquitto_pub -l``."""
    for c, path in enumerate(files):
        with path.open("rb") as stdin:
            done = subprocess.run(
                [
                    "mosquitto_pub", "-l", "-q", "1", "-M", str(PUB_MAX_INFLIGHT), "-t", TOPIC,
                    "-h", "127.0.0.1", "-p", str(port), "-i", f"bench-pub-{lane}-{c}",
                ],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=600,
                check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"mosquitto_pub exited with {done.returncode}: {done.stderr.decode()[-500:]}"
            )


class Publishers:
    """The publisher lanes of a workload running in parallel (one thread per lane)."""

    def __init__(self, port: int, w: Workload) -> None:
        self._pool = ThreadPoolExecutor(len(w.lanes), thread_name_prefix="publisher")
        self._lanes = [
            self._pool.submit(_publish_lane, port, i, files) for i, files in enumerate(w.lanes)
        ]

    def done(self) -> bool:
        return all(f.done() for f in self._lanes)

    def wait(self) -> None:
        """Block until every lane finished; raises the first lane's failure."""
        try:
            for f in self._lanes:
                f.result()
        finally:
            self._pool.shutdown()


@dataclass
class Baseline:
    what: str
    seconds: float


def publisher_only(tmp: Path, w: Workload) -> Baseline:
    """mosquitto_pub into Mosquitto with no subscriber: until every PUBACK is in."""
    with BenchMosquitto(tmp / f"mosq-pub-{w.size}") as broker:
        t0 = time.monotonic()
        Publishers(broker.port, w).wait()
        return Baseline("publishers → Mosquitto (no subscriber)", time.monotonic() - t0)


def with_c_subscriber(tmp: Path, w: Workload) -> Baseline:
    """The same, plus a ``mosquitto_sub -q 1 -C N`` subscriber: until it received all N."""
    with BenchMosquitto(tmp / f"mosq-sub-{w.size}") as broker:
        sub = subprocess.Popen(
            [
                "mosquitto_sub", "-q", "1", "-t", TOPIC_FILTER, "-C", str(w.n),
                "-h", "127.0.0.1", "-p", str(broker.port), "-i", "bench-sub",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            broker.wait_subscribed("bench-sub", TOPIC_FILTER)
            t0 = time.monotonic()
            pubs = Publishers(broker.port, w)
            sub.wait(timeout=300)
            elapsed = time.monotonic() - t0
            pubs.wait()
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        return Baseline("… + mosquitto_sub -q 1 (C subscriber)", elapsed)


@dataclass(frozen=True)
class Service:
    """Which ``sdvlog`` a run measures: this checkout's, or the peer's."""

    name: str
    sdvlog: Path


def services() -> list[Service]:
    """This checkout's service, and the peer's when ``BENCH_PEER`` names a checkout."""
    out = [Service("this", SDVLOG)]
    peer = os.environ.get(PEER_ENV)
    if peer:
        sdvlog = Path(peer).resolve() / ".venv" / "bin" / "sdvlog"
        if not sdvlog.is_file():
            raise RuntimeError(f"{PEER_ENV}={peer}: no {sdvlog} (run tools/setup.sh there)")
        out.append(Service(f"peer {Path(peer).name}", sdvlog))
    return out


@dataclass
class CaptureRun:
    service: str
    memory: str | None
    cap: int
    receive_maximum: int
    size: int
    n: int
    published_s: float  # publishers done (every PUBACK received)
    durable_s: float  # all N rows in final Parquet files
    first_s: float  # the first file in place
    first_rows: int  # rows in it
    files: int
    disk_bytes: int
    service_idle: int  # VmRSS before the first message
    service_hwm: int
    service_cpu_s: float
    broker_cpu_s: float
    verified: bool
    problems: list[str]
    warnings: list[str]

    @property
    def msg_s(self) -> float:
        return self.n / self.durable_s

    @property
    def steady_msg_s(self) -> float | None:
        """Rate between the first file and the last (excludes start-up and the first batch)."""
        if self.durable_s <= self.first_s:
            return None
        return (self.n - self.first_rows) / (self.durable_s - self.first_s)

    @property
    def mb_s(self) -> float:
        return self.n * self.size / 1e6 / self.durable_s


def verify(counter: StoreCounter, w: Workload) -> list[str]:
    """Stored rows must be exactly the N published payloads: no loss, no duplicate."""
    tables = [pq.read_table(p, columns=["key", "payload"]) for p in counter.files]
    table = pa.concat_tables(tables) if tables else pa.table({"key": [], "payload": []})
    problems = []
    if table.num_rows != w.n:
        problems.append(f"{table.num_rows} rows stored, {w.n} published")
    payload = table["payload"]
    distinct = pc.count_distinct(payload).as_py()
    if distinct != table.num_rows:
        problems.append(f"{table.num_rows - distinct} duplicate payloads")
    if table.num_rows:
        lengths = pc.min_max(pc.binary_length(payload)).as_py()
        if lengths["min"] != w.size or lengths["max"] != w.size:
            problems.append(f"payload lengths {lengths['min']}..{lengths['max']}, not {w.size}")
        unknown = table.num_rows - pc.sum(pc.is_in(payload, value_set=w.payloads)).as_py()
        if unknown:
            problems.append(f"{unknown} stored payloads were never published")
        keys = pc.count_distinct(table["key"]).as_py()
        if keys != table.num_rows:
            problems.append(f"{table.num_rows - keys} duplicate capture keys")
    return problems


@dataclass(frozen=True)
class Plan:
    """One capture run: payload size, message count, and the service's memory knobs."""

    size: int
    n: int
    cap: int = RING_CAP
    receive_maximum: int = RECEIVE_MAXIMUM
    memory: str | None = None  # [limits] memory; None: the service's default (and peers run it)


def capture_run(
    tmp: Path,
    w: Workload,
    plan: Plan,
    *,
    svc: Service | None = None,
    profile: bool = False,
    timeout: float = 600.0,
) -> CaptureRun:
    svc = svc or Service("this", SDVLOG)
    label = svc.name.replace(" ", "-")
    run_dir = (
        tmp / f"capture-{w.size}-{w.n}-{plan.cap}-{plan.receive_maximum}-{plan.memory}-{label}"
    )
    run_dir.mkdir(parents=True)
    store = run_dir / "store"
    url = query_url()
    with BenchMosquitto(run_dir / "mosquitto") as broker:
        config = run_dir / "sdvlog.toml"
        config.write_text(
            service_toml(
                broker_url=broker.url,
                store_dir=store,
                query_url=url,
                cap=plan.cap,
                flush_ms=FLUSH_MS,
                receive_maximum=plan.receive_maximum,
                memory=plan.memory,
            ),
            encoding="utf-8",
        )
        service = ServiceProcess(config, run_dir / "sdvlog.log", url, svc.sdvlog)
        service.start()
        profiler: Profiler | None = None
        try:
            service.wait_ready()
            broker.wait_subscribed(client_id(), TOPIC_FILTER)
            counter = StoreCounter(store / EXCHANGE / "raw")
            idle = service.status()
            cpu0, bcpu0 = idle.cpu_s, cpu_seconds(broker.pid)
            if profile:
                profiler = Profiler(
                    service.pid, RESULTS / f"profile-capture-{w.size}-{w.n}-{plan.cap}.txt"
                )
            t0 = time.monotonic()
            pubs = Publishers(broker.port, w)
            published: float | None = None
            first: tuple[float, int] | None = None  # first file in place: (seconds, rows)
            while True:
                rows = counter.poll()
                now = time.monotonic()
                if first is None and rows:
                    first = (now - t0, rows)
                if published is None and pubs.done():
                    published = now - t0
                if rows >= w.n:
                    durable = now - t0
                    break
                if now - t0 > timeout:
                    raise RuntimeError(
                        f"only {rows} of {w.n} messages durable after {timeout:g} s\n"
                        f"{service.log_tail()}"
                    )
                time.sleep(POLL_S)
            pubs.wait()
            if published is None:
                published = time.monotonic() - t0
            assert first is not None
            if profiler is not None:
                raw = profiler.stop()
                profiler = None
                print(f"\nprofile of the service, {w.size} B x {w.n} ({raw}):")
                print(render(summarise(raw)))
            status = service.status()
            bcpu = cpu_seconds(broker.pid) - bcpu0
            time.sleep(2 * POLL_S)
            counter.poll()  # anything beyond N (duplicates) would show up in verify()
        finally:
            if profiler is not None:
                profiler.stop()
            code = service.stop()
        if code != 0:
            log.warning("service exited with %d", code)
        problems = verify(counter, w)
        for p in problems:
            log.error("capture %d B x %d: %s", w.size, w.n, p)
        disk = sum(p.stat().st_size for p in counter.files)
        return CaptureRun(
            service=svc.name,
            memory=plan.memory,
            cap=plan.cap,
            receive_maximum=plan.receive_maximum,
            size=w.size,
            n=w.n,
            published_s=published,
            durable_s=durable,
            first_s=first[0],
            first_rows=first[1],
            files=len(counter.files),
            disk_bytes=disk,
            service_idle=idle.rss,
            service_hwm=status.hwm,
            service_cpu_s=status.cpu_s - cpu0,
            broker_cpu_s=bcpu,
            verified=not problems,
            problems=problems,
            warnings=service.log_lines("WARNING", "ERROR"),
        )


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    # 64 B and 2 KB; 2 KB at twice the length (memory must not grow with it); then 2 KB with a
    # smaller ring, a smaller receive window and other [limits] memory, to show what bounds memory.
    plans = [Plan(64, 10_000), Plan(2048, 10_000), Plan(2048, 20_000)] if quick else [
        Plan(64, 300_000), Plan(2048, 180_000), Plan(2048, 360_000),
        Plan(2048, 180_000, cap=5_000), Plan(2048, 180_000, receive_maximum=20_000),
        Plan(2048, 180_000, memory="16MB"), Plan(2048, 180_000, memory="128MB"),
    ]  # fmt: skip
    svcs = services()
    report = Report("capture", quick, profiled=profile)
    report.context.update(
        {
            "publishers": PUBLISHERS,
            "mosquitto_pub_max_inflight": PUB_MAX_INFLIGHT,
            "ring_cap": RING_CAP,
            "flush_ms": FLUSH_MS,
            "compress": "zstd",
            "qos": 1,
            "services": ", ".join(f"{svc.name}: {svc.sdvlog}" for svc in svcs),
        }
    )
    with scratch_dir(keep) as tmp:
        workloads: dict[tuple[int, int], Workload] = {}
        for plan in plans:
            if (plan.size, plan.n) not in workloads:
                workloads[plan.size, plan.n] = make_workload(tmp, plan.size, plan.n)
        base = report.table(
            "baselines: publishers and broker alone",
            "setup", "payload B", "messages", "seconds", "msg/s", "MB/s",
        )  # fmt: skip
        for w in list(workloads.values())[:2]:
            for b in (publisher_only(tmp, w), with_c_subscriber(tmp, w)):
                base.add(b.what, w.size, w.n, b.seconds, w.n / b.seconds, w.mb / b.seconds)
                log.info("%s %d B: %.2f s", b.what, w.size, b.seconds)
        runs = []
        for i, plan in enumerate(plans):
            w = workloads[plan.size, plan.n]
            # a peer may not know [limits]: it runs the plans that use the defaults
            order = svcs if plan.memory is None else svcs[:1]
            for svc in order if i % 2 == 0 else order[::-1]:  # alternate who goes first
                log.info("capture %s on %s ...", plan, svc.name)
                r = capture_run(tmp, w, plan, svc=svc, profile=profile)
                log.info("capture %d B x %d: %.2f s, %.0f msg/s", w.size, w.n, r.durable_s, r.msg_s)
                runs.append(r)
    _capture_table(report, runs)
    this = [r for r in runs if r.service == "this"]
    default_2k = [
        r
        for r in this
        if r.size == 2048
        and r.cap == RING_CAP
        and r.receive_maximum == RECEIVE_MAXIMUM
        and r.memory is None
    ]
    slowest_2k = min(r.msg_s for r in default_2k)
    report.target(
        "capture 2 KB, publish → durable (slowest run)", slowest_2k, ">=", TARGET_MSG_S_2K, "msg/s"
    )
    report.target(
        "service peak RSS, 2 KB (highest run)",
        max(r.service_hwm for r in default_2k) / 2**20,
        "<=",
        TARGET_PEAK_MIB_2K,
        "MiB",
    )
    report.target(
        "service idle RSS (highest run)",
        max(r.service_idle for r in this) / 2**20,
        "<=",
        TARGET_IDLE_MIB,
        "MiB",
    )
    if len(default_2k) >= 2:
        short, long = default_2k[0], default_2k[-1]
        report.notes.append(
            f"service peak memory (VmHWM): {short.service_hwm / 2**20:.0f} MiB for {short.n} x 2 KB, "
            f"{long.service_hwm / 2**20:.0f} MiB for {long.n} x 2 KB (ring cap {RING_CAP})"
        )
    for r in runs:
        what = f"{r.service}: {r.size} B x {r.n} (cap {r.cap}, receive max {r.receive_maximum})"
        for p in r.problems:
            report.failures.append(f"{what}: {p}")
        for line in r.warnings[:5]:
            report.notes.append(f"service log, {what}: {line}")
    return report


def _peer_of(run: CaptureRun, runs: list[CaptureRun]) -> CaptureRun | None:
    """The peer's run of the same plan, if one was measured."""
    for r in runs:
        same = (r.size, r.n, r.cap, r.receive_maximum, r.memory) == (
            run.size, run.n, run.cap, run.receive_maximum, run.memory
        )  # fmt: skip
        if same and r.service != "this":
            return r
    return None


def _ratio(value: float, peer: float | None) -> float | None:
    return None if peer is None or not peer else value / peer


def _capture_table(report: Report, runs: list[CaptureRun]) -> Table:
    t = report.table(
        "capture: publish → durable Parquet (sdvlog run, RAW, QoS 1, Mosquitto)",
        "service", "payload B", "messages", "ring cap", "recv max", "memory", "published s",
        "1st file s", "durable s", "msg/s", "msg/s vs peer", "MB/s", "steady msg/s", "files",
        "disk MB", "svc CPU s", "svc CPU %", "broker CPU s", "svc idle MiB", "idle vs peer",
        "svc peak MiB", "peak vs peer", "exact",
    )  # fmt: skip
    for r in runs:
        peer = _peer_of(r, runs) if r.service == "this" else None
        t.add(
            r.service,
            r.size,
            r.n,
            r.cap,
            r.receive_maximum,
            r.memory or "default",
            r.published_s,
            r.first_s,
            r.durable_s,
            r.msg_s,
            _ratio(r.msg_s, peer.msg_s if peer else None),
            r.mb_s,
            r.steady_msg_s,
            r.files,
            r.disk_bytes / 1e6,
            r.service_cpu_s,
            100 * r.service_cpu_s / r.durable_s,
            r.broker_cpu_s,
            r.service_idle / 2**20,
            _ratio(r.service_idle, peer.service_idle if peer else None),
            r.service_hwm / 2**20,
            _ratio(r.service_hwm, peer.service_hwm if peer else None),
            r.verified,
        )
    return t
