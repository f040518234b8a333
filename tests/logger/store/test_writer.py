"""Durable batch writes: hour split, compression, metadata, sequence numbers, all-or-nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from logger.core.config import COMPRESSIONS, ParquetConfig
from logger.core.errors import StoreError, StoreWriteError
from logger.store import ParquetStore
from logger.store.chunk import TableChunk, WriteHints
from logger.store.layout import partition
from tests.support.store import (
    BASE_METADATA,
    BASE_NS,
    HOUR_NS,
    MINUTE_NS,
    chunk,
    evenly,
    files_on_disk,
    make_store,
    table_at,
    write_published,
)


def test_batch_spanning_an_hour_lands_in_two_partitions(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    times = evenly(BASE_NS + HOUR_NS - 30 * MINUTE_NS, 600, 6_000_000_000)  # 12:30 .. 13:30
    files = write_published(store, [chunk(times)])
    assert len(files) == 2
    assert [f.path.parent.parent.name + "/" + f.path.parent.name for f in files] == [
        "date=2024-03-10/hour=12",
        "date=2024-03-10/hour=13",
    ]
    assert files[0].first_ns == int(times[0]) and files[1].last_ns == int(times[-1])
    assert files[0].last_ns < BASE_NS + HOUR_NS <= files[1].first_ns
    assert files[0].seq < files[1].seq

    data = ds.dataset(tmp_path / "can" / "frames", format="parquet", partitioning="hive").to_table()
    assert data.num_rows == times.size
    ts = data["ts"].to_numpy()
    assert sorted(ts.tolist()) == times.tolist()
    for t, date, hour in zip(
        ts.tolist(), data["date"].to_pylist(), data["hour"].to_pylist(), strict=True
    ):
        moment = datetime.fromtimestamp(t / 1e9, tz=UTC)
        assert str(date) == f"{moment:%Y-%m-%d}" and int(hour) == moment.hour


def test_unordered_rows_are_grouped_by_hour(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    times = [
        BASE_NS + HOUR_NS + 5,
        BASE_NS + 1,
        BASE_NS + 2 * HOUR_NS,
        BASE_NS + 3,
        BASE_NS + HOUR_NS,
    ]
    files = write_published(store, [chunk(times)])
    assert [(f.first_ns, f.last_ns) for f in files] == [
        (BASE_NS + 1, BASE_NS + 3),
        (BASE_NS + HOUR_NS, BASE_NS + HOUR_NS + 5),
        (BASE_NS + 2 * HOUR_NS, BASE_NS + 2 * HOUR_NS),
    ]
    for f in files:
        assert partition(f.first_ns) == (f.path.parent.parent.name, f.path.parent.name)
    assert pq.read_table(files[0].path)["ts"].to_pylist() == [BASE_NS + 1, BASE_NS + 3]


@pytest.mark.parametrize("compress", COMPRESSIONS)
def test_every_compression_writes_and_reads_back(tmp_path: Path, compress: str) -> None:
    store = make_store(tmp_path, compress=compress)
    times = evenly(BASE_NS, 500, 1_000_000)
    (file,) = write_published(store, [chunk(times)])
    expected = "UNCOMPRESSED" if compress == "uncompressed" else compress.upper()
    assert pq.read_metadata(file.path).row_group(0).column(0).compression == expected
    back = store.read(file, "ts", BASE_NS, BASE_NS + HOUR_NS)
    assert back.equals(table_at(times).replace_schema_metadata(back.schema.metadata))
    assert pq.read_table(file.path).num_rows == 500


def test_metadata_and_extra_metadata_only_in_first_file(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    times = evenly(BASE_NS + HOUR_NS - 1000, 4, 500)  # spans the hour
    files = store.write(
        [chunk(times), chunk(times[:2], name="signals/message=EngineData")],
        {"sdvlog.ledger": b"\x00ack"},
    )
    assert len(files) == 3
    for f in files:
        meta = pq.read_metadata(f.path).metadata
        for key, value in BASE_METADATA.items():
            assert meta[key.encode()] == value.encode()
        assert meta[b"sdvlog.exchange"] == b"can"
        assert meta[b"sdvlog.table"] == f.table.encode()
        assert meta[b"sdvlog.time_column"] == b"ts"
    store.publish(files)
    first = store.read_metadata(files[0])
    assert first[b"sdvlog.ledger"] == b"\x00ack"
    assert b"ARROW:schema" not in first
    assert all(b"sdvlog.ledger" not in store.read_metadata(f) for f in files[1:])


def test_written_files_are_invisible_until_published(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    files = store.write([chunk([BASE_NS, BASE_NS + 1])], {})
    assert store.files("frames") == [] and store.tables() == []
    store.publish(files)
    store.publish(files)  # idempotent
    assert store.files("frames") == files and store.file_count == 1
    assert store.total_bytes == files[0].size == files[0].path.stat().st_size


def test_seq_increases_across_batches_and_restarts(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    a = store.write([chunk([BASE_NS]), chunk([BASE_NS], name="spi")], {})
    b = store.write([chunk([BASE_NS])], {})
    seqs = [f.seq for f in a + b]
    assert seqs == sorted(set(seqs))
    again = make_store(tmp_path)
    c = again.write([chunk([BASE_NS])], {})
    assert c[0].seq == max(seqs) + 1
    assert again.newest_files(2) == [b[0], a[1]]


def test_empty_chunk_writes_nothing(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    assert store.write([chunk([])], {"k": b"v"}) == []
    assert files_on_disk(tmp_path / "can") == set()


def test_write_before_recover_is_refused(tmp_path: Path) -> None:
    store = make_store(tmp_path, recover=False)
    with pytest.raises(StoreError, match="recover"):
        store.write([chunk([BASE_NS])], {})


def test_failed_batch_leaves_nothing_behind(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    kept = write_published(store, [chunk([BASE_NS])])
    # A regular file where the second chunk's table directory must go makes that chunk fail
    # after the first chunk's files are already renamed into place.
    blocker = tmp_path / "can" / "blocked"
    blocker.write_bytes(b"not a directory")
    batch = [chunk(evenly(BASE_NS, 10, HOUR_NS // 4)), chunk([BASE_NS + 5], name="blocked")]
    with pytest.raises(StoreWriteError) as err:
        store.write(batch, {"sdvlog.ledger": b"x"})
    assert not err.value.disk_full
    assert isinstance(err.value.__cause__, OSError)
    assert files_on_disk(tmp_path / "can") == {kept[0].path, blocker}
    assert [p.name for p in (tmp_path / "can" / "frames").iterdir()] == ["date=2024-03-10"]
    assert [p.name for p in kept[0].path.parent.parent.iterdir()] == ["hour=12"]
    blocker.unlink()
    retried = store.write(batch, {"sdvlog.ledger": b"x"})
    assert len(retried) == 4 and all(f.path.exists() for f in retried)


def test_bad_time_column_fails_cleanly(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    good = chunk(evenly(BASE_NS, 3, 1))
    bad = TableChunk("frames", pa.table({"ts": pa.array([1.5, 2.5])}), "ts")
    missing = TableChunk("frames", table_at([BASE_NS]), "time")
    nulls = TableChunk("frames", pa.table({"ts": pa.array([BASE_NS, None], pa.int64())}), "ts")
    for broken in (bad, missing, nulls):
        with pytest.raises(StoreError):
            store.write([good, broken], {})
    assert files_on_disk(tmp_path / "can") == set()


def test_timestamp_time_column(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    times = evenly(BASE_NS, 10, 1_000)  # microsecond steps
    table = pa.table(
        {"t": pa.array(times // 1000, pa.timestamp("us", tz="UTC")), "v": np.arange(10)}
    )
    (file,) = write_published(store, [TableChunk("spi", table, "t")])
    assert (file.first_ns, file.last_ns) == (int(times[0]), int(times[-1]))
    got = store.read(file, "t", int(times[2]) - 1, int(times[5]) + 999)
    assert got["v"].to_pylist() == [2, 3, 4, 5]


def test_time_unit_hint_stores_timestamps_and_reads_back_ns(tmp_path: Path) -> None:
    store = make_store(tmp_path, row_group_rows=100)
    times = evenly(BASE_NS, 1000, 1_000_000) + 7_000  # whole microseconds
    hints = WriteHints(time_unit="us")
    (file,) = write_published(store, [TableChunk("frames", table_at(times), "ts", hints)])
    on_disk = pq.read_table(file.path)
    assert on_disk.schema.field("ts").type == pa.timestamp("us", "UTC")
    assert on_disk["ts"].cast(pa.int64()).to_pylist() == (times // 1000).tolist()
    assert (file.first_ns, file.last_ns) == (int(times[0]), int(times[-1]))
    got = store.read(file, "ts", int(times[250]), int(times[349]))
    assert got.schema.field("ts").type == pa.int64()
    assert got["ts"].to_pylist() == times[250:350].tolist()
    assert store.row_groups(file, "ts", int(times[250]), int(times[349])) == [2, 3]
    empty = store.read(file, "ts", 0, 1)
    assert empty.num_rows == 0 and empty.schema.field("ts").type == pa.int64()


def test_time_unit_hint_refuses_times_that_are_not_whole_units(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    ragged = TableChunk(
        "frames", table_at([BASE_NS, BASE_NS + 1]), "ts", WriteHints(time_unit="us")
    )
    with pytest.raises(StoreError, match="not whole us"):
        store.write([ragged], {})
    assert files_on_disk(tmp_path / "can") == set()
    with pytest.raises(ValueError, match="time_unit"):
        WriteHints(time_unit="fortnight")


def test_an_exchange_keeps_one_time_unit(tmp_path: Path) -> None:
    cfg = ParquetConfig(dir=tmp_path)
    micro = ParquetStore(cfg, "can", {**BASE_METADATA, "sdvlog.time_unit": "us"})
    micro.recover()
    hints = WriteHints(time_unit="us")
    write_published(micro, [TableChunk("frames", table_at([BASE_NS]), "ts", hints)])
    nano = ParquetStore(cfg, "can", {**BASE_METADATA, "sdvlog.time_unit": "ns"})
    with pytest.raises(StoreError, match=r"hold times in us.*set time_unit = 'us'"):
        nano.recover()
    nano.recover(read_only=True)  # reading is fine: reads give ns whatever the unit
    again = ParquetStore(cfg, "can", {**BASE_METADATA, "sdvlog.time_unit": "us"})
    assert len(again.recover().files) == 1
