"""Faults: the server killed and restarted mid-upload, a proxy that drops, cuts and delays
connections, wrong credentials, a missing bucket. Each ends with every file in the bucket exactly
once, byte-equal to the local file, and the failures counted by kind."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from logger.upload.uploader import Uploader
from tests.logger.upload.conftest import (
    KEY_ENV,
    VIN,
    create_bucket,
    downloaded,
    failures,
    fill,
    finish,
    listed,
    local_digests,
    new_store,
    upload_config,
    uploaded,
)
from tests.logger.upload.proxy import Proxy
from tests.support.s3 import MotoServer
from tests.support.service import wait_until


def test_server_killed_and_restarted_mid_upload(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    """moto keeps its buckets in memory: after the restart the bucket is made again, the uploader
    carries on with what it had not uploaded, and ``--verify`` (reverify) puts back what the server
    lost; then the bucket holds each file once."""
    store = new_store(tmp_path / "store")
    fill(store, 60)
    cfg = upload_config(bucket, concurrency=2, max_bandwidth=200_000)
    up = Uploader(cfg, VIN, tmp_path / "state")
    up.add_store("can", store)
    up.start()
    wait_until(lambda: uploaded(up) >= 10, what="10 files uploaded")
    bucket.kill()
    wait_until(lambda: failures(up)["unreachable"] >= 2, what="failures while the server is down")
    assert uploaded(up) < 60
    bucket.start()
    create_bucket(bucket)
    stats = finish(up)
    assert stats["files"] == 60
    assert failures(up)["unreachable"] >= 2
    again = Uploader(cfg, VIN, tmp_path / "state")
    again.add_store("can", store)
    assert again.reverify() > 0  # what the killed server had
    again.start()
    finish(again)
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")


def test_proxy_dropping_cutting_and_delaying(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    proxy = Proxy(bucket.port)
    try:
        store = new_store(tmp_path / "store")
        fill(store, 40)
        cfg = upload_config(bucket, endpoint=proxy.endpoint, timeout_s=1.0, concurrency=3)
        proxy.mode = "drop"
        up = Uploader(cfg, VIN, tmp_path / "state")
        up.add_store("can", store)
        up.start()
        wait_until(lambda: failures(up)["unreachable"] >= 3, what="dropped connections counted")
        assert uploaded(up) == 0
        proxy.mode = "delay"
        proxy.delay_s = 2.0  # past the 1 s read timeout
        wait_until(lambda: failures(up)["timeout"] >= 1, what="a timeout counted")
        proxy.mode = "pass"
        wait_until(lambda: uploaded(up) >= 10, what="uploads through the proxy")
        proxy.cut()  # mid-upload
        proxy.mode = "delay"
        proxy.delay_s = 0.01  # slow, within the timeout
        stats = finish(up)
        assert stats["files"] == 40
    finally:
        proxy.close()
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")


def test_missing_bucket_named_once_then_drained(
    moto: MotoServer, credentials: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 5)
    up = Uploader(upload_config(moto), VIN, tmp_path / "state")
    up.add_store("can", store)
    with caplog.at_level(logging.WARNING, logger="logger.upload"):
        up.start()
        wait_until(lambda: failures(up)["bucket"] >= 3, what="missing-bucket failures")
        named = [r for r in caplog.records if "bucket 'fleet' does not exist" in r.getMessage()]
        assert len(named) == 1 and named[0].levelno == logging.ERROR
        assert "does not exist" in str(up.stats()["last_error"])
        create_bucket(moto)
        stats = finish(up)
    assert stats["files"] == 5
    assert len(listed(moto)) == 5


def test_wrong_credentials_named_once(
    tmp_path: Path,
    credentials: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """moto enforces authentication once ``INITIAL_NO_AUTH_ACTION_COUNT`` requests are spent."""
    monkeypatch.setenv("INITIAL_NO_AUTH_ACTION_COUNT", "0")
    monkeypatch.setenv(KEY_ENV, "AKIAWRONGWRONGWRONG0")
    with MotoServer(tmp_path / "moto") as server:
        store = new_store(tmp_path / "store")
        fill(store, 3)
        up = Uploader(upload_config(server), VIN, tmp_path / "state")
        up.add_store("can", store)
        with caplog.at_level(logging.WARNING, logger="logger.upload"):
            up.start()
            wait_until(lambda: failures(up)["auth"] >= 3, what="refused credentials counted")
            up.stop()
        named = [r for r in caplog.records if "refused our credentials" in r.getMessage()]
        assert len(named) == 1 and named[0].levelno == logging.ERROR
        assert KEY_ENV in named[0].getMessage()
        stats = up.stats()
        assert stats["files"] == 0
        backlog = stats["backlog"]
        assert isinstance(backlog, dict) and backlog["pending_files"] == 3


def test_5xx_and_throttling_counted_then_drained(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    proxy = Proxy(bucket.port)
    try:
        store = new_store(tmp_path / "store")
        fill(store, 10)
        up = Uploader(upload_config(bucket, endpoint=proxy.endpoint), VIN, tmp_path / "state")
        up.add_store("can", store)
        proxy.mode = "503"
        up.start()
        wait_until(lambda: failures(up)["throttled"] >= 2, what="SlowDown counted as throttled")
        proxy.mode = "500"
        wait_until(lambda: failures(up)["server"] >= 2, what="500 counted as a server error")
        assert uploaded(up) == 0
        proxy.mode = "pass"
        assert finish(up)["files"] == 10
    finally:
        proxy.close()
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")
