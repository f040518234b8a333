"""Bytes per CAN frame for other ring flush spans: a quick probe next to ``python -m bench storage``.

``python -m bench.storage_probe [LOG ...] [--spans 1,10,60,all] [--synthetic SECONDS]``

``python -m bench storage`` is the benchmark (fixed flushes, every format, targets, JSON). This
probe varies what it fixes: each log (``can.LogReader``; MF4 needs ``asammdf``) is cut into CANP
payloads per bus as the gateway does and grouped into ring batches by the given ``--spans`` (the
age flush, seconds; ``all`` = the whole log as one batch; the ring's cap is not applied), then
written through ``CanpPlugin.encode`` and ``ParquetStore.write`` without the QoS 1 ledger. "plain"
is the same store without the plugin's write hints (rows in time order, the writer's defaults),
"ours" the plugin's layout. Without arguments it probes every file in
:data:`bench.traffic.LOG_DIR`. ``--synthetic`` adds generated traffic (a classic bus with
counters, sines and constant bytes, and a CAN FD bus with 64-byte frames).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from bench.storage_formats import frames_bytes
from bench.traffic import LOG_DIR, Traffic, gateway_payloads, load_log, ring_batches
from canp.plugin import CanpPlugin
from canp.schema import FLAG_BRS, FLAG_FD, FrameColumns
from logger.core.config import ExchangeConfig, ParquetConfig
from logger.core.message import MessageBatch
from logger.store import ParquetStore

log = logging.getLogger(__name__)
WHOLE = 1 << 62  # a span longer than any log


def synthetic(seconds: float, seed: int = 1) -> Traffic:
    """Periodic traffic: 60 classic ids on can0 (counters, sines, constants), 10 FD ids on can1."""
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000 * 1_000_000_000
    parts: list[tuple[npt.NDArray[np.int64], int, int, int, npt.NDArray[np.uint8]]] = []
    periods_ms = np.array([10, 20, 50, 100, 200, 500, 1000])
    for bus, count, width, flags in ((0, 60, 8, 0), (1, 10, 64, FLAG_FD | FLAG_BRS)):
        for k in range(count):
            period = int(rng.choice(periods_ms)) * 1_000_000
            n = int(seconds * 1e9 // period)
            ts = t0 + int(rng.integers(0, period)) + np.arange(n, dtype=np.int64) * period
            ts += rng.normal(0, 50_000, n).astype(np.int64)  # 50 µs of jitter
            data = np.zeros((n, width), np.uint8)
            data[:, 0] = np.arange(n) % 16  # rolling counter
            sine = 2000 + 1000 * np.sin(np.arange(n) * 2 * np.pi * period / 10e9 + k)
            data[:, 1:3] = sine.astype("<u2").view(np.uint8).reshape(n, 2)
            data[:, 3] = rng.integers(0, 4, n)  # a noisy low-range signal
            data[:, 4:] = rng.integers(0, 256, width - 4)  # constant bytes
            data[:, width - 1] = np.bitwise_xor.reduce(data[:, : width - 1], axis=1)  # checksum
            parts.append((ts, bus, 0x100 + 16 * k + bus, flags, data))
    all_ts = np.concatenate([p[0] for p in parts])
    order = np.argsort(all_ts, kind="stable")
    all_cid = np.concatenate([np.full(p[0].size, p[2], np.uint32) for p in parts])
    all_flags = np.concatenate([np.full(p[0].size, p[3], np.uint8) for p in parts])
    all_bus = np.concatenate([np.full(p[0].size, p[1], np.int32) for p in parts])
    payloads = pa.array([row.tobytes() for p in parts for row in p[4]], pa.binary())
    frames = FrameColumns(
        all_ts[order], all_cid[order], all_flags[order], payloads.take(pa.array(order))
    )
    return Traffic(f"synthetic {seconds:g} s", frames, all_bus[order], ["can0", "can1"])


def parquet_bytes(batches: Sequence[MessageBatch], hints: bool) -> tuple[int, int, float]:
    """Bytes of the ``frames`` files, number of files, and seconds to encode and write."""
    plugin = CanpPlugin(ExchangeConfig(name="probe", topic="vehicle/+/canp/#", stream="canp"))
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(ParquetConfig(dir=Path(tmp)), "probe", {"sdvlog.plugin": "canp"})
        store.recover()
        elapsed = 0.0
        for batch in batches:
            t0 = time.perf_counter()
            chunks = plugin.encode(batch)
            if not hints:
                chunks = [dataclasses.replace(c, hints=None) for c in chunks]
            store.write(chunks)
            elapsed += time.perf_counter() - t0
        total, files = frames_bytes(Path(tmp) / "probe")
    return total, files, elapsed


def python_can_bytes(traffic: Traffic, suffix: str) -> int:
    """Bytes of the log written by python-can's writer for ``suffix`` (``.blf``, ``.log.gz``)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"probe{suffix}"
        with can.Logger(path) as writer:
            for msg in traffic.messages():
                writer.on_message_received(msg)
        return path.stat().st_size


def probe(traffic: Traffic, spans: Sequence[float | None]) -> None:
    n = len(traffic.frames)
    blf = python_can_bytes(traffic, ".blf") / n
    candump = python_can_bytes(traffic, ".log.gz") / n
    payloads = gateway_payloads(traffic)
    print(f"\n{traffic.name}: {n} frames on {len(traffic.names)} bus(es)")
    print(f"  BLF {blf:6.2f} B/frame    candump .log.gz {candump:6.2f} B/frame")
    for span in spans:
        span_ns = WHOLE if span is None else int(span * 1e9)
        batches = ring_batches(payloads, span_ns, len(payloads) + 1)
        plain, _, _ = parquet_bytes(batches, hints=False)
        ours, files, seconds = parquet_bytes(batches, hints=True)
        label = "whole log" if span is None else f"{span:g} s"
        print(
            f"  batches of {label:>9}: {files:4d} file(s), {n / max(files, 1):8.0f} frames/file"
            f"   plain {plain / n:5.2f}   ours {ours / n:5.2f} B/frame"
            f" = {ours / n / blf:4.2f} x BLF, {ours / n / candump:4.2f} x .log.gz"
            f"   ({n / seconds / 1e3:5.0f} k frames/s encode+write)"
        )


def parse_spans(text: str) -> list[float | None]:
    return [None if item == "all" else float(item) for item in text.split(",")]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.storage_probe", description=__doc__)
    p.add_argument("logs", nargs="*", type=Path, help=f"log files (default: {LOG_DIR}/*)")
    p.add_argument(
        "--spans", type=parse_spans, default=parse_spans("1,10,60,all"), help="ring batch spans"
    )
    p.add_argument("--synthetic", type=float, default=0.0, help="seconds of generated traffic")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    paths: list[Path] = args.logs or (sorted(LOG_DIR.iterdir()) if LOG_DIR.is_dir() else [])
    for path in paths:
        try:
            traffic = load_log(path)
        except Exception as exc:  # an unreadable log is reported and skipped
            print(f"\n{path.name}: cannot read: {type(exc).__name__}: {exc}")
            continue
        probe(traffic, args.spans)
    if args.synthetic > 0:
        probe(synthetic(args.synthetic), args.spans)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
