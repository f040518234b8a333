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

The writing and counting is in :mod:`bench.storage_formats`; this module picks the traffic,
measures it and reports.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence

from bench.common import scratch_dir
from bench.report import Report
from bench.storage_formats import (
    DEFAULT_FLUSH_S,
    GZIP_LEVEL,
    LIVE_FLUSH_S,
    RING_CAP,
    Sizes,
    Written,
    measure,
)
from bench.traffic import Traffic, load_log, real_logs, simulated
from canp.io.importer import CHUNK_FRAMES

log = logging.getLogger(__name__)

TARGET_RATIO = 0.5
QUICK_LOGS = ("kona_ev_bms_idle_30sec.asc", "hyundai_kona_turnonlog.trc")
SIM_SECONDS = (120.0, 600.0)
QUICK_SIM_SECONDS = (120.0,)


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
