"""Bytes per CAN frame: BLF (python-can's BLFWriter), candump ``.log.gz``, and our ``frames`` Parquet.

``python -m bench.storage_probe [LOG ...] [--spans 1,10,60,all] [--synthetic SECONDS]``

Each log is read with ``can.LogReader`` (MF4 needs ``asammdf``), then sent through the real path:
frames are cut into CANP payloads per bus as the gateway does (256 frames or 10 ms), payloads are
grouped into ring batches by time span (``1`` = the default ``flush_ms`` of one second, ``all`` =
the whole log as one batch), and each batch goes through ``CanpPlugin.encode`` and
``ParquetStore.write``. "plain" is the same store without the plugin's write hints (rows in time
order, the writer's defaults); "ours" is the plugin's layout. Without arguments it probes every
file in ``/work/shared/data/logs``. ``--synthetic`` adds generated traffic (a classic bus with
counters, sines and constant bytes, and a CAN FD bus with 64-byte frames).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from canp.plugin import CanpPlugin
from canp.schema import (
    CAN_EFF_FLAG,
    CAN_EFF_MASK,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FRAMES,
    FrameColumns,
)
from canp.wire import encode_columns
from logger.config import ExchangeConfig, ParquetConfig
from logger.message import MessageBatch
from logger.store import ParquetStore

log = logging.getLogger(__name__)

LOG_DIR = Path("/work/shared/data/logs")
BATCH_FRAMES = 256
BATCH_NS = 10_000_000
TOPIC = "vehicle/PROBE/canp/{bus}"


@dataclass(frozen=True)
class Traffic:
    """Frames of one log: columns in time order, and the bus of each frame."""

    name: str
    frames: FrameColumns
    bus: npt.NDArray[np.int32]  # index into names
    names: list[str]

    def messages(self) -> Iterator[can.Message]:
        """python-can messages (for the BLF and candump writers)."""
        data = self.frames.data.to_pylist()
        cid = self.frames.can_id.tolist()
        flags = self.frames.flags.tolist()
        for i, ts in enumerate(self.frames.ts.tolist()):
            extended = bool(cid[i] & CAN_EFF_FLAG)
            yield can.Message(
                timestamp=ts / 1e9,
                arbitration_id=cid[i] & (CAN_EFF_MASK if extended else 0x7FF),
                is_extended_id=extended,
                is_remote_frame=bool(cid[i] & CAN_RTR_FLAG),
                is_error_frame=bool(cid[i] & CAN_ERR_FLAG),
                is_fd=bool(flags[i] & FLAG_FD),
                bitrate_switch=bool(flags[i] & FLAG_BRS),
                error_state_indicator=bool(flags[i] & FLAG_ESI),
                channel=int(self.bus[i]),
                data=data[i],
                check=False,
            )


def load_log(path: Path) -> Traffic:
    """A log file through python-can, its channels numbered as buses ``can0``, ``can1``, ..."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        msgs = list(can.LogReader(path))
    channels = sorted({str(m.channel) for m in msgs})
    index = {ch: i for i, ch in enumerate(channels)}
    cid = np.array(
        [
            m.arbitration_id
            | (CAN_EFF_FLAG if m.is_extended_id else 0)
            | (CAN_RTR_FLAG if m.is_remote_frame else 0)
            | (CAN_ERR_FLAG if m.is_error_frame else 0)
            for m in msgs
        ],
        np.uint32,
    )
    flags = np.array(
        [
            (FLAG_FD if m.is_fd else 0)
            | (FLAG_BRS if m.bitrate_switch else 0)
            | (FLAG_ESI if m.error_state_indicator else 0)
            for m in msgs
        ],
        np.uint8,
    )
    ts = np.array([round(m.timestamp * 1e9) for m in msgs], np.int64)
    bus = np.array([index[str(m.channel)] for m in msgs], np.int32)
    data = pa.array([bytes(m.data) for m in msgs], pa.binary())
    order = np.argsort(ts, kind="stable")
    frames = FrameColumns(ts[order], cid[order], flags[order], data.take(pa.array(order)))
    return Traffic(path.name, frames, bus[order], [f"can{i}" for i in range(len(channels))])


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


def _subset(frames: FrameColumns, rows: npt.NDArray[np.int64]) -> FrameColumns:
    return FrameColumns(
        frames.ts[rows], frames.can_id[rows], frames.flags[rows], frames.data.take(pa.array(rows))
    )


def gateway_messages(traffic: Traffic) -> list[tuple[int, str, bytes]]:
    """CANP payloads as the gateway publishes them: per bus, at most 256 frames or 10 ms each.

    Returns ``(first frame ts, topic, payload)`` in order of the first frame's time.
    """
    out: list[tuple[int, str, bytes]] = []
    for b, name in enumerate(traffic.names):
        rows = np.flatnonzero(traffic.bus == b)
        ts = traffic.frames.ts[rows]
        start = 0
        while start < rows.size:
            stop = min(start + BATCH_FRAMES, rows.size)
            stop = start + max(1, int(np.searchsorted(ts[start:stop], ts[start] + BATCH_NS)))
            payload = encode_columns(_subset(traffic.frames, rows[start:stop]))
            out.append((int(ts[start]), TOPIC.format(bus=name), payload))
            start = stop
    out.sort(key=lambda m: m[0])
    return out


def ring_batches(
    messages: Sequence[tuple[int, str, bytes]], span_ns: int | None
) -> list[MessageBatch]:
    """Messages grouped as the ring flushes them: by ``span_ns`` of time (None: one batch)."""
    groups: dict[int, list[tuple[int, str, bytes]]] = {}
    first = messages[0][0] if messages else 0
    for m in messages:
        groups.setdefault(0 if span_ns is None else (m[0] - first) // span_ns, []).append(m)
    batches, key = [], 1
    for _, group in sorted(groups.items()):
        keys = np.arange(key, key + len(group), dtype=np.int64)
        key += len(group)
        batches.append(MessageBatch(keys, [m[1] for m in group], [m[2] for m in group]))
    return batches


def parquet_bytes(batches: Sequence[MessageBatch], hints: bool) -> tuple[int, int, float]:
    """Bytes of the ``frames`` files, number of files, and seconds to encode and write."""
    plugin = CanpPlugin(ExchangeConfig(name="probe", topic="vehicle/+/canp/#", stream="canp"))
    with tempfile.TemporaryDirectory() as tmp:
        store = ParquetStore(ParquetConfig(dir=Path(tmp)), "probe", {"sdvlog.plugin": "canp"})
        store.recover()
        total = files = 0
        elapsed = 0.0
        for batch in batches:
            t0 = time.perf_counter()
            chunks = plugin.encode(batch)
            if not hints:
                chunks = [dataclasses.replace(c, hints=None) for c in chunks]
            written = store.write(chunks)
            elapsed += time.perf_counter() - t0
            frames = [f for f in written if f.table == FRAMES]
            total += sum(f.size for f in frames)
            files += len(frames)
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
    messages = gateway_messages(traffic)
    print(f"\n{traffic.name}: {n} frames on {len(traffic.names)} bus(es)")
    print(f"  BLF {blf:6.2f} B/frame    candump .log.gz {candump:6.2f} B/frame")
    for span in spans:
        batches = ring_batches(messages, None if span is None else int(span * 1e9))
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
