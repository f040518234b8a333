"""Retention by file count and by total size: oldest first, never protected or leased files."""

from __future__ import annotations

from pathlib import Path

from logger.core.command import parse_command
from logger.core.config import ExchangeConfig
from logger.core.errors import Code
from logger.core.message import MessageBatch
from logger.query.answer import Answerer, StoreSource
from logger.query.client import parse_end, read_frame
from logger.store import ParquetStore, StoredFile
from logger.streams.plugin import Query
from logger.streams.raw import RawPlugin
from tests.support.store import (
    BASE_NS,
    MINUTE_NS,
    chunk,
    evenly,
    files_on_disk,
    make_store,
    write_published,
)


def fill(store: ParquetStore, n: int) -> list[StoredFile]:
    """``n`` files a minute apart, alternating between two tables (oldest first)."""
    files = []
    for i in range(n):
        name = "frames" if i % 2 == 0 else "signals/message=EngineData"
        files += write_published(
            store, [chunk(evenly(BASE_NS + i * MINUTE_NS, 200, 1000), name, seed=i)]
        )
    return files


def test_file_count_deletes_oldest_first(tmp_path: Path) -> None:
    store = make_store(tmp_path, file_count=3)
    files = fill(store, 6)
    deleted = store.enforce_retention(lambda f: False)
    assert deleted == files[:3]
    assert store.file_count == 3
    assert files_on_disk(tmp_path / "can") == {f.path for f in files[3:]}
    assert store.enforce_retention(lambda f: False) == []


def test_protected_and_leased_files_survive(tmp_path: Path) -> None:
    store = make_store(tmp_path, file_count=2)
    files = fill(store, 6)
    protected = {files[0].path}
    with store.lease([files[1]]) as held:
        assert held == [files[1]]
        deleted = store.enforce_retention(lambda f: f.path in protected)
        assert deleted == files[2:]  # everything else, oldest first, until 2 remain
        assert files[1].path.exists() and files[0].path.exists()
        assert store.read(files[1], "ts", 0, 2**62).num_rows == 200
    assert store.file_count == 2
    # The lease is gone: the next pass may delete files[1], but still not the protected one.
    assert store.enforce_retention(lambda f: f.path in protected) == []
    write_published(store, [chunk([BASE_NS + 10 * MINUTE_NS])])
    assert store.enforce_retention(lambda f: f.path in protected) == [files[1]]


def test_lease_skips_files_already_deleted(tmp_path: Path) -> None:
    store = make_store(tmp_path, file_count=1)
    files = fill(store, 2)
    store.enforce_retention(lambda f: False)
    with store.lease(files) as held:
        assert held == [files[1]]


def test_file_size_limit(tmp_path: Path) -> None:
    probe = make_store(tmp_path / "probe")
    sizes = [f.size for f in fill(probe, 6)]
    limit = sum(sizes[-2:]) + 1
    store = make_store(tmp_path / "data", file_size=limit)
    files = fill(store, 6)
    assert [f.size for f in files] == sizes
    deleted = store.enforce_retention(lambda f: False)
    assert deleted == files[:4]
    assert store.total_bytes == sum(f.size for f in files[4:]) <= limit
    assert files_on_disk(tmp_path / "data" / "can") == {f.path for f in files[4:]}


def test_everything_protected_keeps_everything(tmp_path: Path) -> None:
    store = make_store(tmp_path, file_count=1)
    files = fill(store, 3)
    assert store.enforce_retention(lambda f: True) == []
    assert store.file_count == 3 and all(f.path.exists() for f in files)


class RetentionAfterSnapshot(StoreSource):
    """A source whose store's retention runs right after the query took its snapshot."""

    def snapshot(
        self, table: str, start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]:
        found, memory = super().snapshot(table, start_ns, end_ns)
        self.store.enforce_retention(lambda f: False)
        return found, memory


def test_a_query_skips_files_deleted_between_its_snapshot_and_its_lease(tmp_path: Path) -> None:
    store = make_store(tmp_path, file_count=2)
    files = [
        f
        for i in range(3)
        for f in write_published(store, [chunk(evenly(BASE_NS + i * MINUTE_NS, 10, 1000))])
    ]
    plugin = RawPlugin(ExchangeConfig(name="can"))
    source = RetentionAfterSnapshot("can", plugin, store)
    query = Query(parse_command(f"sync-0-{(1 << 63) - 1}"), "frames", "ts")
    *frames, end = Answerer(source).answer(query)
    assert not files[0].path.exists()  # deleted after the snapshot named it
    assert parse_end(end)[:2] == (Code.OK, Code.NONE)  # a file gone is not a decode error
    times = [t for frame in frames for t in read_frame(frame).column("ts").to_pylist()]
    assert times == [t for f in files[1:] for t in evenly(f.first_ns, 10, 1000).tolist()]
