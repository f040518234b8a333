"""Faults in aggregate mode: the server killed and restarted mid-multipart, the multipart upload
aborted under the uploader, a proxy that drops, delays and cuts connections mid-part, wrong
credentials, a full disk while offline (``on_full = "block"`` and ``"drop_oldest"``). Each ends
with every stored file's rows in the bucket exactly once, in objects whose ``x-amz-meta-sha256`` is
the SHA-256 of their bytes, no incomplete multipart upload left, and the failures counted by kind.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from pathlib import Path

import pytest

from logger.upload.aggregate import AggregateUploader
from logger.upload.ledger import Ledger
from tests.logger.upload.agg_support import (
    aggregate,
    big_files,
    creates,
    landed_once,
    part_puts,
    run,
)
from tests.logger.upload.conftest import (
    BUCKET,
    KEY_ENV,
    LIMIT,
    SECRET_ENV,
    create_bucket,
    failures,
    fill,
    finish,
    guarded_store,
    new_store,
    numbers,
    offline,
    uploaded,
)
from tests.logger.upload.proxy import Proxy
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client
from tests.support.service import wait_until

FILES = 6  # 2 MB each, incompressible: parts of 5, 5 and 2 MB
PART = 5 << 20


def multipart(server: MotoServer, tmp_path: Path, **changes: object) -> AggregateUploader:
    """An aggregate uploader (parts of 5 MB) on a store of :data:`FILES` big files."""
    store = new_store(tmp_path / "store")
    big_files(store, FILES)
    up = aggregate(server, tmp_path / "state", part_size=PART, **changes)
    up.add_store("can", store)
    return up


def resumed(up: AggregateUploader) -> int:
    agg = up.stats()["aggregate"]
    assert isinstance(agg, dict)
    n = agg["parts_resumed"]
    assert isinstance(n, int)
    return n


def parts_of(server: MotoServer) -> int:
    """How many parts the (one) object was completed from, by its multipart ETag."""
    client = s3_client(server)
    (key,) = [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    return int(client.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"').rsplit("-", 1)[1])


def test_server_killed_and_restarted_mid_multipart(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    """moto keeps everything in memory: after the restart the bucket is made again, the upload id
    the ledger holds is unknown (ListParts: NoSuchUpload), and the aggregate is uploaded again
    from its first part by a new multipart upload, once."""
    up = multipart(bucket, tmp_path, max_bandwidth=4_000_000)  # a part each 1.25 s
    up.start()
    try:
        wait_until(lambda: len(part_puts(bucket)) >= 1, what="the first part landed")
        bucket.kill()
        wait_until(lambda: failures(up)["unreachable"] >= 2, what="failures while it is down")
        assert uploaded(up) == 0
        bucket.start()
        create_bucket(bucket)
    finally:
        stats = finish(up)
    assert stats["files"] == FILES
    assert creates(bucket) == 2  # the upload the restart forgot, then one more
    assert part_puts(bucket).count(1) == 2  # its first part sent again: nothing to resume
    assert resumed(up) == 0
    landed_once(bucket, tmp_path / "store", 1)
    assert parts_of(bucket) == 3


def test_multipart_upload_aborted_between_parts(
    bucket: MotoServer, credentials: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The upload id disappears while the uploader is between two parts (a lifecycle rule that
    aborts incomplete uploads, a server that lost its state). The next part is refused (S3 says
    NoSuchUpload; moto answers 500), the attempt ends there (no later part is sent), and the next
    attempt finds the upload gone (ListParts: NoSuchUpload) and starts a new one."""
    up = multipart(bucket, tmp_path, max_bandwidth=4_000_000)  # a part each 1.25 s
    client = s3_client(bucket)
    with caplog.at_level(logging.WARNING, logger="logger.upload"):
        up.start()
        try:
            wait_until(lambda: len(part_puts(bucket)) >= 1, what="the first part landed")
            (upload,) = client.list_multipart_uploads(Bucket=BUCKET)["Uploads"]
            client.abort_multipart_upload(
                Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"]
            )
        finally:
            stats = finish(up)
    assert stats["files"] == FILES
    assert creates(bucket) == 2
    refused = part_puts(bucket, 500) + part_puts(bucket, 404)
    assert refused == [2]  # the attempt stopped at the first refused part
    assert sum(failures(up).values()) == 1
    assert len(caplog.records) == 1, [r.getMessage() for r in caplog.records]
    assert resumed(up) == 0
    landed_once(bucket, tmp_path / "store", 1)
    assert parts_of(bucket) == 3


def test_proxy_dropping_delaying_and_cutting_mid_multipart(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    """Dropped connections and timeouts before the upload starts, then a part cut mid-request:
    the same multipart upload is resumed (the parts that landed are not sent again)."""
    proxy = Proxy(bucket.port)
    try:
        up = multipart(bucket, tmp_path, endpoint=proxy.endpoint, timeout_s=1.0)
        proxy.mode = "drop"
        up.start()
        try:
            wait_until(lambda: failures(up)["unreachable"] >= 2, what="dropped connections")
            proxy.mode = "delay"
            proxy.delay_s = 2.0  # past the 1 s read timeout
            wait_until(lambda: failures(up)["timeout"] >= 1, what="a timeout counted")
            assert part_puts(bucket) == []
            proxy.delay_s = 0.005  # a 5 MB part in flight for about 0.4 s
            wait_until(lambda: len(part_puts(bucket)) >= 1, what="the first part landed")
            cut = failures(up)["unreachable"]

            def cut_mid_request() -> bool:  # until a cut meets a request under way
                proxy.cut()
                return failures(up)["unreachable"] > cut

            wait_until(cut_mid_request, what="an upload cut mid-request")
            assert uploaded(up) == 0  # the cut came before the object was complete
        finally:
            stats = finish(up)
    finally:
        proxy.close()
    assert stats["files"] == FILES
    assert creates(bucket) == 1  # the one upload, resumed after each fault
    assert resumed(up) >= 1
    landed_once(bucket, tmp_path / "store", 1)
    assert parts_of(bucket) == 3


def iam_key(server: MotoServer) -> tuple[str, str]:
    """A user with every S3 right in moto's IAM, and its access key (id, secret)."""
    import boto3  # noqa: PLC0415 - as s3_client

    iam = boto3.client(
        "iam",
        endpoint_url=server.endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name=REGION,
    )
    iam.create_user(UserName="vehicle")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="vehicle", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="vehicle")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def authenticate(server: MotoServer, on: bool) -> None:
    """Make moto check every request's signature against its IAM (or stop checking), through its
    own ``/moto-api/reset-auth`` (the number of requests let through unchecked)."""
    request = urllib.request.Request(
        f"{server.endpoint}/moto-api/reset-auth",
        data=b"0" if on else b"inf",
        headers={"Content-Type": "text/plain"},  # a form would not reach request.data
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert answer.status == 200


def test_wrong_credentials_named_once_then_drained(
    bucket: MotoServer,
    credentials: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A key moto's IAM does not know is refused, named once (an error naming the variable) and
    counted, the sweep of stale uploads included; with the right key the backlog drains."""
    key, secret = iam_key(bucket)
    store = new_store(tmp_path / "store")
    fill(store, 6)
    fill(store, 3, start=70)  # the next hour: two aggregates
    monkeypatch.setenv(KEY_ENV, "AKIAWRONGWRONGWRONG0")
    monkeypatch.setenv(SECRET_ENV, secret)
    authenticate(bucket, True)
    up = aggregate(bucket, tmp_path / "state")
    up.add_store("can", store)
    with caplog.at_level(logging.WARNING, logger="logger.upload"):
        up.start()
        try:
            wait_until(lambda: failures(up)["auth"] >= 3, what="refused credentials counted")
        finally:
            up.stop()
    named = [r for r in caplog.records if "refused our credentials" in r.getMessage()]
    assert len(named) == 1, [r.getMessage() for r in caplog.records]
    assert named[0].levelno == logging.ERROR and KEY_ENV in named[0].getMessage()
    stats = up.stats()
    assert stats["files"] == 0
    backlog = stats["backlog"]
    assert isinstance(backlog, dict) and backlog["pending_files"] == 9
    monkeypatch.setenv(KEY_ENV, key)
    again = aggregate(bucket, tmp_path / "state")
    again.add_store("can", store)
    stats = run(again)
    assert stats["files"] == 9 and failures(again)["auth"] == 0
    authenticate(bucket, False)  # the checks below sign with the test's own key
    landed_once(bucket, tmp_path / "store", 2)


def test_full_disk_offline_block_keeps_every_file_until_uploaded(
    moto: MotoServer, credentials: None, tmp_path: Path
) -> None:
    up, _cfg = offline(moto, tmp_path, mode="aggregate", on_full="block")
    store = guarded_store(tmp_path / "store", up)
    up.start()
    try:
        fill(store, 3 * LIMIT)
        assert store.enforce_retention(lambda f: False) == []  # as the writer calls it
        assert store.file_count == 3 * LIMIT  # over its limit: nothing uploaded may go
        wait_until(lambda: numbers(up)[0] == 3 * LIMIT, what="the backlog counted")
        wait_until(lambda: failures(up)["unreachable"] >= 1, what="the endpoint found away")
        _, blocked, lost, _ = numbers(up)
        assert blocked > 0 and lost == 0
        moto.start()
        create_bucket(moto)
        assert up.wait_idle(60), up.stats()
        landed_once(moto, tmp_path / "store", 1)
        assert len(store.enforce_retention(lambda f: False)) == 2 * LIMIT  # uploaded: may go
        assert store.file_count == LIMIT
    finally:
        up.stop()
    assert Ledger(tmp_path / "state").totals().uploaded_files == LIMIT


def test_full_disk_offline_drop_oldest_counts_what_was_never_uploaded(
    moto: MotoServer, credentials: None, tmp_path: Path
) -> None:
    up, _cfg = offline(moto, tmp_path, mode="aggregate", on_full="drop_oldest")
    store = guarded_store(tmp_path / "store", up)
    up.start()
    try:
        fill(store, 3 * LIMIT)
        wait_until(lambda: failures(up)["unreachable"] >= 1, what="the endpoint found away")
        deleted = []

        def within_limit() -> bool:  # an attempt under way leases its aggregate's files
            deleted.extend(store.enforce_retention(lambda f: False))
            return store.file_count == LIMIT

        wait_until(within_limit, what="retention within the limit")
        assert len(deleted) == 2 * LIMIT
        _, blocked, lost, lost_bytes = numbers(up)
        assert (blocked, lost) == (0, 2 * LIMIT)
        assert lost_bytes == sum(f.size for f in deleted)
        moto.start()
        create_bucket(moto)
        wait_until(lambda: numbers(up)[0] == 0 and up.wait_idle(0.1), what="the rest uploaded")
        landed_once(moto, tmp_path / "store", 1)
    finally:
        up.stop()
    totals = Ledger(tmp_path / "state").totals()
    assert (totals.lost_files, totals.uploaded_files) == (2 * LIMIT, LIMIT)
