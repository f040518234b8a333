"""A helper for ``bench web``'s ``/api/sql`` figure: one GROUP BY through
:func:`logger.web.sql.run_sql` against DuckDB reading the same Parquet files itself.

``python -m bench.web_sql [ROWS]`` writes ROWS frame-like rows (10 M by default) as hourly-sized
files in a scratch directory, runs both three times each, alternately, and logs the medians.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logger.web.sql import LiveTable, run_sql

log = logging.getLogger("bench.web_sql")

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


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = int(argv[0]) if argv else 10_000_000
    with tempfile.TemporaryDirectory(prefix="sdvlog-bench-sql-") as scratch:
        paths = write_frames(Path(scratch), rows)
        figures = compare(paths, rows)
    log.info(
        "GROUP BY over %d rows: run_sql %.3f s, DuckDB on the files %.3f s: %.2fx",
        figures.rows,
        figures.ours_s,
        figures.duckdb_s,
        figures.ratio,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
