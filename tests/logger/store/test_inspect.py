"""The inspect report: normal, encrypted (with, without, wrong key), truncated and foreign files."""

from __future__ import annotations

from pathlib import Path

import pytest

from logger.core.config import EncryptionConfig
from logger.core.errors import EncryptionError, StoreReadError
from logger.store.inspect import inspect_file
from tests.support.store import BASE_NS, chunk, evenly, make_store, write_published

KEY = bytes(range(16))


def test_report_of_a_normal_file(tmp_path: Path) -> None:
    store = make_store(tmp_path, row_group_rows=40)
    (file,) = write_published(store, [chunk(evenly(BASE_NS, 100, 1000))])
    report = inspect_file(file.path, rows=3)
    assert "encryption: none" in report
    assert "rows: 100, row groups: 3, columns: 3" in report
    assert "  ts: int64" in report and "  payload: binary" in report
    assert "  sdvlog.vin = WVWZZZ1JZXW000001" in report
    assert "  sdvlog.table = frames" in report
    assert "ARROW:schema" not in report
    assert "  row group 2: 20 rows" in report
    assert f"    ts: min={BASE_NS} max={BASE_NS + 39_000}" in report
    assert "first 3 rows:" in report
    assert f"  ts={BASE_NS}, value=" in report
    assert len([line for line in report.splitlines() if line.startswith("  ts=")]) == 3


def test_report_of_an_encrypted_file(tmp_path: Path) -> None:
    key_file = tmp_path / "k.key"
    key_file.write_bytes(KEY)
    encryption = EncryptionConfig(key_id="k1", key_file=key_file, type="aes_gcm_ctr_v1")
    store = make_store(tmp_path / "data", encryption=encryption)
    (file,) = write_published(store, [chunk(evenly(BASE_NS, 10, 1000))])

    report = inspect_file(file.path, key=KEY)
    assert "encryption: encrypted footer and columns" in report
    assert "sdvlog.exchange = can" in report and "first 5 rows:" in report
    assert "rows: 10" in inspect_file(file.path, key=KEY, key_id="k1")

    with pytest.raises(EncryptionError, match="encrypted; a key is needed"):
        inspect_file(file.path)
    with pytest.raises(EncryptionError, match="wrong key"):
        inspect_file(file.path, key=bytes(16))
    with pytest.raises(EncryptionError, match="key id 'k1'"):
        inspect_file(file.path, key=KEY, key_id="other")


def test_truncated_and_foreign_files(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (file,) = write_published(store, [chunk(evenly(BASE_NS, 10, 1000))])
    truncated = tmp_path / "cut.parquet"
    truncated.write_bytes(file.path.read_bytes()[:-20])
    with pytest.raises(StoreReadError, match="truncated") as err:
        inspect_file(truncated)
    assert err.value.path == truncated and "\n" not in str(err.value)
    text = tmp_path / "notes.parquet"
    text.write_text("hello, this is not parquet at all\n")
    with pytest.raises(StoreReadError, match="bad magic"):
        inspect_file(text)
    with pytest.raises(StoreReadError, match="cannot read"):
        inspect_file(tmp_path / "missing.parquet")
    plain_with_key = inspect_file(file.path, key=KEY, rows=0)
    assert "encryption: none" in plain_with_key and "first rows: (not shown)" in plain_with_key


def test_corrupt_footer_with_intact_magic(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    (file,) = write_published(store, [chunk(evenly(BASE_NS, 10, 1000))])
    data = bytearray(file.path.read_bytes())
    footer_len = int.from_bytes(data[-8:-4], "little")
    data[-8 - footer_len : -8] = b"\x07" * footer_len
    file.path.write_bytes(bytes(data))
    with pytest.raises(StoreReadError, match="not a readable Parquet file") as err:
        inspect_file(file.path)
    assert "\n" not in str(err.value)
    with pytest.raises(StoreReadError, match="not a readable Parquet file"):
        store.read(file, "ts", BASE_NS, BASE_NS + 10_000)
