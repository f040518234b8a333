"""Capture throughput: mosquitto_pub → Mosquitto → ``sdvlog run`` (RAW, QoS 1) → durable Parquet.

Every run gets a fresh Mosquitto (so no persistent session survives between runs) and a fresh
service process. The clock starts when the publishers are launched and stops at the first poll
(every 50 ms) that finds all N messages in final Parquet files (written, fsynced, renamed).
Baselines without the service show that the publishers and the broker are not the bottleneck.

The service's memory is read from /proc: idle (VmRSS once it listens, before the first message)
and peak (VmHWM at the end). With ``BENCH_PEER=<another checkout>`` (its ``.venv`` set up) every
plan also runs that checkout's ``sdvlog``, alternating which goes first, and the table gives this
checkout's throughput and memory as ratios to the peer's, measured in the same run.

The publishers and the baselines are in :mod:`bench.capture_publishers`, one run against the
service in :mod:`bench.capture_run`; this module picks the plans, runs them and reports.
"""

from __future__ import annotations

import logging

from bench.capture_publishers import (
    PUB_MAX_INFLIGHT,
    PUBLISHERS,
    Workload,
    make_workload,
    publisher_only,
    with_c_subscriber,
)
from bench.capture_run import (
    FLUSH_MS,
    RECEIVE_MAXIMUM,
    RING_CAP,
    CaptureRun,
    Plan,
    capture_run,
    services,
)
from bench.common import scratch_dir
from bench.report import Report, Table

log = logging.getLogger(__name__)

TARGET_MSG_S_2K = 15000.0
TARGET_IDLE_MIB = 80.0
TARGET_PEAK_MIB_2K = 150.0


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
