"""Range pruning: by file name, then by row-group statistics, then exactly by row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from logger.core.errors import StoreReadError
from logger.store.index import StoreIndex
from logger.store.layout import StoredFile
from tests.support.store import (
    BASE_NS,
    HOUR_NS,
    MINUTE_NS,
    chunk,
    evenly,
    make_store,
    write_published,
)


def test_files_prunes_by_name_range(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    files = [
        write_published(store, [chunk(evenly(BASE_NS + i * MINUTE_NS, 10, 1000))])[0]
        for i in range(5)
    ]
    assert store.files("frames", BASE_NS + MINUTE_NS, BASE_NS + 2 * MINUTE_NS) == files[1:3]
    last_of_0 = files[0].last_ns
    assert store.files("frames", last_of_0, last_of_0) == [files[0]]
    assert store.files("frames", last_of_0 + 1, BASE_NS + MINUTE_NS - 1) == []
    assert store.files("frames") == files
    assert store.files("other") == []
    assert store.tables() == ["frames"]


def test_read_returns_exactly_the_range_from_matching_row_groups(tmp_path: Path) -> None:
    store = make_store(tmp_path, row_group_rows=100, compress="uncompressed")
    times = evenly(BASE_NS, 1000, 1_000_000)  # 1 ms apart, 10 row groups of 100 ms
    (file,) = write_published(store, [chunk(times)])
    assert pq.read_metadata(file.path).num_row_groups == 10

    start, end = int(times[250]), int(times[420])
    assert store.row_groups(file, "ts", start, end) == [2, 3, 4]
    got = store.read(file, "ts", start, end)
    assert got["ts"].to_pylist() == times[250:421].tolist()
    assert store.read(file, "ts", start + 1, end - 1)["ts"].to_pylist() == times[251:420].tolist()
    assert store.read(file, "ts", int(times[-1]) + 1, int(times[-1]) + HOUR_NS).num_rows == 0
    assert store.read(file, "ts", start, end, columns=["value"]).column_names == ["value"]
    whole = store.read(file, "ts", BASE_NS, BASE_NS + HOUR_NS)
    assert whole.num_rows == 1000 and store.row_groups(
        file, "ts", BASE_NS, BASE_NS + HOUR_NS
    ) == list(range(10))

    # Destroy row group 0 on disk: reads that prune it away still work, the others fail cleanly.
    chunk0 = pq.read_metadata(file.path).row_group(0).column(0)
    with file.path.open("r+b") as fh:
        fh.seek(chunk0.data_page_offset)
        fh.write(b"\xff" * chunk0.total_compressed_size)
    assert store.read(file, "ts", start, end)["ts"].to_pylist() == times[250:421].tolist()
    with pytest.raises(StoreReadError) as err:
        store.read(file, "ts", int(times[10]), int(times[20]))
    assert err.value.path == file.path


def test_read_of_a_deleted_file_is_a_store_error(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (file,) = write_published(store, [chunk([BASE_NS])])
    file.path.unlink()
    with pytest.raises(StoreReadError, match="no such file"):
        store.read(file, "ts", BASE_NS, BASE_NS)


def test_one_minute_window_reads_only_its_row_groups(tmp_path: Path) -> None:
    store = make_store(tmp_path, row_group_rows=10_000)
    times = evenly(BASE_NS, 360_000, 10_000_000)  # one hour at 100 Hz, one file, 36 row groups
    write_published(store, [chunk(times)])
    start = BASE_NS + 30 * MINUTE_NS
    (file,) = store.files("frames", start, start + MINUTE_NS)
    assert pq.read_metadata(file.path).num_row_groups == 36
    assert store.row_groups(file, "ts", start, start + MINUTE_NS) == [18]  # of 100 s each
    assert store.read(file, "ts", start, start + MINUTE_NS).num_rows == 6001


def test_index_with_100k_files_finds_removes_and_republishes(tmp_path: Path) -> None:
    index = StoreIndex()
    starts = BASE_NS + np.arange(100_000, dtype=np.int64) * 10_000_000_000
    files = [
        StoredFile(s, s + 9_000_000_000, i, "frames", tmp_path / f"{i}", 1)
        for i, s in enumerate(starts.tolist())
    ]
    index.add(files)
    for i in range(0, 100_000, 100):
        assert index.files("frames", files[i].first_ns + 1, files[i].first_ns + 2) == [files[i]]
    for f in files[:1000]:
        index.remove(f)
    assert index.count == 99_000 and index.oldest(limit=1) == [files[1000]]
    for f in reversed(files[:1000]):  # publishing older files one by one stays cheap
        index.add([f])
    assert index.count == 100_000 and index.oldest(limit=2) == files[:2]
