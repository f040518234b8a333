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

The traffic is made in :mod:`bench.exchange_workload`, the pipeline and the breakdown run in
:mod:`bench.exchange_pipeline`; this module runs both workloads and reports.
"""

from __future__ import annotations

import logging

from bench.common import RESULTS, scratch_dir
from bench.exchange_pipeline import (
    FLUSH_MS,
    RECEIVE_MAXIMUM,
    RING_CAP,
    Breakdown,
    PipelineRun,
    breakdown,
    pipeline,
)
from bench.exchange_workload import Workload, make_workload, vehicle
from bench.profile import render, summarise
from bench.report import Report
from bench.traffic import BATCH_FRAMES, BATCH_NS
from logger.capture.ringbus import FlushReason

log = logging.getLogger(__name__)

TARGET_FRAMES_S = 1_000_000.0
FRAMES_FULL, FRAMES_QUICK = 20_000_000, 6_000_000
SMALL_FULL, SMALL_QUICK = 2_000_000, 300_000  # the 10 ms payloads: many more messages per frame


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
