"""Signal decoding throughput: :class:`dbc.codec.DatabaseCodec` against cantools frame by frame.

For every real log of ``../shared/data`` with its matching DBC (MANIFEST.md, section 1) and for
simulated demo traffic (``hw.simulate`` on ``dbc/examples/demo.dbc``), the same ``frames`` table is
decoded

* by ``DatabaseCodec(db).decode_frames(frames)`` in batches: the whole log at once, and slices of
  100,000 frames (one ring batch of the live path, one importer chunk) and 10,000 frames. Logs
  shorter than a batch are repeated end to end until they fill it;
* by cantools, one ``db.decode_message(id, data, decode_choices=False, scaling=True,
  force_extended_id=...)`` per frame (what a Python script does today). For J1939 pairs an exact-id
  miss falls back to the PGN (``cantools.j1939.pgn_from_frame_id``) and ``Message.decode`` of the
  message with that PGN, as :class:`DatabaseCodec` does; frames cantools refuses (unknown id, too
  short) count as processed.

The real logs are read with :class:`canp.io.importer.LogImporter` (no DBC) into a scratch store, and
the ``frames`` table read back in time order.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from statistics import median
from typing import cast

import can
import cantools.j1939
import pyarrow as pa
import pyarrow.parquet as pq
from cantools.database.can import Database, Message

from bench.common import REPO, RESULTS, scratch_dir
from bench.profile import Profiler, render, summarise
from bench.report import Report
from canp.io.importer import LogImporter
from canp.schema import FRAMES, TIME_COLUMN, FrameColumns
from canp.wire import decode_payloads, encode_messages
from dbc.codec import DatabaseCodec
from dbc.load import load_database
from dbc.schema import is_j1939
from hw.simulate import Simulator, load_dbc
from logger.store.split import round_to_unit, to_ns

log = logging.getLogger(__name__)

DATA = Path(
    os.environ.get(
        "SDVLOG_BENCH_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data")
    )
)
DEMO_DBC = REPO / "dbc" / "examples" / "demo.dbc"
#: (log, DBC) pairs of MANIFEST.md section 1; the GPS DBC of the J1939+GPS log is left out.
PAIRS = (
    ("ford_gt350_vsslog.trc", "ford_lincoln_base_pt.dbc"),
    ("hyundai_genesis_autologgenesis.log", "hyundai_i30_2014.dbc"),
    ("hyundai_kona_turnonlog.trc", "hyundai_kia_generic.dbc"),
    ("kona_ev_bms_idle_30sec.asc", "kona_ev_pcan.cantools-fix.dbc"),
    ("css_canedge_j1939_plus_gps.MF4", "CSS-Electronics-SAE-J1939-DEMO.dbc"),
    ("css_canedge_j1939_truck.MF4", "CSS-Electronics-SAE-J1939-DEMO.dbc"),
)
SIM_SECONDS_FULL = 300.0
SIM_SECONDS_QUICK = 60.0
SIM_START_S = 1_717_200_000.0
BATCHES = (100_000, 10_000)
#: The live path decodes ring batches of this size: the targets are checked at it.
TARGET_BATCH = 100_000
#: Frames cantools decodes per pair (all of a log up to this many).
CANTOOLS_FRAMES_FULL = 200_000
CANTOOLS_FRAMES_QUICK = 20_000
#: Our decoder is timed in repeated passes until this much time has passed (best pass counts).
MIN_SECONDS_FULL = 1.0
MIN_SECONDS_QUICK = 0.3
TARGET_RATIO = 20.0
TARGET_RATE = 2_000_000.0


def frames_table(messages: Iterable[can.Message], bus: str = "can0") -> pa.Table:
    """A ``frames`` table (:data:`canp.schema.FRAMES_SCHEMA`) of python-can messages, times
    rounded to the microsecond as the store keeps them."""
    f = decode_payloads([encode_messages(messages)]).frames
    return FrameColumns(round_to_unit(f.ts, "us"), f.can_id, f.flags, f.data).to_table(bus)


def simulated_frames(seconds: float, seed: int = 1, start_s: float = SIM_START_S) -> pa.Table:
    """``seconds`` of demo traffic (``hw.simulate``, demo.dbc) as a ``frames`` table."""
    sim = Simulator(load_dbc(DEMO_DBC), None, seed=seed)
    return frames_table(sim.frames(seconds, start=start_s))


def read_frames(store_dir: Path, exchange: str) -> pa.Table:
    """Every ``frames`` row of a store exchange, in time order."""
    files = sorted((store_dir / exchange / FRAMES).rglob("*.parquet"))
    table = pa.concat_tables(pq.read_table(f) for f in files)
    index = table.schema.get_field_index(TIME_COLUMN)
    table = table.set_column(index, TIME_COLUMN, to_ns(table.column(index)))  # stored in µs
    return table.sort_by([(TIME_COLUMN, "ascending")]).combine_chunks()


def import_log(log_path: Path, store_dir: Path, exchange: str) -> pa.Table:
    LogImporter(store_dir, exchange).import_file(log_path)
    return read_frames(store_dir, exchange)


def tile(frames: pa.Table, rows: int) -> pa.Table:
    """``frames`` repeated end to end until it holds at least ``rows`` rows."""
    if frames.num_rows >= rows:
        return frames
    return pa.concat_tables([frames] * math.ceil(rows / frames.num_rows)).combine_chunks()


def time_ours(codec: DatabaseCodec, frames: pa.Table, batch: int, min_s: float) -> float:
    """Best frames/s of ``decode_frames`` over ``frames`` sliced into ``batch``-row tables."""
    slices = [frames.slice(i, batch) for i in range(0, frames.num_rows, batch)]
    best = math.inf
    spent = 0.0
    passes = 0
    while spent < min_s or passes < 3:
        t0 = time.perf_counter()
        for part in slices:
            codec.decode_frames(part)
        dt = time.perf_counter() - t0
        best = min(best, dt)
        spent += dt
        passes += 1
    return float(frames.num_rows / best)


@dataclass
class CantoolsPass:
    frames: int
    decoded: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.frames / self.seconds


def time_cantools(db: Database, frames: pa.Table, limit: int) -> CantoolsPass:
    """One pass of cantools over the first ``limit`` frames, one call per frame."""
    part = frames.slice(0, limit)
    ids: list[int] = part.column("id").to_pylist()
    ext: list[bool] = part.column("extended").to_pylist()
    datas: list[bytes] = part.column("data").to_pylist()
    pgn_of = cast(Callable[[int], int], cantools.j1939.pgn_from_frame_id)
    by_pgn: dict[int, Message] = {}
    for message in db.messages:
        if is_j1939(message) and message.is_extended_frame:
            by_pgn.setdefault(pgn_of(message.frame_id), message)
    decoded = 0
    t0 = time.perf_counter()
    for fid, x, data in zip(ids, ext, datas, strict=True):
        try:
            db.decode_message(fid, data, decode_choices=False, scaling=True, force_extended_id=x)
            decoded += 1
        except KeyError:
            found = by_pgn.get(pgn_of(fid)) if by_pgn and (x or fid > 0x7FF) else None
            if found is None:
                continue
            try:
                found.decode(data, decode_choices=False, scaling=True)
                decoded += 1
            except Exception:  # cantools' DecodeError and friends: counted as processed
                pass
        except Exception:
            pass
    return CantoolsPass(part.num_rows, decoded, time.perf_counter() - t0)


@dataclass
class Pair:
    name: str
    db: Database
    frames: pa.Table
    real: bool


def load_pairs(tmp: Path, sim_seconds: float, report: Report) -> list[Pair]:
    pairs: list[Pair] = []
    for i, (log_name, dbc_name) in enumerate(PAIRS):
        log_path = DATA / "logs" / log_name
        dbc_path = DATA / "dbc" / "matching" / dbc_name
        missing = [str(p) for p in (log_path, dbc_path) if not p.is_file()]
        if missing:
            report.notes.append(f"{log_name}: skipped, not found: {', '.join(missing)}")
            continue
        frames = import_log(log_path, tmp / "logs", f"log{i}")
        pairs.append(Pair(f"{log_name} + {dbc_name}", load_database(dbc_path), frames, True))
    sim = simulated_frames(sim_seconds)
    pairs.append(Pair(f"simulated demo traffic {sim_seconds:g} s + demo.dbc", load_database(DEMO_DBC), sim, False))  # fmt: skip
    return pairs


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("decode", quick, profiled=profile)
    min_s = MIN_SECONDS_QUICK if quick else MIN_SECONDS_FULL
    ct_limit = CANTOOLS_FRAMES_QUICK if quick else CANTOOLS_FRAMES_FULL
    sim_s = SIM_SECONDS_QUICK if quick else SIM_SECONDS_FULL
    report.context.update(
        {"data": str(DATA), "batches": ",".join(map(str, BATCHES)), "cantools_frames_max": ct_limit}
    )
    with scratch_dir(keep) as tmp:
        pairs = load_pairs(tmp, sim_s, report)
        main = report.table(
            f"decode throughput ({TARGET_BATCH:,}-frame batches; cantools one call per frame)",
            "log + DBC", "frames", "decoded %", "ours frames/s", "cantools frames", "cantools decoded %", "cantools frames/s", "ratio",
        )  # fmt: skip
        sizes = report.table(
            "ours by batch size (frames/s; logs shorter than a batch repeated to fill it)",
            "log + DBC", "whole log", *(f"{b:,}" for b in BATCHES),
        )  # fmt: skip
        profiler: Profiler | None = None
        if profile:
            profiler = Profiler(os.getpid(), RESULTS / "profile-decode.txt", rate=500)
        try:
            for pair in pairs:
                codec = DatabaseCodec(pair.db)
                _, stats = codec.decode_frames_with_stats(pair.frames)
                whole = time_ours(codec, pair.frames, pair.frames.num_rows, min_s)
                by_batch = {b: time_ours(codec, tile(pair.frames, b), b, min_s) for b in BATCHES}
                ct = time_cantools(pair.db, pair.frames, ct_limit)
                ours = by_batch[TARGET_BATCH]
                ratio = ours / ct.rate
                n = pair.frames.num_rows
                main.add(
                    pair.name, n, 100.0 * stats.decoded / n, ours, ct.frames,
                    100.0 * ct.decoded / ct.frames, ct.rate, ratio,
                )  # fmt: skip
                sizes.add(pair.name, whole, *(by_batch[b] for b in BATCHES))
                if pair.real:
                    short = pair.name.split(" + ")[0]
                    report.target(f"{short}: ours / cantools", ratio, ">=", TARGET_RATIO, "x")
                    report.target(f"{short}: ours", ours, ">=", TARGET_RATE, "frames/s")
        finally:
            if profiler is not None:
                raw = profiler.stop()
                print(f"\nprofile of this process, all decode passes ({raw}):")
                print(render(summarise(raw)))
        real = [r for r in main.rows if not str(r[0]).startswith("simulated")]
        if real:
            report.notes.append(
                "median over the real logs: ours "
                f"{median([float(r[3] or 0) for r in real]):,.0f} frames/s, ratio "
                f"{median([float(r[7] or 0) for r in real]):.1f}x"
            )
    return report
