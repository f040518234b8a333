"""Compaction: row groups of ROW_GROUP_ROWS rows whatever the files' own, the rows and schema of the
files in order, the same bytes every time; a PartSink whose emit failed sends nothing more."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest

from logger.upload.compact import ROW_GROUP_ROWS, PartSink, compact, write
from tests.logger.upload.agg_support import rows_of, stored
from tests.logger.upload.conftest import new_store
from tests.support.store import BASE_NS, MINUTE_NS, chunk, evenly, write_published


def test_row_groups_of_row_group_rows(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store")
    for i in range(3):  # 40,000 rows each: one row group per file
        times = evenly(BASE_NS + i * MINUTE_NS, 40_000, 1000)
        files = store.write([chunk(times, "frames", i)], {})
        store.publish(files)
    paths = stored(tmp_path / "store")
    assert [pq.ParquetFile(p).metadata.num_row_groups for p in paths] == [1, 1, 1]
    write(paths, str(tmp_path / "one.parquet"))
    got = pq.ParquetFile(tmp_path / "one.parquet")
    sizes = [got.metadata.row_group(i).num_rows for i in range(got.metadata.num_row_groups)]
    assert sizes == [ROW_GROUP_ROWS, 120_000 - ROW_GROUP_ROWS]
    assert got.read().equals(rows_of(paths))
    assert got.schema_arrow.metadata == pq.ParquetFile(paths[0]).schema_arrow.metadata
    write(paths, str(tmp_path / "again.parquet"))
    assert (tmp_path / "again.parquet").read_bytes() == (tmp_path / "one.parquet").read_bytes()


def test_part_sink_sends_nothing_after_a_failed_part(tmp_path: Path) -> None:
    store = new_store(tmp_path / "store")
    for i in range(4):
        write_published(store, [chunk(evenly(BASE_NS + i * MINUTE_NS, 20_000, 1000), seed=i)])
    sent: list[int] = []

    def emit(number: int, data: bytes) -> None:
        sent.append(number)
        if number == 2:
            raise OSError("the endpoint went away")

    with pytest.raises(OSError, match="went away"):
        compact(stored(tmp_path / "store"), PartSink(64 << 10, emit))
    assert sent == [1, 2]  # not the failed part's bytes again, as part 3, when the writer closes
