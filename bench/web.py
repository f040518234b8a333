"""``python -m bench web [--quick]``: the HTTP API's SQL engine against its peer, side by side.

One GROUP BY over frame-like rows (10 M; ``--quick`` 1 M) in hour-sized Parquet files, through
:func:`logger.web.sql.run_sql` (what ``POST /api/sql`` runs: pyarrow datasets registered in a
locked, read-only DuckDB) and through DuckDB reading the same files itself, three times each,
alternately; the medians and their ratio (target: ours at least 0.9x DuckDB's speed).
"""

from __future__ import annotations

import logging
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import scratch_dir
from bench.report import Report
from logger.web.sql import LiveTable, run_sql

log = logging.getLogger(__name__)

GROUP_BY = "SELECT bus, id, count(*) AS n, avg(dlc) AS dlc FROM {source} GROUP BY bus, id"
ROWS_PER_FILE = 1_000_000


@dataclass(frozen=True)
class SqlFigures:
    """Median seconds of the same GROUP BY through run_sql and through DuckDB directly."""

    rows: int
    ours_s: float
    duckdb_s: float

    @property
    def ratio(self) -> float:
        """Our speed as a fraction of DuckDB's (target: at least 0.9)."""
        return self.duckdb_s / self.ours_s


def write_frames(directory: Path, rows: int, per_file: int = ROWS_PER_FILE) -> list[Path]:
    """``rows`` frame-like rows (``ts``, ``bus``, ``id``, ``dlc``, ``data``) in zstd files."""
    rng = np.random.default_rng(0)
    paths = []
    for start in range(0, rows, per_file):
        count = min(per_file, rows - start)
        table = pa.table(
            {
                "ts": pa.array(start + np.arange(count, dtype=np.int64)),
                "bus": pa.array(rng.integers(0, 4, count).astype(np.int8)),
                "id": pa.array(rng.integers(0x100, 0x180, count).astype(np.int32)),
                "dlc": pa.array(rng.integers(0, 9, count).astype(np.int8)),
                "data": pa.array(rng.integers(0, 1 << 62, count, dtype=np.int64)),
            }
        )
        path = directory / f"{start:012d}.parquet"
        pq.write_table(table, path, compression="zstd", row_group_size=65_536)
        paths.append(path)
    return paths


def _timed(call: Callable[[], object], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def compare(paths: Sequence[Path], rows: int, repeats: int = 3) -> SqlFigures:
    """The GROUP BY over ``paths`` both ways, alternately, ``repeats`` times each."""
    import duckdb  # noqa: PLC0415 - a benchmark of it

    table = LiveTable("can_frames", list(paths), None, None)
    files = ", ".join(f"'{p}'" for p in paths)
    ours: list[float] = []
    direct: list[float] = []
    with duckdb.connect() as con:
        for _ in range(repeats):
            ours += _timed(
                lambda: run_sql(
                    [table], GROUP_BY.format(source="can_frames"), row_limit=10_000, timeout_s=600
                ),
                1,
            )
            direct += _timed(
                lambda: con.sql(GROUP_BY.format(source=f"read_parquet([{files}])")).fetchall(), 1
            )
    return SqlFigures(rows, statistics.median(ours), statistics.median(direct))


ROWS_FULL, ROWS_QUICK = 10_000_000, 1_000_000


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("web", quick, profiled=profile)
    rows = ROWS_QUICK if quick else ROWS_FULL
    with scratch_dir(keep) as scratch:
        figures = compare(write_frames(scratch, rows), rows)
    report.context.update({"rows": rows, "sql": GROUP_BY.format(source="<frames>")})
    table = report.table(
        f"GROUP BY over {rows:,} rows, median of 3", "engine", "seconds", "rows/s", "ours / it"
    )
    table.add("ours (/api/sql's run_sql)", figures.ours_s, rows / figures.ours_s, 1.0)
    table.add("DuckDB on the files", figures.duckdb_s, rows / figures.duckdb_s, figures.ratio)
    report.target("/api/sql GROUP BY speed / DuckDB's", figures.ratio, ">=", 0.9, "x")
    return report
