"""The store of the signals benchmark (:mod:`bench.signals`): one-hour simulated drives of the
demo DBC, generated in parallel and back to back in time, written as ``sdvlog import --dbc`` writes
a log (``frames`` plus ``signals/message=<Name>``)."""

from __future__ import annotations

import logging
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from bench.common import open_store
from bench.decode import DEMO_DBC, frames_table
from canp.plugin import FRAMES_HINTS, CanpPlugin
from canp.schema import FRAMES, TIME_COLUMN
from hw.simulate import Simulator, load_dbc
from logger.core.config import Config, ExchangeConfig, ParquetConfig
from logger.store.chunk import TableChunk

log = logging.getLogger(__name__)

EXCHANGE = "drive"
DRIVE_S = 3600.0
FRAMES_PER_S = 411.0  # demo.dbc traffic: 24,660 frames per simulated minute
START_S = 1_717_200_000.0  # 2024-06-01T00:00:00Z
CHUNK = 100_000


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
    plugin = CanpPlugin(ex)
    cfg = Config(vin="BENCH", exchanges=(ex,), parquet=ParquetConfig(dir=store_dir))
    store = open_store(cfg, ex, plugin)
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
