"""Aggregate mode against moto's S3 server: each table and hour compacted into objects equal to the
union of their files' rows, in the lake's layout, SHA-256 in the metadata, limits honoured, sent
with multipart upload (parts of ``part_size``), idempotent, stale uploads aborted, registered by
the lake; a kill after completion found by HEAD; config errors."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from logger.core.config import parse_config
from logger.core.errors import ConfigError
from logger.lake.keys import parse_key
from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from logger.upload.agg_ledger import AggLedger, Pending
from logger.upload.aggregate import HOUR_NS, AggregateUploader, make_uploader
from logger.upload.compact import PartSink
from logger.upload.ledger import Ledger
from tests.logger.upload.agg_support import (
    aggregate,
    big_files,
    incomplete,
    objects,
    rows_of,
    run,
    stored,
)
from tests.logger.upload.conftest import BUCKET, VIN, fill, new_store, upload_config
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client
from tests.support.store import BASE_NS, MINUTE_NS, chunk, evenly, write_published


def test_one_object_per_table_and_hour_equal_to_the_files_rows(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 12)  # minutes 0-11 of an hour
    fill(store, 3, start=70)  # the next hour
    fill(store, 4, start=100, table="signals/message=EngineData")
    up = aggregate(bucket, tmp_path / "state")
    up.add_store("can", store)
    stats = run(up)
    assert stats["files"] == 19
    got = objects(bucket)
    assert len(got) == 3
    local = stored(tmp_path / "store")
    for key, (rows, meta_sha, body_sha) in got.items():
        parsed = parse_key(key)
        assert parsed is not None and parsed.vehicle == VIN, key  # the lake registers it
        assert meta_sha == body_sha
        hour = f"/hour={key.split('/hour=')[1].split('/')[0]}/"
        mine = [p for p in local if hour in p.as_posix() and parsed.table in p.as_posix()]
        assert rows.sort_by("ts").equals(rows_of(mine)), key
    assert sum(len(t) for t, _, _ in got.values()) == len(rows_of(local))
    assert incomplete(bucket) == []
    ledger = Ledger(tmp_path / "state")
    assert len(ledger.uploaded()) == 19
    ledger.close()
    again = aggregate(bucket, tmp_path / "state")  # idempotent: nothing new
    again.add_store("can", store)
    assert run(again)["files"] == 0
    assert len(objects(bucket)) == 3


def test_limits_cut_the_window(bucket: MotoServer, credentials: None, tmp_path: Path) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 12)  # 100 rows each
    up = aggregate(bucket, tmp_path / "state", max_records=250)
    up.add_store("can", store)
    run(up)
    got = objects(bucket)
    assert sorted(len(t) for t, _, _ in got.values()) == [200] * 6
    store2 = new_store(tmp_path / "store2")
    fill(store2, 12)
    up = aggregate(bucket, tmp_path / "state2", interval_s=150.0, prefix="b")
    up.add_store("can", store2)
    run(up)
    assert sum(k.startswith("b/") for k in objects(bucket)) == 4  # 3 files span 2 min: 150 s


def test_multipart_parts_of_part_size_and_stale_uploads_aborted(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    big_files(store, 6)  # ~12 MB: three parts of 5 MB
    client = s3_client(bucket)
    stray = f"vehicle={VIN}/exchange=can/frames/date=2024-03-10/hour=12/1-2-3.parquet"
    other = "vehicle=OTHER/exchange=can/frames/x.parquet"
    for key in (stray, other):
        client.create_multipart_upload(Bucket=BUCKET, Key=key)
    up = aggregate(bucket, tmp_path / "state", part_size=5 << 20)
    up.add_store("can", store)
    stats = run(up)
    assert stats["aggregate"] == {"parts": 3, "parts_resumed": 0, "aborted": 1, "pending": 0}
    (key,) = objects(bucket)
    head = client.head_object(Bucket=BUCKET, Key=key)
    assert head["ETag"].strip('"').endswith("-3")
    assert incomplete(bucket) == [other]  # another vehicle's upload is not ours to abort


@pytest.mark.parametrize(
    ("upload", "key", "problem"),
    [
        ({"max_records": 0}, "upload.max_records", "at least 1"),
        ({"max_bytes": "0B"}, "upload.max_bytes", "at least 1"),
        ({"interval": "0s"}, "upload.interval", "positive"),
        ({"part_size": "4MB"}, "upload.part_size", "at least 5MB"),
    ],
)
def test_aggregate_config_errors(upload: dict[str, object], key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"upload": {"bucket": "b", "mode": "aggregate", **upload}},
            source=Path("vehicle.toml"),
        )
    assert caught.value.key == key and caught.value.file == Path("vehicle.toml")
    assert problem in str(caught.value)


def test_aggregate_refuses_encrypted_stores() -> None:
    enc = {"encryption": {"key_id": "k1", "key_env": "K"}}
    with pytest.raises(ConfigError) as caught:
        parse_config(
            {"parquet": enc, "upload": {"bucket": "b", "mode": "aggregate"}},
            source=Path("vehicle.toml"),
        )
    assert caught.value.key == "upload.mode" and caught.value.file == Path("vehicle.toml")
    assert "encrypted" in str(caught.value)
    parse_config({"parquet": enc, "upload": {"bucket": "b"}})  # direct mode is fine


def test_part_sink_cuts_parts_of_part_size() -> None:
    got: list[tuple[int, bytes]] = []
    sink = PartSink(10, lambda n, d: got.append((n, d)))
    for piece in (b"a" * 7, b"b" * 15, b"c" * 3):
        sink.write(piece)
    assert [len(d) for _, d in got] == [10, 10]  # only whole parts until the end
    sink.finish()
    assert [n for n, _ in got] == [1, 2, 3] and [len(d) for _, d in got] == [10, 10, 5]
    whole = b"".join(d for _, d in got)
    assert whole == b"a" * 7 + b"b" * 15 + b"c" * 3 and sink.size == 25
    assert sink.sha256.hexdigest() == hashlib.sha256(whole).hexdigest()


def test_killed_after_completing_finds_the_object_by_head(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 4)
    run(aggregate_on(bucket, tmp_path / "state", store))
    (key,) = objects(bucket)
    ledger = Ledger(tmp_path / "state")  # as a kill between completion and the ledger leaves it
    rows = ledger.uploaded_rows()
    for exchange, path, *_ in rows:
        ledger.forget(exchange, path)
    ledger.close()
    aggs = AggLedger(tmp_path / "state")
    size = s3_client(bucket).head_object(Bucket=BUCKET, Key=key)["ContentLength"]
    aggs.intend(Pending(key, "can", sorted(p for _, p, *_ in rows), size, rows[0][4], None))
    aggs.close()
    before = bucket.log_path.read_text().count("partNumber=")
    stats = run(aggregate_on(bucket, tmp_path / "state", store))
    assert stats["files"] == 4 and stats["already_present"] == 1
    assert bucket.log_path.read_text().count("partNumber=") == before
    assert len(objects(bucket)) == 1


def aggregate_on(server: MotoServer, state: Path, store: ParquetStore) -> AggregateUploader:
    up = aggregate(server, state)
    up.add_store("can", store)
    return up


def test_the_lake_registers_the_aggregates(
    bucket: MotoServer, credentials: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from logger.lake.catalog import open_catalog, register  # noqa: PLC0415 - pyiceberg
    from logger.lake.source import LakeSource  # noqa: PLC0415

    store = new_store(tmp_path / "store")
    for minute in (0, 1, 2, 70, 71):  # the lake wants ts as a timestamp: two hours
        ts = (BASE_NS + minute * MINUTE_NS) // 1000 + np.arange(50, dtype=np.int64)
        table = pa.table({"ts": pa.array(ts, pa.timestamp("us", tz="UTC")), "v": np.ones(50)})
        write_published(store, [TableChunk("frames", table, "ts")])
    run(aggregate_on(bucket, tmp_path / "state", store))
    got = objects(bucket)
    assert sorted(len(t) for t, _, _ in got.values()) == [100, 150]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    source = LakeSource(bucket=BUCKET, endpoint=bucket.endpoint, region=REGION)
    result = register(open_catalog(tmp_path / "lake", source, create=True), source)
    assert result.skipped == {} and result.added == {"frames": 2}


def test_the_current_hour_waits_unless_flushed(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    now = time.time_ns()
    start = now - now % MINUTE_NS  # this minute: its hour is not over
    if now % HOUR_NS > HOUR_NS - 2 * MINUTE_NS:
        pytest.skip("too close to the end of the hour")
    store = new_store(tmp_path / "store")
    for i in range(3):
        write_published(store, [chunk(evenly(start + i * 1000, 10, 1), "frames", i)])
    live = make_uploader(upload_config(bucket, mode="aggregate"), VIN, tmp_path / "state")
    live.add_store("can", store)
    live.start()
    try:
        assert live.wait_idle(60)
        assert live.stats()["files"] == 0 and objects(bucket) == {}
    finally:
        live.stop()
    stats = run(aggregate_on(bucket, tmp_path / "state", store))  # --once flushes
    assert stats["files"] == 3 and len(objects(bucket)) == 1
