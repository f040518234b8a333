"""Helpers shared by the store tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from logger.core.config import EncryptionConfig, ParquetConfig
from logger.store import ParquetStore, StoredFile
from logger.store.chunk import TableChunk

HOUR_NS = 3_600_000_000_000
MINUTE_NS = 60_000_000_000
# 2024-03-10 12:00:00 UTC
BASE_NS = 1_710_072_000 * 1_000_000_000
BASE_METADATA = {
    "sdvlog.vin": "WVWZZZ1JZXW000001",
    "sdvlog.plugin": "raw",
    "sdvlog.schema_version": "1",
    "sdvlog.topic": "vehicle/+/canp/#",
    "sdvlog.dbc_name": "demo.dbc",
    "sdvlog.dbc_hash": "abc123",
}


def table_at(times: np.ndarray | list[int], seed: int = 0) -> pa.Table:
    """A small frame-like table with time column ``ts`` (int64 ns)."""
    ts = np.asarray(times, dtype=np.int64)
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "ts": pa.array(ts, pa.int64()),
            "value": pa.array(rng.random(ts.size)),
            "payload": pa.array([b"\x01\x02\x03"] * ts.size, pa.binary()),
        }
    )


def evenly(start_ns: int, count: int, step_ns: int) -> np.ndarray:
    return start_ns + np.arange(count, dtype=np.int64) * step_ns


def chunk(times: np.ndarray | list[int], name: str = "frames", seed: int = 0) -> TableChunk:
    return TableChunk(name, table_at(times, seed), "ts")


def make_store(
    directory: Path,
    exchange: str = "can",
    *,
    compress: str = "zstd",
    file_count: int = 100_000,
    file_size: int = 10 << 30,
    row_group_rows: int = 65536,
    encryption: EncryptionConfig | None = None,
    recover: bool = True,
) -> ParquetStore:
    cfg = ParquetConfig(
        dir=directory,
        compress=compress,
        file_count=file_count,
        file_size=file_size,
        row_group_rows=row_group_rows,
        encryption=encryption,
    )
    store = ParquetStore(cfg, exchange, BASE_METADATA)
    if recover:
        store.recover()
    return store


def write_published(store: ParquetStore, chunks: list[TableChunk]) -> list[StoredFile]:
    files = store.write(chunks, {})
    store.publish(files)
    return files


def files_on_disk(root: Path) -> set[Path]:
    """Every regular file under ``root`` (temporaries included)."""
    return {p for p in root.rglob("*") if p.is_file()}
