"""The databases an exchange decoded with, kept beside its tables under ``_databases/``."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pyarrow.dataset as ds
import pytest

from logger.core.errors import StoreError
from logger.store.databases import keep_database, kept_database, kept_databases
from logger.store.layout import DATABASES_DIR
from logger.store.recovery import scan
from tests.support.streams import DEMO, canp_store


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_kept_database_is_a_copy_named_by_its_hash(tmp_path: Path) -> None:
    digest = sha(DEMO)
    kept = keep_database(tmp_path, digest, DEMO)
    assert kept == tmp_path / DATABASES_DIR / f"{digest}.dbc"
    assert kept.read_bytes() == DEMO.read_bytes()
    assert keep_database(tmp_path, digest, DEMO) == kept  # kept once
    assert list((tmp_path / DATABASES_DIR).iterdir()) == [kept]  # no temporary left
    assert kept_databases(tmp_path) == {digest: kept}
    assert kept_database(tmp_path, digest) == kept
    assert kept_database(tmp_path, None) == kept  # the only one: encrypted footers name none
    assert kept_database(tmp_path, "0" * 64) is None


def test_a_database_whose_bytes_do_not_match_its_hash_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="SHA-256"):
        keep_database(tmp_path, "0" * 64, DEMO)
    assert kept_databases(tmp_path) == {}


def test_several_kept_and_no_hash_names_none(tmp_path: Path) -> None:
    other = tmp_path / "other.dbc"
    other.write_bytes(DEMO.read_bytes() + b"\n")
    keep_database(tmp_path, sha(DEMO), DEMO)
    keep_database(tmp_path, sha(other), other)
    assert len(kept_databases(tmp_path)) == 2
    assert kept_database(tmp_path, None) is None


def test_tables_and_the_start_up_scan_never_see_the_databases(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    written = canp_store(tmp_path)
    written.store.keep_databases(written.plugin.databases())
    root = tmp_path / "can"
    assert sha(DEMO) in kept_databases(root)
    with caplog.at_level(logging.WARNING):
        report = scan(root, read_only=True)
    assert report.skipped == () and "skipping" not in caplog.text
    assert not [f for f in report.files if DATABASES_DIR in str(f.path)]
    frames = ds.dataset(root / "frames", format="parquet", partitioning="hive").to_table()
    assert frames.num_rows > 0
