"""Start-up scan: temporaries removed, truncated and foreign files skipped and reported."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from logger.store.layout import format_name, temp_name
from tests.support.store import (
    BASE_NS,
    chunk,
    evenly,
    files_on_disk,
    make_store,
    table_at,
    write_published,
)


def test_recover_cleans_and_skips(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = make_store(tmp_path)
    good = write_published(
        store, [chunk(evenly(BASE_NS, 50, 1000)), chunk([BASE_NS + 5], name="spi")]
    )
    hour_dir = good[0].path.parent

    leftover = hour_dir / temp_name(format_name(BASE_NS + 100, BASE_NS + 200, 40))
    leftover.write_bytes(good[0].path.read_bytes()[:100])
    truncated = hour_dir / format_name(BASE_NS + 300, BASE_NS + 400, 41)
    truncated.write_bytes(good[0].path.read_bytes()[:-10])
    foreign_valid = hour_dir / "part-0000.parquet"
    pq.write_table(table_at([BASE_NS]), foreign_valid)
    random_bytes = hour_dir / format_name(BASE_NS + 500, BASE_NS + 600, 77)
    random_bytes.write_bytes(os.urandom(3000))
    tiny = hour_dir / format_name(BASE_NS + 700, BASE_NS + 800, 42)
    tiny.write_bytes(b"PAR1")
    misplaced = good[0].path.parent.parent / "hour=05" / good[0].path.name.replace("-0.", "-43.")
    misplaced.parent.mkdir()
    misplaced.write_bytes(good[0].path.read_bytes())

    caplog.set_level(logging.WARNING, logger="logger.store")
    fresh = make_store(tmp_path, recover=False)
    report = fresh.recover()

    assert report.removed_temporaries == (leftover,)
    assert not leftover.exists()
    assert report.files == tuple(sorted(good))
    assert fresh.files("frames") == [good[0]] and fresh.files("spi") == [good[1]]
    reasons = {s.path: s.reason for s in report.skipped}
    assert set(reasons) == {truncated, foreign_valid, random_bytes, tiny, misplaced}
    assert "truncated" in reasons[truncated]
    assert reasons[foreign_valid].startswith("foreign")
    assert "magic" in reasons[random_bytes]
    assert "truncated" in reasons[tiny]
    assert "partition" in reasons[misplaced]
    for path in reasons:
        assert path.exists(), "skipped files are left alone"
        assert any(
            str(path) in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
        )
    assert report.next_seq == 78  # past every seq seen in a name, even unreadable ones
    assert fresh.write([chunk([BASE_NS + 1])], {})[0].seq == 78


def test_recover_on_an_empty_directory(tmp_path: Path) -> None:
    store = make_store(tmp_path / "nothing-yet", recover=False)
    report = store.recover()
    assert report.files == () and report.skipped == () and report.next_seq == 0
    assert (tmp_path / "nothing-yet" / "can").is_dir()


def test_other_exchanges_are_separate(tmp_path: Path) -> None:
    can = make_store(tmp_path, "can")
    spi = make_store(tmp_path, "spi")
    write_published(can, [chunk([BASE_NS])])
    write_published(spi, [chunk([BASE_NS + 1])])
    again = make_store(tmp_path, "can")
    assert again.file_count == 1
    assert files_on_disk(tmp_path / "spi") == {spi.files("frames")[0].path}
