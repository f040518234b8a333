"""Helpers of the aggregate-mode tests: what landed in the bucket, read back with pyarrow, and the
rows of the local files it should equal."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from tests.logger.upload.conftest import BUCKET
from tests.support.s3 import MotoServer, s3_client
from tests.support.store import BASE_NS, MINUTE_NS, write_published


def objects(server: MotoServer) -> dict[str, tuple[pa.Table, str, str]]:
    """Every object: key → (its rows, its ``x-amz-meta-sha256``, the SHA-256 of its bytes)."""
    client = s3_client(server)
    out = {}
    for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        got = client.get_object(Bucket=BUCKET, Key=o["Key"])
        body = got["Body"].read()
        table = pq.read_table(io.BytesIO(body))
        out[o["Key"]] = (table, got["Metadata"]["sha256"], hashlib.sha256(body).hexdigest())
    return out


def incomplete(server: MotoServer) -> list[str]:
    """The keys of the multipart uploads not completed nor aborted."""
    answer = s3_client(server).list_multipart_uploads(Bucket=BUCKET)
    return [u["Key"] for u in answer.get("Uploads", [])]


def rows_of(paths: list[Path]) -> pa.Table:
    return pa.concat_tables(pq.read_table(p) for p in paths).sort_by("ts")


def big_files(store: ParquetStore, files: int, row_bytes: int = 1000, rows: int = 2000) -> None:
    """``files`` files of ``rows`` rows of incompressible payload each, a minute apart, one hour."""
    rng = np.random.default_rng(7)
    for i in range(files):
        ts = BASE_NS + i * MINUTE_NS + np.arange(rows, dtype=np.int64) * 1000
        payload = [rng.bytes(row_bytes) for _ in range(rows)]
        table = pa.table({"ts": pa.array(ts), "payload": pa.array(payload, pa.binary())})
        write_published(store, [TableChunk("frames", table, "ts")])


def stored(store_dir: Path, exchange: str = "can") -> list[Path]:
    return sorted((store_dir / exchange).rglob("*.parquet"))


__all__ = ["big_files", "incomplete", "objects", "rows_of", "stored"]
