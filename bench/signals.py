"""A signal question over a long simulated drive: our query engine, DuckDB SQL, and python-can +
cantools as engineers script it today.

The store: simulated demo traffic (``hw.simulate`` on ``dbc/examples/demo.dbc``, ~411 frames/s)
in one-hour drives (seeds 1, 2, …, generated in parallel, back to back in time) until it holds
:data:`FRAMES_FULL` frames (``--quick``: :data:`FRAMES_QUICK`), written as the importer writes a
log with a DBC: 100,000-frame chunks, ``frames`` plus ``signals/message=<Name>``
(:meth:`canp.plugin.CanpPlugin.signal_chunks`) through ``ParquetStore.write`` + ``publish``.

The question: *when did the engine rev above 4000 rpm while the car was slower than 40 km/h?*
(``EngineSpeed`` of EngineData at 100 Hz, ``VehicleSpeed`` of BrakeStatus at 50 Hz; "while
VehicleSpeed < 5" has no match in the simulated drive: it never revs above ~1,400 rpm when
stopped.) Answered over the full range and a 10-minute window:

(a) ``Answerer`` over the store (``logger.cli.answers.offline_source`` with the DBC): ``where=…``
    (rows) and ``where=…;out=intervals``;
(b) DuckDB SQL over the same Parquet files: the distinct sample times of both tables, each signal
    held by an ``ASOF LEFT JOIN``, runs of matching rows by the gaps-and-islands row numbers;
    the same 10 s lead-in before the window as ours (:data:`canp.plugin.SIGNAL_LEAD_NS`);
(c) a BLF of the first :data:`BLF_FRAMES_FULL` frames of the same drive, read with python-can,
    each EngineData/BrakeStatus frame decoded with cantools, held values and runs in Python; its
    time is extrapolated linearly to the whole store (said so in the table).

(a) and (b) must agree (rows and intervals, every window); (c) must agree with (a) on its range.

The store is written by :mod:`bench.signals_store`, the three answers come from
:mod:`bench.signals_engines`; this module times them, compares them and reports.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from statistics import median

import duckdb
import pyarrow as pa

from bench.common import scratch_dir
from bench.decode import DEMO_DBC
from bench.report import Report
from bench.signals_engines import (
    ENGINE,
    KMH_BELOW,
    RPM_ABOVE,
    SPEED,
    ask,
    command,
    duckdb_sql,
    scripted,
    write_blf,
)
from bench.signals_store import EXCHANGE, write_store
from logger.cli.answers import offline_source

log = logging.getLogger(__name__)

FRAMES_FULL = 10_000_000
FRAMES_QUICK = 1_000_000
BLF_FRAMES_FULL = 1_000_000
BLF_FRAMES_QUICK = 200_000
RUNS_FULL = 7
RUNS_QUICK = 3
WINDOW_S = 600
TARGET_MS = 200.0


def timed(fn: Callable[[], pa.Table], runs: int) -> tuple[list[float], pa.Table]:
    ms: list[float] = []
    result = pa.table({})
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, result


def as_tuples(table: pa.Table, columns: list[str]) -> list[tuple[object, ...]]:
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    n = FRAMES_QUICK if quick else FRAMES_FULL
    n_blf = BLF_FRAMES_QUICK if quick else BLF_FRAMES_FULL
    runs = RUNS_QUICK if quick else RUNS_FULL
    report = Report("signals", quick, profiled=profile)
    question = f"{ENGINE[1]} > {RPM_ABOVE:g} while {SPEED[1]} < {KMH_BELOW:g}"
    report.context.update(
        {
            "frames": n,
            "blf_frames": n_blf,
            "runs": runs,
            "question": question,
            "duckdb": duckdb.__version__,
        }
    )
    if profile:
        report.notes.append("--profile is not used by this benchmark")
    with scratch_dir(keep) as tmp:
        log.info("writing %d frames ...", n)
        store = write_store(tmp / "store", n)
        size = sum(f.stat().st_size for f in store.dir.rglob("*.parquet"))
        gen = report.table(
            "store (simulated demo drives → frames + signals/message=<Name>, ParquetStore)",
            "frames", "drives", "span h", "EngineData rows", "BrakeStatus rows", "disk MB", "write s",
        )  # fmt: skip
        gen.add(
            n, store.drives, (store.last_ns - store.first_ns) / 3.6e12,
            store.signal_rows.get(ENGINE[0], 0), store.signal_rows.get(SPEED[0], 0),
            size / 1e6, store.seconds,
        )  # fmt: skip

        source = offline_source(store.dir, EXCHANGE, None, None, DEMO_DBC)
        con = duckdb.connect()
        mid = (store.first_ns + store.last_ns) // 2
        windows = [
            ("full range", store.first_ns, store.last_ns),
            ("10-minute window", mid, mid + WINDOW_S * 1_000_000_000),
        ]
        lat = report.table(
            f"'{question}' (ms over {runs} runs)",
            "window", "engine", "out", "median ms", "min ms", "max ms", "result rows",
        )  # fmt: skip
        for label, lo, hi in windows:
            cmd_lo, cmd_hi = lo // 1_000_000 * 1_000_000, -(-hi // 1_000_000) * 1_000_000 + 999_999
            for intervals in (True, False):
                out = "intervals" if intervals else "rows"
                text = command(lo, hi, intervals)
                ours_ms, ours = timed(lambda t=text: ask(source, t), runs)  # type: ignore[misc]
                sql = duckdb_sql(store.dir, cmd_lo, cmd_hi, intervals)
                duck_ms, duck = timed(lambda s=sql: con.sql(s).arrow().read_all(), runs)  # type: ignore[misc]
                lat.add(label, "ours (Answerer)", out, median(ours_ms), min(ours_ms), max(ours_ms), ours.num_rows)  # fmt: skip
                lat.add(label, "DuckDB SQL", out, median(duck_ms), min(duck_ms), max(duck_ms), duck.num_rows)  # fmt: skip
                report.target(f"ours, {label}, out={out}: median", median(ours_ms), "<=", TARGET_MS, "ms")  # fmt: skip
                cols = ["start", "end", "rows"] if intervals else ["ts", SPEED[1], ENGINE[1]]
                if as_tuples(ours, cols) != as_tuples(duck, cols):
                    report.failures.append(
                        f"{label}, out={out}: ours {ours.num_rows} rows, DuckDB {duck.num_rows} "
                        "rows: the answers differ"
                    )
                else:
                    report.notes.append(f"{label}, out={out}: ours and DuckDB agree ({ours.num_rows} rows)")  # fmt: skip
                if intervals and ours.num_rows == 0:
                    report.failures.append(f"{label}: no interval matches: pick another question")

        # (c) today's way, on the first n_blf frames, extrapolated.
        blf = tmp / "drive.blf"
        t0 = time.perf_counter()
        write_blf(blf, n_blf)
        blf_write_s = time.perf_counter() - t0
        sc = scripted(blf)
        scale = n / sc.frames
        today = report.table(
            f"today's way: python-can BLFReader + cantools decode_message + Python loop "
            f"(measured on the first {sc.frames:,} frames; 'x{scale:g}' extrapolated linearly)",
            "frames", "BLF MB", "read s", "decode s", "filter s", "total s", f"x{scale:g} s", "intervals",
        )  # fmt: skip
        today.add(
            sc.frames, blf.stat().st_size / 1e6, sc.read_s, sc.decode_s, sc.filter_s,
            sc.seconds, sc.seconds * scale, len(sc.intervals),
        )  # fmt: skip
        report.notes.append(f"writing the BLF of {sc.frames:,} frames took {blf_write_s:.1f} s")
        same = ask(source, command(sc.first_ns, sc.last_ns, True))
        # Ours reads from the ms boundaries around the BLF's range; keep runs inside it.
        ours_runs = [r for r in as_tuples(same, ["start", "end", "rows"]) if sc.first_ns <= int(r[0]) <= sc.last_ns]  # type: ignore[call-overload]  # fmt: skip
        if ours_runs != [tuple(r) for r in sc.intervals]:
            report.failures.append(
                f"python-can + cantools found {len(sc.intervals)} intervals on the BLF's range, "
                f"ours {len(ours_runs)}"
            )
        else:
            report.notes.append(
                "python-can + cantools and ours agree on the BLF's range "
                f"({len(sc.intervals)} intervals)"
            )
        full_ours = median([float(r[3] or 0) for r in lat.rows if r[0] == "full range" and str(r[1]).startswith("ours") and r[2] == "intervals"])  # fmt: skip
        if full_ours > 0:
            report.notes.append(
                f"full range, intervals: ours {full_ours:.0f} ms vs today's way ~{sc.seconds * scale:.0f} s "
                f"(extrapolated): ~{sc.seconds * scale * 1000 / full_ours:,.0f}x"
            )
    return report
