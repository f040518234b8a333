"""The fleet lake: one signal-range question over 10 vehicles x 1 M frames (``--quick``: 100 k),
answered by DuckDB and by Spark (``local[2]``) over the lake's Iceberg catalog, and by our own
engine per vehicle (summed), all reading the same Parquet files from a local lake directory.

The fleet: one simulated drive of the demo DBC (``hw.simulate``, seed 1, ~411 frames/s), stored
as the CANP exchange stores it (``frames`` plus ``signals/message=<Name>``, µs ``ts``) once per
vehicle under its own VIN (the files carry the VIN in their metadata), vehicle *i* shifted by *i*
hours; the stores are copied into the lake layout and registered (``logger.lake.catalog``).

The question (:data:`QUESTION`): *when did the engine rev above 1200 rpm while the car was slower
than 40 km/h?*, ``out=intervals`` over the whole range. The three answers must agree per vehicle.
Spark's session start (JVM) is timed apart; DuckDB and Spark run on the machine's cores, ours one
vehicle after another in this process.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from statistics import median

import pyarrow as pa
import pyarrow.compute as pc

from bench.common import open_store, scratch_dir
from bench.decode import DEMO_DBC, simulated_frames
from bench.report import Report
from bench.signals_engines import ask
from canp.plugin import CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN
from logger.cli.answers import offline_source
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.lake.catalog import open_catalog, register
from logger.lake.engines import DuckDbEngine, Engine, SparkEngine
from logger.lake.query import Fleet
from logger.lake.source import LakeSource
from logger.store.chunk import TableChunk

log = logging.getLogger(__name__)

VEHICLES = 10
FRAMES_FULL = 1_000_000
FRAMES_QUICK = 100_000
RUNS_FULL = 3
RUNS_QUICK = 2
FRAMES_PER_S = 411.0
START_S = 1_717_200_000.0  # 2024-06-01T00:00:00Z
CHUNK = 100_000
EXCHANGE = "can"
QUESTION = "where=EngineSpeed>1200,VehicleSpeed<40;out=intervals"


def _write_vehicle(root: Path, vin: str, frames: pa.Table) -> None:
    ex = ExchangeConfig(name=EXCHANGE, topic="", stream="canp", dbc=DEMO_DBC)
    plugin = CanpPlugin(ex)
    store = open_store(
        Config(vin=vin, exchanges=(ex,), parquet=ParquetConfig(dir=root / vin)), ex, plugin
    )
    for offset in range(0, frames.num_rows, CHUNK):
        part = frames.slice(offset, CHUNK)
        chunks = [
            TableChunk(FRAMES, part, TIME_COLUMN, plugin.frames_hints),
            *plugin.signal_chunks(part),
        ]
        store.publish(store.write(chunks))


def _to_lake(lake: Path, store_dir: Path, vin: str) -> None:
    for path in store_dir.rglob("*.parquet"):
        target = lake / f"vehicle={vin}" / f"exchange={path.relative_to(store_dir).as_posix()}"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.hardlink_to(path)  # the lake's copy: the same bytes


def _timed(fn: Callable[[], pa.Table], runs: int) -> tuple[list[float], pa.Table]:
    ms: list[float] = []
    result = pa.table({})
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn()
        ms.append((time.perf_counter() - t0) * 1000)
    return ms, result


def _per_vehicle(table: pa.Table, vin: str) -> list[tuple[object, ...]]:
    rows = (
        table.filter(pc.equal(table.column("vehicle"), vin))
        if "vehicle" in table.column_names
        else table
    )
    return list(zip(*(rows.column(c).to_pylist() for c in ("start", "end", "rows")), strict=True))


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    n = FRAMES_QUICK if quick else FRAMES_FULL
    runs = RUNS_QUICK if quick else RUNS_FULL
    report = Report("lake", quick, profiled=profile)
    report.context.update(
        {"vehicles": VEHICLES, "frames_per_vehicle": n, "runs": runs, "question": QUESTION}
    )
    with scratch_dir(keep) as tmp:
        t0 = time.perf_counter()
        drive = simulated_frames(n / FRAMES_PER_S + 2.0, 1, START_S).slice(0, n)
        vins = [f"BENCHVIN{i:08d}" for i in range(VEHICLES)]
        for i, vin in enumerate(vins):
            shifted = pc.add(
                drive.column(TIME_COLUMN), pa.scalar(i * 3_600_000_000_000, pa.int64())
            )
            _write_vehicle(tmp / "stores", vin, drive.set_column(0, TIME_COLUMN, shifted))
            _to_lake(tmp / "lake", tmp / "stores" / vin, vin)
        write_s = time.perf_counter() - t0
        source = LakeSource(root=tmp / "lake")
        t0 = time.perf_counter()
        result = register(open_catalog(tmp / "catalog", source, create=True), source)
        register_s = time.perf_counter() - t0
        files = sum(result.added.values())
        fleet = Fleet(open_catalog(tmp / "catalog", source))
        setup = report.table(
            "fleet (simulated demo drive per vehicle, stored as the CANP exchange stores it)",
            "vehicles", "frames", "files", "disk MB", "write s", "register s",
        )  # fmt: skip
        size = sum(p.stat().st_size for p in (tmp / "lake").rglob("*.parquet"))
        setup.add(VEHICLES, VEHICLES * n, files, size / 1e6, write_s, register_s)
        end_ms = int(START_S * 1000) + VEHICLES * 3_600_000 + 3_600_000
        text = f"sync-0-{end_ms};{QUESTION}"

        sources = {
            vin: offline_source(tmp / "stores" / vin, EXCHANGE, None, None, DEMO_DBC)
            for vin in vins
        }

        def ours() -> pa.Table:
            return _stack(vins, [ask(sources[vin], text) for vin in vins])

        timings: dict[str, tuple[list[float], pa.Table]] = {}
        duck = DuckDbEngine(source)
        timings["DuckDB (lake SQL)"] = _timed(lambda: fleet.answer(text, duck), runs)
        duck.close()
        t0 = time.perf_counter()
        spark: Engine = SparkEngine(source)
        spark_start_s = time.perf_counter() - t0
        timings["Spark local[2] (lake SQL)"] = _timed(lambda: fleet.answer(text, spark), runs)
        spark.close()
        timings["ours, per vehicle summed"] = _timed(ours, runs)

        peer = median(timings["DuckDB (lake SQL)"][0])
        lat = report.table(
            f"'{QUESTION}' over {VEHICLES} vehicles x {n:,} frames (ms over {runs} runs; ratio: median / DuckDB's)",
            "engine", "median ms", "min ms", "max ms", "intervals", "x DuckDB",
        )  # fmt: skip
        for name, (ms, answer) in timings.items():
            lat.add(name, median(ms), min(ms), max(ms), answer.num_rows, median(ms) / peer)
        report.notes.append(
            f"Spark session start (JVM, local[2]): {spark_start_s:.1f} s, not in the figures"
        )
        want = timings["ours, per vehicle summed"][1]
        for name, (_, answer) in timings.items():
            bad = [v for v in vins if _per_vehicle(answer, v) != _per_vehicle(want, v)]
            if bad:
                report.failures.append(f"{name}: answers differ from ours for {', '.join(bad)}")
        if not report.failures:
            report.notes.append(f"all three agree per vehicle ({want.num_rows} intervals)")
        if profile:
            report.notes.append("--profile is not used by this benchmark")
    return report


def _stack(vins: list[str], parts: list[pa.Table]) -> pa.Table:
    tables = [
        p.add_column(0, "vehicle", pa.array([vin] * p.num_rows, pa.string()))
        for vin, p in zip(vins, parts, strict=True)
    ]
    return pa.concat_tables(tables)
