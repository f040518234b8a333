"""Reading a stored table the way outside engines do: DuckDB, polars and pyarrow.dataset, each
with Hive partitioning, straight from the directories."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb


def duckdb_rows(query: str) -> list[tuple[Any, ...]]:
    """The rows of one DuckDB query, on a connection of its own."""
    with duckdb.connect() as con:
        return con.execute(query).fetchall()


def duckdb_source(table_dir: Path) -> str:
    """``read_parquet(...)`` over every file under a table's directory, Hive partitions on."""
    return f"read_parquet('{table_dir}/**/*.parquet', hive_partitioning = true)"
