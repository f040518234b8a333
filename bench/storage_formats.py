"""The same frames written each way the storage benchmark (:mod:`bench.storage`) compares, and
their bytes counted: our live path (gateway payloads, ring batches, ``CanpPlugin.encode``,
``ParquetStore`` with the QoS 1 ledger), ``sdvlog import``, and python-can's BLF, MF4 and candump
writers (the last gzipped)."""

from __future__ import annotations

import gzip
import os
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import can
import pyarrow.parquet as pq

from bench.common import VIN, open_store
from bench.traffic import Traffic, gateway_payloads, ring_batches
from canp.io.importer import LogImporter
from canp.plugin import CanpPlugin
from canp.schema import FRAMES
from logger.capture.ledger import LEDGER_KEY, digest, encode_ledger
from logger.core.config import Config, ExchangeConfig, ParquetConfig, RingbusConfig
from logger.core.message import MessageBatch
from logger.store.layout import parse_name

EXCHANGE = "can"
LIVE_FLUSH_S = 60.0
DEFAULT_FLUSH_S = RingbusConfig().flush_ms / 1000
RING_CAP = RingbusConfig().cap  # the service's default ring size
GZIP_LEVEL = 6  # what the gzip command uses by default


def frames_files(root: Path) -> list[Path]:
    """The final ``frames`` files under a store directory."""
    out: list[Path] = []
    for dirpath, _dirs, names in os.walk(root):
        if f"{os.sep}{FRAMES}" not in dirpath + os.sep:
            continue
        out.extend(Path(dirpath) / name for name in names if parse_name(name) is not None)
    return sorted(out)


def frames_bytes(root: Path) -> tuple[int, int]:
    """Bytes and number of the final ``frames`` files under a store directory."""
    files = frames_files(root)
    return sum(f.stat().st_size for f in files), len(files)


def column_bytes(files: Iterable[Path]) -> Counter[str]:
    """Compressed bytes per column over all row groups of ``files``; the rest of each file
    (footer, key-value metadata, magic) under ``(footer)``."""
    out: Counter[str] = Counter()
    for path in files:
        meta = pq.read_metadata(path)
        used = 0
        for rg in range(meta.num_row_groups):
            group = meta.row_group(rg)
            for c in range(group.num_columns):
                col = group.column(c)
                out[col.path_in_schema] += col.total_compressed_size
                used += col.total_compressed_size
        out["(footer)"] += path.stat().st_size - used
    return out


def ledger_for(batch: MessageBatch, first_mid: int) -> bytes:
    """The QoS 1 ledger the writer puts into a batch's first file (packet ids cycle 1..65535)."""
    mids = [(first_mid + i) % 65535 + 1 for i in range(len(batch))]
    hashes = [digest(t, p) for t, p in zip(batch.topics, batch.payloads, strict=True)]
    return encode_ledger(mids, hashes)


@dataclass
class Written:
    """Our Parquet for one way of writing: bytes and files of ``frames``, ledger bytes in them."""

    bytes: int
    files: int
    ledger: int = 0
    seconds: float = 0.0
    columns: Counter[str] = field(default_factory=Counter)


def live_parquet(
    traffic: Traffic, directory: Path, flush_s: float, cap: int = RING_CAP, ledger: bool = True
) -> Written:
    """The live path: gateway payloads → ring batches → ``CanpPlugin.encode`` → store."""
    ex = ExchangeConfig(name=EXCHANGE, topic="vehicle/+/canp/#", stream="canp")
    plugin = CanpPlugin(ex)
    cfg = Config(vin=VIN, exchanges=(ex,), parquet=ParquetConfig(dir=directory))
    store = open_store(cfg, ex, plugin)
    batches = ring_batches(gateway_payloads(traffic), round(flush_s * 1e9), cap)
    ledger_bytes = mid = 0
    t0 = time.perf_counter()
    for batch in batches:
        extra = {}
        if ledger:
            extra[LEDGER_KEY] = ledger_for(batch, mid)
            ledger_bytes += len(extra[LEDGER_KEY])
            mid += len(batch)
        store.publish(store.write(plugin.encode(batch), extra))
    seconds = time.perf_counter() - t0
    size, files = frames_bytes(directory / EXCHANGE)
    columns = column_bytes(frames_files(directory / EXCHANGE))
    return Written(size, files, ledger_bytes, seconds, columns)


def imported_parquet(path: Path, directory: Path, time_unit: str | None = None) -> Written:
    """``sdvlog import [--time-unit UNIT]``: :class:`LogImporter` on the log file."""
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        LogImporter(directory, EXCHANGE, vin=VIN, time_unit=time_unit).import_file(path)
    seconds = time.perf_counter() - t0
    size, files = frames_bytes(directory / EXCHANGE)
    return Written(size, files, seconds=seconds)


def python_can_file(traffic: Traffic, path: Path, writer: Callable[[Path], can.Listener]) -> int:
    """Write every frame with a python-can writer; returns the file's size."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = writer(path)
        try:
            for msg in traffic.messages():
                out.on_message_received(msg)
        finally:
            out.stop()
    return path.stat().st_size


def gzip_file(path: Path, level: int = GZIP_LEVEL) -> Path:
    """``gzip -<level>`` of a file (mtime 0 in the header); returns the ``.gz`` path."""
    target = path.with_name(path.name + ".gz")
    with path.open("rb") as src, gzip.GzipFile(target, "wb", level, mtime=0) as dst:
        shutil.copyfileobj(src, dst, 1 << 20)
    return target


@dataclass
class Sizes:
    """Bytes of the same frames in each format."""

    name: str
    frames: int
    buses: int
    seconds: float
    blf: int = 0
    mf4: int | None = None
    candump_gz: int = 0
    live_1s: Written | None = None
    live_60s: Written | None = None
    live_60s_bare: Written | None = None  # the same without the QoS 1 ledger
    imported: Written | None = None
    import_ns: Written | None = None  # the same with time_unit = ns
    notes: list[str] = field(default_factory=list)

    def per_frame(self, n: int | None) -> float | None:
        return None if n is None else n / self.frames


def measure(traffic: Traffic, tmp: Path) -> Sizes:
    """Every format for one source (files go to ``tmp``, removed afterwards)."""
    work = tmp / f"s{abs(hash(traffic.name))}"
    work.mkdir()
    s = Sizes(traffic.name, len(traffic), len(traffic.names), traffic.seconds)
    try:
        blf_path = work / "frames.blf"
        s.blf = python_can_file(traffic, blf_path, can.BLFWriter)
        try:
            s.mf4 = python_can_file(traffic, work / "frames.mf4", can.MF4Writer)
        except Exception as exc:  # asammdf missing or refusing: reported, the rest goes on
            s.notes.append(f"{traffic.name}: MF4 not written: {type(exc).__name__}: {exc}")
        log_path = work / "frames.log"
        python_can_file(traffic, log_path, can.CanutilsLogWriter)
        s.candump_gz = gzip_file(log_path).stat().st_size
        s.live_1s = live_parquet(traffic, work / "live1", DEFAULT_FLUSH_S)
        s.live_60s = live_parquet(traffic, work / "live60", LIVE_FLUSH_S)
        s.live_60s_bare = live_parquet(traffic, work / "bare60", LIVE_FLUSH_S, ledger=False)
        source = traffic.source if traffic.source is not None else blf_path
        s.imported = imported_parquet(source, work / "import")
        s.import_ns = imported_parquet(source, work / "import_ns", "ns")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return s
