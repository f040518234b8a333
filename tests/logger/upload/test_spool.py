"""The aggregate spool: the object compacted once, sent from the spool, which goes with its
aggregate; stale spools removed at start; a spool whose bytes are not the recorded digest (torn by
a power cut) starts the upload over; without a spool the aggregate is compacted twice."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from logger.store import ParquetStore
from logger.upload.agg_ledger import AggLedger, Pending
from logger.upload.aggregate import AggregateUploader
from logger.upload.ledger import Ledger
from logger.upload.spool import SPOOL_DIR, Spool
from tests.logger.upload.agg_support import aggregate, big_files, landed_once, objects, run
from tests.logger.upload.conftest import BUCKET, failures, fill, new_store
from tests.support.s3 import MotoServer, s3_client
from tests.support.service import wait_until


def test_sent_from_the_spool_which_goes_with_its_aggregate(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    big_files(new_store(tmp_path / "store"), 3)  # 6 MB: two parts
    stale = tmp_path / "state" / SPOOL_DIR / "0123.spool"  # of no aggregate under way
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"left by a crash")
    up = aggregate(bucket, tmp_path / "state", part_size=5 << 20, max_bandwidth=4_000_000)
    assert not stale.exists()
    up.add_store("can", new_store(tmp_path / "store"))
    spools = tmp_path / "state" / SPOOL_DIR
    up.start()
    try:
        wait_until(lambda: any(spools.glob("*.spool")), what="the aggregate spooled")
        (spooled,) = spools.glob("*.spool")
        digest = hashlib.sha256(spooled.read_bytes()).hexdigest()
        assert up.wait_idle(60), up.stats()
    finally:
        up.stop()
    ((_, meta_sha, body_sha),) = objects(bucket).values()
    assert meta_sha == body_sha == digest  # the object is the spool's bytes
    landed_once(bucket, tmp_path / "store", 1)
    assert list(spools.iterdir()) == []


def test_a_spool_with_other_bytes_starts_the_upload_over(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 4)
    run(aggregate_on(bucket, tmp_path / "first", store))
    ((key, (_, sha, _)),) = objects(bucket).items()
    s3_client(bucket).delete_object(Bucket=BUCKET, Key=key)
    ledger = Ledger(tmp_path / "first")
    files = sorted(path for _, path, *_ in ledger.uploaded_rows())
    ledger.close()
    spool = Spool(tmp_path / "state")  # as a power cut may leave it: the size, other bytes
    made = spool.make(key, [tmp_path / "store" / "can" / f for f in files], 0)
    assert made is not None and made[1] == sha
    size = made[0]
    torn = bytearray(spool.path(key).read_bytes())
    torn[size // 2] ^= 0xFF
    spool.path(key).write_bytes(bytes(torn))
    aggs = AggLedger(tmp_path / "state")
    aggs.intend(Pending(key, "can", files, size, sha, None))
    aggs.close()
    up = aggregate_on(bucket, tmp_path / "state", store)
    stats = run(up)
    assert stats["files"] == 4 and failures(up)["client"] == 1  # noticed before completing
    landed_once(bucket, tmp_path / "store", 1)
    assert objects(bucket)[key][1] == sha


def test_without_a_spool_compacted_twice(
    bucket: MotoServer, credentials: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The spool cannot be written (here its directory is taken by a file): the aggregate is
    compacted for its digest, then again for its parts, and uploaded all the same."""
    store = new_store(tmp_path / "store")
    fill(store, 4)
    fill(store, 2, start=70)
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / SPOOL_DIR).write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="logger.upload"):
        stats = run(aggregate_on(bucket, tmp_path / "state", store))
    assert stats["files"] == 6
    landed_once(bucket, tmp_path / "store", 2)
    named = [r for r in caplog.records if "cannot spool" in r.getMessage()]
    assert len(named) == 1, [r.getMessage() for r in caplog.records]


def aggregate_on(server: MotoServer, state: Path, store: ParquetStore) -> AggregateUploader:
    up = aggregate(server, state)
    up.add_store("can", store)
    return up
