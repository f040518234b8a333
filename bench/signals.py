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
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from statistics import median

import can
import duckdb
import pyarrow as pa

from bench.common import scratch_dir
from bench.decode import DEMO_DBC, frames_table
from bench.report import Report
from canp.plugin import FRAMES_HINTS, SIGNAL_LEAD_NS, CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN
from dbc.load import load_database
from hw.simulate import Simulator, load_dbc
from logger.cli.answers import offline_source
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.query.answer import Answerer, StoreSource, parse_for
from logger.query.client import Reply, parse_end, read_frame
from logger.store.chunk import TableChunk
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore

log = logging.getLogger(__name__)

EXCHANGE = "drive"
FRAMES_FULL = 10_000_000
FRAMES_QUICK = 1_000_000
BLF_FRAMES_FULL = 1_000_000
BLF_FRAMES_QUICK = 200_000
DRIVE_S = 3600.0
FRAMES_PER_S = 411.0  # demo.dbc traffic: 24,660 frames per simulated minute
START_S = 1_717_200_000.0  # 2024-06-01T00:00:00Z
CHUNK = 100_000
RUNS_FULL = 7
RUNS_QUICK = 3
WINDOW_S = 600
TARGET_MS = 200.0

ENGINE, SPEED = ("EngineData", "EngineSpeed"), ("BrakeStatus", "VehicleSpeed")
RPM_ABOVE = 4000.0
KMH_BELOW = 40.0
WHERE = f"where={SPEED[1]}<{KMH_BELOW:g},{ENGINE[1]}>{RPM_ABOVE:g}"


# --------------------------------------------------------------------------- the store


def _drive(seed: int, start_s: float, seconds: float) -> pa.Table:
    sim = Simulator(load_dbc(DEMO_DBC), None, seed=seed)
    return frames_table(sim.frames(seconds, start=start_s))


@dataclass
class Store:
    dir: Path
    frames: int
    first_ns: int
    last_ns: int
    drives: int
    seconds: float
    signal_rows: dict[str, int]


def write_store(store_dir: Path, n: int) -> Store:
    """``n`` frames of one-hour simulated drives, written as ``sdvlog import --dbc`` would."""
    ex = ExchangeConfig(name=EXCHANGE, topic="", stream="canp", dbc=DEMO_DBC)
    parquet = ParquetConfig(dir=store_dir)
    plugin = CanpPlugin(ex)
    meta = file_metadata(Config(vin="BENCH", exchanges=(ex,), parquet=parquet), ex, plugin)
    store = ParquetStore(parquet, EXCHANGE, meta)
    store.recover()
    per_drive = int(DRIVE_S * FRAMES_PER_S)
    drives = math.ceil(n / per_drive)
    jobs = []
    for i in range(drives):
        left = n - i * per_drive
        seconds = DRIVE_S if left >= per_drive else math.ceil(left / FRAMES_PER_S) + 2.0
        jobs.append((i + 1, START_S + i * DRIVE_S, seconds))
    t0 = time.monotonic()
    written = 0
    rows: dict[str, int] = {}
    first = last = 0
    with ProcessPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        futures = [pool.submit(_drive, *job) for job in jobs]
        for future in futures:
            table = future.result()
            table = table.slice(0, n - written)
            for offset in range(0, table.num_rows, CHUNK):
                part = table.slice(offset, CHUNK)
                signals = plugin.signal_chunks(part)
                chunks = [TableChunk(FRAMES, part, TIME_COLUMN, FRAMES_HINTS), *signals]
                store.publish(store.write(chunks))
                for chunk in signals:
                    name = chunk.name.rpartition("=")[2]
                    rows[name] = rows.get(name, 0) + chunk.table.num_rows
            if not written:
                first = int(table.column(TIME_COLUMN)[0].as_py())
            last = int(table.column(TIME_COLUMN)[-1].as_py())
            written += table.num_rows
            log.info("stored %d of %d frames", written, n)
    if written != n:
        raise RuntimeError(f"generated {written} frames, wanted {n}")
    return Store(store_dir, n, first, last, drives, time.monotonic() - t0, rows)


# --------------------------------------------------------------------------- (a) ours


def ask(source: StoreSource, text: str) -> pa.Table:
    reply = Reply()
    for frame in Answerer(source).answer(parse_for(source.plugin, text)):
        if frame[:2] == b"\x0b\xad":
            reply.disk, reply.memory, reply.message = parse_end(frame)
        else:
            reply.tables.append(read_frame(frame))
    if not reply.ok:
        raise RuntimeError(f"{text}: end codes {reply.disk},{reply.memory} {reply.message}")
    return reply.table()


def command(start_ns: int, end_ns: int, intervals: bool) -> str:
    # The query range is in ms (inclusive): round outwards so the window holds [start, end].
    lo, hi = start_ns // 1_000_000, -(-end_ns // 1_000_000)
    return f"sync-{lo}-{hi};{WHERE}" + (";out=intervals" if intervals else "")


# --------------------------------------------------------------------------- (b) DuckDB


def _glob(store_dir: Path, message: str) -> str:
    return str(store_dir / EXCHANGE / "signals" / f"message={message}" / "**" / "*.parquet")


def _tstz(ns: int, up: bool = False) -> str:
    """A TIMESTAMPTZ literal for a time in ns (the files store µs: round ``up`` for a lower bound),
    so that DuckDB prunes row groups by the column's own statistics."""
    us = -(-ns // 1000) if up else ns // 1000
    moment = datetime.fromtimestamp(us // 1_000_000, UTC).replace(microsecond=us % 1_000_000)
    return f"TIMESTAMPTZ '{moment:%Y-%m-%d %H:%M:%S.%f}+00'"


def duckdb_sql(store_dir: Path, start_ns: int, end_ns: int, intervals: bool) -> str:
    """The question in SQL, with our semantics (sample-and-hold at every distinct sample time)."""
    lead = start_ns - SIGNAL_LEAD_NS
    tail = (
        """
    , runs AS (SELECT ts, rn - row_number() OVER (ORDER BY ts) AS grp FROM flagged WHERE hit)
    SELECT epoch_ns(min(ts)) AS "start", epoch_ns(max(ts)) AS "end", count(*) AS "rows",
           epoch_ns(max(ts)) - epoch_ns(min(ts)) AS duration_ns
    FROM runs GROUP BY grp ORDER BY "start"
    """
        if intervals
        else f"""
    SELECT epoch_ns(ts) AS ts, {SPEED[1]}, {ENGINE[1]} FROM flagged WHERE hit ORDER BY ts
    """
    )
    return f"""
    WITH e AS (
        SELECT ts, {ENGINE[1]} FROM read_parquet('{_glob(store_dir, ENGINE[0])}')
        WHERE ts BETWEEN {_tstz(lead, up=True)} AND {_tstz(end_ns)}),
    v AS (
        SELECT ts, {SPEED[1]} FROM read_parquet('{_glob(store_dir, SPEED[0])}')
        WHERE ts BETWEEN {_tstz(lead, up=True)} AND {_tstz(end_ns)}),
    t AS (SELECT ts FROM e WHERE ts >= {_tstz(start_ns, up=True)}
           UNION SELECT ts FROM v WHERE ts >= {_tstz(start_ns, up=True)}),
    aligned AS (
        SELECT t.ts, e.{ENGINE[1]}, v.{SPEED[1]}
        FROM t ASOF LEFT JOIN e ON t.ts >= e.ts ASOF LEFT JOIN v ON t.ts >= v.ts),
    flagged AS (
        SELECT ts, {SPEED[1]}, {ENGINE[1]},
               coalesce({SPEED[1]} < {KMH_BELOW} AND {ENGINE[1]} > {RPM_ABOVE}, false) AS hit,
               row_number() OVER (ORDER BY ts) AS rn
        FROM aligned)
    {tail}"""


# --------------------------------------------------------------------------- (c) python-can + cantools


def write_blf(path: Path, n: int) -> int:
    """The first ``n`` frames of drive 1 (the same frames as the store's start) as a BLF."""
    sim = Simulator(load_dbc(DEMO_DBC), None, seed=1)
    written = 0
    with can.BLFWriter(str(path)) as writer:
        for msg in sim.frames(n / FRAMES_PER_S + 2.0, start=START_S):
            if written == n:
                break
            writer.on_message_received(msg)
            written += 1
    return written


@dataclass
class Scripted:
    frames: int
    read_s: float
    decode_s: float
    filter_s: float
    intervals: list[tuple[int, int, int]]
    first_ns: int
    last_ns: int

    @property
    def seconds(self) -> float:
        return self.read_s + self.decode_s + self.filter_s


def scripted(path: Path) -> Scripted:
    """Today's way: python-can reads the BLF, cantools decodes, a Python loop holds and filters."""
    db = load_database(DEMO_DBC)
    ids = {db.get_message_by_name(m).frame_id: m for m in (ENGINE[0], SPEED[0])}
    t0 = time.perf_counter()
    with can.BLFReader(str(path)) as reader:
        msgs = list(reader)
    t1 = time.perf_counter()
    samples: list[tuple[float, str, Mapping[str, object]]] = []
    for msg in msgs:
        name = ids.get(msg.arbitration_id)
        if name is not None:
            decoded = db.decode_message(msg.arbitration_id, bytes(msg.data), decode_choices=False)
            assert isinstance(decoded, dict)
            samples.append((msg.timestamp, name, decoded))
    t2 = time.perf_counter()
    rpm: float | None = None
    kmh: float | None = None
    runs: list[tuple[int, int, int]] = []
    current: list[int] | None = None
    for i, (ts, name, values) in enumerate(samples):
        if name == ENGINE[0]:
            rpm = float(values[ENGINE[1]])  # type: ignore[arg-type]
        else:
            kmh = float(values[SPEED[1]])  # type: ignore[arg-type]
        if i + 1 < len(samples) and samples[i + 1][0] == ts:
            continue  # one row per distinct time: the last sample at it wins
        ns = round(ts * 1e6) * 1000
        if rpm is not None and kmh is not None and rpm > RPM_ABOVE and kmh < KMH_BELOW:
            if current is None:
                current = [ns, ns, 1]
            else:
                current[1] = ns
                current[2] += 1
        elif current is not None:
            runs.append((current[0], current[1], current[2]))
            current = None
    if current is not None:
        runs.append((current[0], current[1], current[2]))
    t3 = time.perf_counter()
    first = round(msgs[0].timestamp * 1e6) * 1000
    last = round(msgs[-1].timestamp * 1e6) * 1000
    return Scripted(len(msgs), t1 - t0, t2 - t1, t3 - t2, runs, first, last)


# --------------------------------------------------------------------------- run


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
