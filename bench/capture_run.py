"""One run of the capture benchmark (:mod:`bench.capture`): a fresh Mosquitto and ``sdvlog run``
(this checkout's or a peer's), the publishers, the clock until every message is in final
Parquet files, the service's memory and CPU, and the stored rows checked against the payloads."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from bench.capture_publishers import Publishers, Workload
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
    service_toml,
)
from bench.profile import Profiler, render, summarise

log = logging.getLogger(__name__)

RING_CAP = 20000
RECEIVE_MAXIMUM = 65535  # the exchange's default (MQTT 5 receive maximum it asks the broker for)
FLUSH_MS = 1000
POLL_S = 0.05
#: Environment variable naming a peer checkout whose ``sdvlog`` is measured beside this one.
PEER_ENV = "BENCH_PEER"


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
