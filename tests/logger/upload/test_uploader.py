"""Direct upload against moto's S3 server, checked with the ``aws`` CLI: each file exactly once and
byte-equal, idempotent across runs, a crash after the PUT costs no second PUT, order, bandwidth."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from logger.core.config import EncryptionConfig
from logger.upload.keys import object_key
from logger.upload.ledger import Ledger
from logger.upload.uploader import Uploader
from tests.logger.upload.conftest import (
    BUCKET,
    VIN,
    downloaded,
    fill,
    listed,
    local_digests,
    new_store,
    upload_config,
)
from tests.support.s3 import MotoServer, s3_client
from tests.support.store import make_store


def puts(server: MotoServer) -> list[str]:
    """The paths of the PUTs moto answered 200, from its access log."""
    lines = server.log_path.read_text().splitlines()
    paths = [
        line.split('"')[1].split()[1] for line in lines if '"PUT /' in line and '" 200' in line
    ]
    return [p for p in paths if p.startswith(f"/{BUCKET}/")]  # not the bucket's creation


def run(uploader: Uploader) -> dict[str, object]:
    uploader.start()
    try:
        assert uploader.wait_idle(60), uploader.stats()
        return uploader.stats()
    finally:
        uploader.stop()


def test_each_file_once_byte_equal(bucket: MotoServer, credentials: None, tmp_path: Path) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 12)
    fill(store, 3, start=100, table="signals/message=EngineData")
    up = Uploader(upload_config(bucket), VIN, tmp_path / "state")
    up.add_store("can", store)
    stats = run(up)
    assert stats["files"] == 15
    assert stats["backlog"] == {
        "pending_files": 0,
        "pending_bytes": 0,
        "oldest_timestamp_seconds": 0,
    }
    local = local_digests(tmp_path / "store")
    assert len(local) == 15
    assert any("signals/message=EngineData/date=" in k for k in local)
    assert downloaded(bucket, tmp_path / "got") == local
    assert sorted(listed(bucket)) == sorted(local)

    again = Uploader(upload_config(bucket), VIN, tmp_path / "state")  # the ledger: nothing to do
    again.add_store("can", store)
    assert run(again)["attempts"] == 0
    assert len(puts(bucket)) == 15


def test_the_object_carries_its_checksum(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    [file] = fill(store, 1)
    up = Uploader(upload_config(bucket), VIN, tmp_path / "state")
    up.add_store("can", store)
    run(up)
    key = object_key(upload_config(bucket).template, VIN, "can", file)
    digest = hashlib.sha256(file.path.read_bytes()).digest()
    head = s3_client(bucket).head_object(Bucket=BUCKET, Key=key)
    assert head["Metadata"]["sha256"] == digest.hex()  # x-amz-meta-sha256
    assert head["Metadata"]["vin"] == VIN
    assert head["ContentLength"] == file.size


def test_after_a_crash_an_object_already_there_is_not_put_again(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    """The process died after its PUT but before the ledger's row: the intent is there, so the
    object is looked up and, having the same digest, counts as uploaded."""
    store = new_store(tmp_path / "store")
    files = fill(store, 4)
    cfg = upload_config(bucket)
    first = Uploader(cfg, VIN, tmp_path / "state")
    first.add_store("can", store)
    for f in files[:2]:  # as a dead process left them: an intent, and the object in the bucket
        key = object_key(cfg.template, VIN, "can", f)
        digest = hashlib.sha256(f.path.read_bytes()).digest()
        first.ledger.intend("can", f.path.relative_to(store.root).as_posix(), key, digest.hex())
        first.target.put_file(key, f.path, f.size, digest, {})
    first.stop()
    up = Uploader(cfg, VIN, tmp_path / "state")
    up.add_store("can", store)
    stats = run(up)
    assert stats["already_present"] == 2
    assert stats["files"] == 4
    assert sorted(puts(bucket)) == sorted(
        f"/{BUCKET}/{object_key(cfg.template, VIN, 'can', f)}" for f in files
    )
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")
    assert Ledger(tmp_path / "state").intents() == set()


def test_other_bytes_under_the_key_are_a_conflict_never_overwritten(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    [file] = fill(store, 1)
    cfg = upload_config(bucket)
    key = object_key(cfg.template, VIN, "can", file)
    s3_client(bucket).put_object(Bucket=BUCKET, Key=key, Body=b"other", Metadata={"sha256": "00"})
    up = Uploader(cfg, VIN, tmp_path / "state")
    up.ledger.intend("can", file.path.relative_to(store.root).as_posix(), key, "x")
    up._intents.add(("can", file.path.relative_to(store.root).as_posix()))
    up.add_store("can", store)
    stats = run(up)
    assert stats["conflicts"] == 1
    assert stats["files"] == 0
    assert listed(bucket) == {key: 5}


def test_newest_first(bucket: MotoServer, credentials: None, tmp_path: Path) -> None:
    store = new_store(tmp_path / "store")
    files = fill(store, 6)
    up = Uploader(upload_config(bucket, order="newest", concurrency=1), VIN, tmp_path / "state")
    up.add_store("can", store)
    run(up)
    cfg = upload_config(bucket)
    order = [p for p in puts(bucket)]
    assert order == [
        f"/{BUCKET}/{object_key(cfg.template, VIN, 'can', f)}" for f in reversed(files)
    ]


def test_max_bandwidth_is_honoured(bucket: MotoServer, credentials: None, tmp_path: Path) -> None:
    store = new_store(tmp_path / "store")
    files = fill(store, 8)
    total = sum(f.size for f in files)
    rate = total // 2  # bytes per second: the whole store takes 2 s at least
    up = Uploader(upload_config(bucket, max_bandwidth=rate), VIN, tmp_path / "state")
    up.add_store("can", store)
    start = time.monotonic()
    stats = run(up)
    assert stats["files"] == 8
    assert time.monotonic() - start >= total / rate - 0.1 - 64 * 1024 / rate


def test_reverify_uploads_again_what_the_bucket_lost(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    files = fill(store, 5)
    cfg = upload_config(bucket)
    up = Uploader(cfg, VIN, tmp_path / "state")
    up.add_store("can", store)
    run(up)
    lost = object_key(cfg.template, VIN, "can", files[2])
    s3_client(bucket).delete_object(Bucket=BUCKET, Key=lost)
    again = Uploader(cfg, VIN, tmp_path / "state")
    again.add_store("can", store)
    assert again.reverify() == 1
    assert run(again)["files"] == 1
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")


def test_an_encrypted_file_stays_encrypted(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    key_file = tmp_path / "store.key"
    key_file.write_bytes(bytes(range(32)))
    store = make_store(
        tmp_path / "store", "can", encryption=EncryptionConfig(key_id="k1", key_file=key_file)
    )
    fill(store, 2)
    up = Uploader(upload_config(bucket), VIN, tmp_path / "state")
    up.add_store("can", store)
    run(up)
    got = tmp_path / "got"
    assert downloaded(bucket, got) == local_digests(tmp_path / "store")
    for path in got.rglob("*.parquet"):
        with pytest.raises(OSError):  # no key: pyarrow cannot read it
            pq.read_table(path)


def test_without_an_md5_etag_a_head_verifies(
    bucket: MotoServer, credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An endpoint whose ETag is not the MD5 (SSE-KMS, some S3-compatible stores): the object is
    looked up and its size and SHA-256 must match."""
    store = new_store(tmp_path / "store")
    fill(store, 3)
    up = Uploader(upload_config(bucket), VIN, tmp_path / "state")
    put = up.target.put_file
    monkeypatch.setattr(up.target, "put_file", lambda *a, **k: put(*a, **k) and "not-an-md5")
    up.add_store("can", store)
    stats = run(up)
    assert (stats["files"], stats["attempts"]) == (3, 6)  # a PUT and a HEAD each
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")
