"""Bytes per CAN frame: our ``frames`` Parquet next to BLF, MF4 and candump ``.log.gz``.

For each real log in :data:`bench.traffic.LOG_DIR` (absent ones are skipped with a note) and for
simulated traffic from the demo DBC, the same frames are written:

* as the live path writes them: cut into CANP payloads per bus as the gateway does (256 frames or
  10 ms), grouped into ring batches as the Ringbus flushes them (by age ``flush_ms``, at most
  ``cap`` messages), each batch through ``CanpPlugin.encode`` and ``ParquetStore.write`` (zstd,
  the plugin's write hints) with the QoS 1 ledger the writer adds to each batch's first file.
  Once with the batches a 60 s flush gives, once with the default 1 s flush;
* as ``sdvlog import`` writes them: :class:`canp.io.importer.LogImporter` on the log file (for
  simulated traffic: on the BLF written here), 100,000-frame batches; times in µs (the CANP
  default), and once more with ``--time-unit ns``;
* by python-can's writers: ``BLFWriter`` (its default zlib level), ``MF4Writer`` (asammdf, its
  default), ``CanutilsLogWriter`` then ``gzip -6`` (candump ``-L`` text, gzipped).

Only the ``frames`` table's files count for ours (the files as stored, footers included).
"""

from __future__ import annotations

import gzip
import logging
import os
import shutil
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import can
import pyarrow.parquet as pq

from bench.common import VIN, scratch_dir
from bench.report import Report
from bench.traffic import (
    Traffic,
    gateway_payloads,
    load_log,
    real_logs,
    ring_batches,
    simulated,
)
from canp.io.importer import CHUNK_FRAMES, LogImporter
from canp.plugin import CanpPlugin
from canp.schema import FRAMES
from logger.capture.ledger import LEDGER_KEY, digest, encode_ledger
from logger.core.config import Config, ExchangeConfig, ParquetConfig, RingbusConfig
from logger.core.message import MessageBatch
from logger.store.layout import parse_name
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore

log = logging.getLogger(__name__)

EXCHANGE = "can"
LIVE_FLUSH_S = 60.0
DEFAULT_FLUSH_S = RingbusConfig().flush_ms / 1000
RING_CAP = RingbusConfig().cap  # the service's default ring size
GZIP_LEVEL = 6  # what the gzip command uses by default
TARGET_RATIO = 0.5
QUICK_LOGS = ("kona_ev_bms_idle_30sec.asc", "hyundai_kona_turnonlog.trc")
SIM_SECONDS = (120.0, 600.0)
QUICK_SIM_SECONDS = (120.0,)


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


def _store(directory: Path, plugin: CanpPlugin, ex: ExchangeConfig) -> ParquetStore:
    cfg = Config(vin=VIN, exchanges=(ex,), parquet=ParquetConfig(dir=directory))
    store = ParquetStore(cfg.parquet, ex.name, file_metadata(cfg, ex, plugin))
    store.recover()
    return store


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
    store = _store(directory, plugin, ex)
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


def sources(quick: bool) -> tuple[list[Callable[[], Traffic]], list[str]]:
    """Loaders of the measured traffic (loaded one at a time), and notes on skipped logs."""
    paths, notes = real_logs(QUICK_LOGS if quick else None)
    loaders: list[Callable[[], Traffic]] = [lambda p=p: load_log(p) for p in paths]  # type: ignore[misc]
    for seconds in QUICK_SIM_SECONDS if quick else SIM_SECONDS:
        loaders.append(lambda s=seconds: simulated(s))  # type: ignore[misc]
    return loaders, notes


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("storage", quick, profiled=False)
    if profile:
        report.notes.append("--profile is not used by this benchmark (it measures sizes)")
    report.context.update(
        {
            "compress": "zstd",
            "hints": "canp.plugin.FRAMES_HINTS",
            "time_unit": "us (CANP default); 'ns times': the same import with --time-unit ns",
            "gateway_batch": "256 frames / 10 ms",
            "ring_cap": RING_CAP,
            "import_chunk_frames": CHUNK_FRAMES,
            "gzip_level": GZIP_LEVEL,
        }
    )
    loaders, skipped = sources(quick)
    report.notes.extend(skipped)
    results: list[Sizes] = []
    with scratch_dir(keep) as tmp:
        for load in loaders:
            try:
                traffic = load()
            except Exception as exc:  # an unreadable log is reported and skipped
                report.notes.append(f"cannot read a log: {type(exc).__name__}: {exc}")
                continue
            log.info("storage: %s, %d frames", traffic.name, len(traffic))
            results.append(measure(traffic, tmp))
    _tables(report, results)
    return report


def _ratio(ours: Written | None, base: int) -> float | None:
    return None if ours is None else ours.bytes / base


def _tables(report: Report, results: Iterable[Sizes]) -> None:
    rows = list(results)
    sizes = report.table(
        "bytes per frame (frames table only for ours; zstd)",
        "traffic", "frames", "buses", "seconds", "BLF", "MF4", "candump .log.gz",
        f"live {DEFAULT_FLUSH_S:g} s flush", f"live {LIVE_FLUSH_S:g} s flush",
        "  of it QoS 1 ledger", "import 100k", "import 100k, ns times",
    )  # fmt: skip
    ratios = report.table(
        "ours / BLF (target <= 0.5) and files written",
        "traffic", f"live {DEFAULT_FLUSH_S:g} s / BLF", f"live {LIVE_FLUSH_S:g} s / BLF",
        "import / BLF", "import ns / BLF", "MF4 / BLF", ".log.gz / BLF",
        f"files {DEFAULT_FLUSH_S:g} s", f"files {LIVE_FLUSH_S:g} s", "files import",
    )  # fmt: skip
    totals = {
        "frames": 0, "blf": 0, "live_1s": 0, "live_60s": 0, "bare_60s": 0, "ledger_raw": 0,
        "imported": 0, "import_ns": 0,
    }  # fmt: skip
    for s in rows:
        assert s.live_1s and s.live_60s and s.live_60s_bare and s.imported and s.import_ns
        sizes.add(
            s.name,
            s.frames,
            s.buses,
            s.seconds,
            s.blf / s.frames,
            s.per_frame(s.mf4),
            s.candump_gz / s.frames,
            s.live_1s.bytes / s.frames,
            s.live_60s.bytes / s.frames,
            (s.live_60s.bytes - s.live_60s_bare.bytes) / s.frames,
            s.imported.bytes / s.frames,
            s.import_ns.bytes / s.frames,
        )
        ratios.add(
            s.name,
            _ratio(s.live_1s, s.blf),
            _ratio(s.live_60s, s.blf),
            _ratio(s.imported, s.blf),
            _ratio(s.import_ns, s.blf),
            None if s.mf4 is None else s.mf4 / s.blf,
            s.candump_gz / s.blf,
            s.live_1s.files,
            s.live_60s.files,
            s.imported.files,
        )
        totals["frames"] += s.frames
        totals["blf"] += s.blf
        totals["live_1s"] += s.live_1s.bytes
        totals["live_60s"] += s.live_60s.bytes
        totals["bare_60s"] += s.live_60s_bare.bytes
        totals["ledger_raw"] += s.live_60s.ledger
        totals["imported"] += s.imported.bytes
        totals["import_ns"] += s.import_ns.bytes
        report.notes.extend(s.notes)
    if not rows:
        report.failures.append("no traffic could be measured")
        return
    _column_table(report, rows)
    blf = totals["blf"]
    ratios.add(
        "all (bytes summed)",
        totals["live_1s"] / blf,
        totals["live_60s"] / blf,
        totals["imported"] / blf,
        totals["import_ns"] / blf,
        None,
        None,
        None,
        None,
        None,
    )
    worst_live = max(rows, key=lambda s: s.live_60s.bytes / s.blf if s.live_60s else 0)
    worst_import = max(rows, key=lambda s: s.imported.bytes / s.blf if s.imported else 0)
    assert worst_live.live_60s is not None and worst_import.imported is not None
    report.target(
        f"live path, {LIVE_FLUSH_S:g} s flush, worst traffic ({worst_live.name}) / BLF",
        worst_live.live_60s.bytes / worst_live.blf,
        "<=",
        TARGET_RATIO,
        "x BLF",
    )
    report.target(
        f"sdvlog import, worst traffic ({worst_import.name}) / BLF",
        worst_import.imported.bytes / worst_import.blf,
        "<=",
        TARGET_RATIO,
        "x BLF",
    )
    if totals["ledger_raw"]:
        cost = totals["live_60s"] - totals["bare_60s"]
        report.notes.append(
            f"the QoS 1 ledger (about 5 B per message, "
            f"{totals['ledger_raw'] / totals['frames']:.2f} B/frame) adds "
            f"{cost / totals['frames']:.2f} B/frame to the files (the sdvlog.ledger footer key); "
            f"without it the 60 s flush stores {totals['bare_60s'] / blf:.2f} x BLF"
        )
    report.notes.append(
        f"the default {DEFAULT_FLUSH_S:g} s flush (not a target here) stores "
        f"{totals['live_1s'] / blf:.2f} x BLF over all traffic, the {LIVE_FLUSH_S:g} s flush "
        f"{totals['live_60s'] / blf:.2f} x"
    )


#: The frames table's columns as the column table shows them (the six flags together); the
#: columns the store adds of its own (``_tie`` today) go to "store".
_COLUMN_GROUPS = {
    "ts": ("ts",),
    "bus": ("bus",),
    "id": ("id",),
    "flags": ("extended", "remote", "error", "fd", "brs", "esi"),
    "dlc": ("dlc",),
    "data": ("data",),
    "footer": ("(footer)",),
}


def _column_table(report: Report, rows: Sequence[Sizes]) -> None:
    """Where the bytes of the live 60 s files go (footer: Parquet footer + key-value metadata,
    so the QoS 1 ledger and the Arrow schema that repeats it)."""
    t = report.table(
        f"live {LIVE_FLUSH_S:g} s flush: bytes per frame by column (footer: the Parquet footer "
        "with the key-value metadata, so the QoS 1 ledger; store: columns the store adds)",
        "traffic", *_COLUMN_GROUPS, "store", "total",
    )  # fmt: skip
    named = {c for group in _COLUMN_GROUPS.values() for c in group}
    for s in rows:
        assert s.live_60s is not None
        cols = s.live_60s.columns
        per = [sum(cols[c] for c in group) / s.frames for group in _COLUMN_GROUPS.values()]
        store = sum(n for c, n in cols.items() if c not in named) / s.frames
        t.add(s.name, *per, store, s.live_60s.bytes / s.frames)
