"""Fixtures of the upload tests: moto's S3 server with a bucket, a store with files, an
``[upload]`` configuration on it, and the ``aws`` CLI as the second client checking what landed."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from logger.core.config import ParquetConfig
from logger.core.config_upload import UploadConfig
from logger.store import ParquetStore, StoredFile
from logger.upload.aggregate import make_uploader
from logger.upload.uploader import Uploader
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client
from tests.support.store import (
    BASE_METADATA,
    BASE_NS,
    MINUTE_NS,
    chunk,
    evenly,
    make_store,
    write_published,
)

BUCKET = "fleet"
VIN = "WVWZZZ1JZXW000001"
KEY_ENV = "SDVLOG_TEST_S3_KEY"
SECRET_ENV = "SDVLOG_TEST_S3_SECRET"
LIMIT = 5  # the file_count of a guarded store


@pytest.fixture
def moto(tmp_path: Path) -> Iterator[MotoServer]:
    with MotoServer(tmp_path / "moto") as server:
        yield server


@pytest.fixture
def bucket(moto: MotoServer) -> MotoServer:
    create_bucket(moto)
    return moto


@pytest.fixture
def credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, ACCESS_KEY)
    monkeypatch.setenv(SECRET_ENV, SECRET_KEY)


def upload_config(server: MotoServer, **changes: object) -> UploadConfig:
    cfg = UploadConfig(
        bucket=BUCKET,
        endpoint=server.endpoint,
        region=REGION,
        access_key_env=KEY_ENV,
        secret_key_env=SECRET_ENV,
        retry_max_s=0.5,
        timeout_s=5.0,
    )
    return replace(cfg, **changes)  # type: ignore[arg-type]


def create_bucket(server: MotoServer) -> None:
    s3_client(server).create_bucket(
        Bucket=BUCKET,
        CreateBucketConfiguration={"LocationConstraint": REGION},  # type: ignore[typeddict-item]
    )


def fill(
    store: ParquetStore, files: int, start: int = 0, table: str = "frames"
) -> list[StoredFile]:
    """``files`` new files in ``store``, a minute apart, from minute ``start``."""
    out: list[StoredFile] = []
    for i in range(start, start + files):
        out += write_published(store, [chunk(evenly(BASE_NS + i * MINUTE_NS, 100, 1000), table, i)])
    return out


def new_store(directory: Path, **kwargs: int) -> ParquetStore:
    return make_store(directory, "can", **kwargs)  # type: ignore[arg-type]


def aws(server: MotoServer, *args: str) -> str:
    """The ``aws`` CLI (the second client) on the server, with the test credentials."""
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_DEFAULT_REGION": REGION,
    }
    done = subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    return done.stdout


def listed(server: MotoServer) -> dict[str, int]:
    """Every object of the bucket (key → size), as ``aws s3api list-objects-v2`` lists them."""
    text = aws(server, "s3api", "list-objects-v2", "--bucket", BUCKET, "--output", "json")
    contents = json.loads(text).get("Contents", []) if text.strip() else []
    return {o["Key"]: int(o["Size"]) for o in contents}


def downloaded(server: MotoServer, target: Path) -> dict[str, str]:
    """``aws s3 cp --recursive`` of the bucket to ``target``: key → SHA-256 of the bytes."""
    aws(server, "s3", "cp", "--recursive", "--only-show-errors", f"s3://{BUCKET}", str(target))
    return {
        p.relative_to(target).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in target.rglob("*")
        if p.is_file()
    }


def local_digests(store_dir: Path, vin: str = VIN, exchange: str = "can") -> dict[str, str]:
    """The keys each local file of ``exchange`` should have (default template) → its SHA-256."""
    root = store_dir / exchange
    out = {}
    for p in root.rglob("*.parquet"):
        rel = p.relative_to(root).as_posix()
        out[f"vehicle={vin}/exchange={exchange}/{rel}"] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def failures(up: Uploader) -> dict[str, int]:
    """The uploader's failures by kind."""
    found = up.stats()["failures"]
    assert isinstance(found, dict)
    return found


def uploaded(up: Uploader) -> int:
    n = up.stats()["files"]
    assert isinstance(n, int)
    return n


def finish(up: Uploader, timeout: float = 60) -> dict[str, object]:
    """Wait until the uploader is idle (failing the test after ``timeout``), stop it: its stats."""
    try:
        assert up.wait_idle(timeout), up.stats()
        return up.stats()
    finally:
        up.stop()


def guarded_store(directory: Path, up: Uploader) -> ParquetStore:
    """A store of at most :data:`LIMIT` files whose retention asks ``up`` (its guard)."""
    cfg = ParquetConfig(dir=directory, file_count=LIMIT)
    store = ParquetStore(cfg, "can", BASE_METADATA, up.guard("can"))
    store.recover()
    up.add_store("can", store)
    return store


def numbers(up: Uploader) -> tuple[int, int, int, int]:
    """Backlog (files), retention_blocked, lost files, lost bytes."""
    s = up.stats()
    backlog, lost = s["backlog"], s["lost"]
    assert isinstance(backlog, dict) and isinstance(lost, dict)
    blocked = s["retention_blocked"]
    assert isinstance(blocked, int)
    return backlog["pending_files"], blocked, lost["files"], lost["bytes"]


def offline(moto: MotoServer, tmp_path: Path, **changes: object) -> tuple[Uploader, UploadConfig]:
    """The uploader of ``changes`` (``mode`` included; aggregate windows flushed as by ``--once``)
    on ``moto``, killed: the endpoint is unreachable."""
    cfg = upload_config(moto, **changes)
    moto.kill()
    return make_uploader(cfg, VIN, tmp_path / "state", flush=True), cfg
