"""The question of the signals benchmark (:mod:`bench.signals`) and the three ways it is answered:
(a) our ``Answerer`` over the store, (b) DuckDB SQL over the same Parquet files, (c) python-can
reading a BLF with cantools decoding and a Python loop holding values."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import can
import pyarrow as pa

from bench.decode import DEMO_DBC
from bench.signals_store import EXCHANGE, FRAMES_PER_S, START_S
from canp.plugin import SIGNAL_LEAD_NS
from dbc.load import load_database
from hw.simulate import Simulator, load_dbc
from logger.query.answer import Answerer, StoreSource, parse_for
from logger.query.client import Reply, parse_end, read_frame

ENGINE, SPEED = ("EngineData", "EngineSpeed"), ("BrakeStatus", "VehicleSpeed")
RPM_ABOVE = 4000.0
KMH_BELOW = 40.0
WHERE = f"where={SPEED[1]}<{KMH_BELOW:g},{ENGINE[1]}>{RPM_ABOVE:g}"
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
