"""Helpers of the aggregate-mode tests: the uploader flushing every window (as ``--once``), what
landed in the bucket read back with pyarrow, the rows of the local files it should equal, and the
multipart requests moto's access log shows."""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from logger.upload.aggregate import AggregateUploader, make_uploader
from tests.logger.upload.conftest import BUCKET, VIN, upload_config
from tests.support.s3 import MotoServer, s3_client
from tests.support.store import BASE_NS, MINUTE_NS, write_published

_ANSI = r"(?:\x1b\[[0-9;]*m)*"  # moto colours the lines of answers other than 200
_PART = re.compile(rf'"{_ANSI}PUT /[^ ]*[?&]partNumber=(\d+)[^ ]* HTTP/1\.1{_ANSI}" (\d+)')
_CREATE = re.compile(r'"POST /[^ ]*\?uploads HTTP/1\.1" 200')


def aggregate(server: MotoServer, state: Path, **changes: object) -> AggregateUploader:
    """An aggregate-mode uploader on ``server`` that flushes every window (``--once``)."""
    up = make_uploader(upload_config(server, mode="aggregate", **changes), VIN, state, flush=True)
    assert isinstance(up, AggregateUploader)
    return up


def run(up: AggregateUploader | object) -> dict[str, object]:
    """Start ``up``, wait until it is idle, stop it: its stats."""
    assert isinstance(up, AggregateUploader)
    up.start()
    try:
        assert up.wait_idle(120), up.stats()
        return up.stats()
    finally:
        up.stop()


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


def landed_once(server: MotoServer, store_dir: Path, count: int) -> dict[str, pa.Table]:
    """Assert that the bucket holds ``count`` objects, each with the SHA-256 of its bytes in its
    ``x-amz-meta-sha256``, whose rows together are the rows of the files of ``store_dir``, each
    once; and no incomplete multipart upload. Returns each object's rows."""
    got = objects(server)
    assert len(got) == count, sorted(got)
    for key, (_, meta_sha, body_sha) in got.items():
        assert meta_sha == body_sha, key
    rows = pa.concat_tables(t for t, _, _ in got.values()).sort_by("ts")
    assert rows.equals(rows_of(stored(store_dir)))
    assert incomplete(server) == []
    return {key: t for key, (t, _, _) in got.items()}


def part_puts(server: MotoServer, status: int = 200) -> list[int]:
    """The part numbers of every part PUT moto answered ``status``, in order (over restarts)."""
    found = _PART.finditer(server.log_path.read_text())
    return [int(m.group(1)) for m in found if int(m.group(2)) == status]


def creates(server: MotoServer) -> int:
    """How many multipart uploads were created (``POST ...?uploads``), over moto's restarts."""
    return len(_CREATE.findall(server.log_path.read_text()))


__all__ = [
    "aggregate",
    "big_files",
    "creates",
    "incomplete",
    "landed_once",
    "objects",
    "part_puts",
    "rows_of",
    "run",
    "stored",
]
