"""Disk full on a real tiny tmpfs: a clean StoreWriteError, nothing partial left, then recovery."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from logger.core.errors import StoreWriteError
from logger.store import StoredFile
from tests.support.mounts import tmpfs
from tests.support.store import BASE_NS, MINUTE_NS, chunk, evenly, files_on_disk, make_store


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "disk", "size=1m") as mount_point:
        yield mount_point


def test_disk_full(small_disk: Path) -> None:
    store = make_store(small_disk, compress="uncompressed", file_count=2)
    stored: list[StoredFile] = []
    failure: StoreWriteError | None = None
    for i in range(50):
        start = BASE_NS + i * MINUTE_NS
        batch = [
            chunk(evenly(start, 4000, 1000), seed=i),
            chunk(evenly(start, 4000, 1000), "spi", seed=i),
        ]
        try:
            files = store.write(batch, {"sdvlog.ledger": np.int64(i).tobytes()})
        except StoreWriteError as exc:
            failure = exc
            break
        store.publish(files)
        stored += files
    assert failure is not None, "the 1 MB disk never filled up"
    assert failure.disk_full and "disk full" in str(failure)
    assert stored, "not even one batch fit"

    assert files_on_disk(small_disk / "can") == {f.path for f in stored}, (
        "no temporaries, no partial batch"
    )
    for f in stored:
        assert store.read(f, "ts", 0, 2**62).num_rows == 4000

    deleted = store.enforce_retention(lambda f: False)
    assert deleted == sorted(stored)[: len(stored) - 2]
    again = store.write([chunk(evenly(BASE_NS + 60 * MINUTE_NS, 4000, 1000), seed=99)], {})
    assert len(again) == 1 and again[0].path.exists()
