"""Retention never deletes a file not uploaded yet (``on_full = "block"``), or deletes it and counts
it lost (``"drop_oldest"``): a full store while the endpoint is away, simulated with the store's
``file_count`` limit. Either way every number is there: backlog, blocked, lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from logger.upload.ledger import Ledger
from logger.upload.uploader import Uploader
from tests.logger.upload.conftest import (
    LIMIT,
    VIN,
    create_bucket,
    downloaded,
    fill,
    guarded_store,
    local_digests,
    numbers,
    offline,
    upload_config,
)
from tests.support.s3 import MotoServer
from tests.support.service import wait_until


def test_block_keeps_every_file_until_uploaded(
    moto: MotoServer, credentials: None, tmp_path: Path
) -> None:
    up, _cfg = offline(moto, tmp_path, on_full="block")
    store = guarded_store(tmp_path / "store", up)
    up.start()
    try:
        fill(store, 3 * LIMIT)
        assert store.enforce_retention(lambda f: False) == []  # as the writer calls it
        assert store.file_count == 3 * LIMIT  # over its limit: nothing uploaded may go
        wait_until(lambda: numbers(up)[0] == 3 * LIMIT, what="the backlog counted")
        _, blocked, lost, _ = numbers(up)
        assert blocked > 0 and lost == 0
        moto.start()
        create_bucket(moto)
        assert up.wait_idle(60)
        local = local_digests(tmp_path / "store")
        assert len(local) == 3 * LIMIT
        assert downloaded(moto, tmp_path / "got") == local
        assert len(store.enforce_retention(lambda f: False)) == 2 * LIMIT  # uploaded: may go now
        assert store.file_count == LIMIT
    finally:
        up.stop()
    assert Ledger(tmp_path / "state").totals().uploaded_files == LIMIT  # rows of deleted files go


def test_drop_oldest_counts_what_was_never_uploaded(
    moto: MotoServer, credentials: None, tmp_path: Path
) -> None:
    up, _cfg = offline(moto, tmp_path, on_full="drop_oldest")
    store = guarded_store(tmp_path / "store", up)
    up.start()
    try:
        files = fill(store, 3 * LIMIT)
        deleted = store.enforce_retention(lambda f: False)
        # the oldest, except those leased by an upload attempt under way (it fails: offline)
        assert len(deleted) == 2 * LIMIT
        assert set(deleted) <= set(files[: 2 * LIMIT + up.cfg.concurrency])
        _, blocked, lost, lost_bytes = numbers(up)
        assert (blocked, lost) == (0, 2 * LIMIT)
        assert lost_bytes == sum(f.size for f in deleted)
        moto.start()
        create_bucket(moto)
        wait_until(lambda: numbers(up)[0] == 0 and up.wait_idle(0.1), what="the rest uploaded")
        assert downloaded(moto, tmp_path / "got") == local_digests(tmp_path / "store")
    finally:
        up.stop()
    totals = Ledger(tmp_path / "state").totals()
    assert (totals.lost_files, totals.uploaded_files) == (2 * LIMIT, LIMIT)


@pytest.mark.parametrize("on_full", ["block", "drop_oldest"])
def test_a_file_being_uploaded_is_never_deleted(
    bucket: MotoServer, credentials: None, tmp_path: Path, on_full: str
) -> None:
    """The upload holds a lease: retention passes over the file under way."""
    up = Uploader(upload_config(bucket, on_full=on_full), VIN, tmp_path / "state")
    store = guarded_store(tmp_path / "store", up)
    files = fill(store, LIMIT + 1)
    with store.lease(files[:1]):
        deleted = store.enforce_retention(lambda f: False)
    assert files[0] not in deleted
    up.stop()
