"""Parquet modular encryption: keys, both algorithms, plain pyarrow, wrong and missing keys."""

from __future__ import annotations

import base64
import re
import textwrap
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from logger.core.config import ENCRYPTION_TYPES, EncryptionConfig
from logger.core.errors import EncryptionError
from logger.store import crypto
from logger.store.crypto import load_key, parse_key, read_table
from tests.support.store import BASE_NS, HOUR_NS, chunk, evenly, make_store, write_published

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def key_config(
    tmp_path: Path, key: bytes, type_: str = "aes_gcm_v1", key_id: str = "k1"
) -> EncryptionConfig:
    key_file = tmp_path / f"{key_id}-{key.hex()[:8]}.key"
    key_file.write_text(key.hex() + "\n")
    return EncryptionConfig(key_id=key_id, key_file=key_file, type=type_)


def docstring_snippets() -> list[str]:
    """The literal code blocks (after a line ending in '::') of logger.store.crypto's docstring."""
    doc = crypto.__doc__ or ""
    blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", doc)
    return [textwrap.dedent(block) for block in blocks if "decryption_properties" in block]


@pytest.mark.parametrize("type_", ENCRYPTION_TYPES)
def test_encrypted_files_need_the_key(tmp_path: Path, type_: str) -> None:
    store = make_store(tmp_path / "data", encryption=key_config(tmp_path, KEY, type_))
    times = evenly(BASE_NS, 100, 1_000)
    (file,) = write_published(store, [chunk(times)])
    assert file.path.read_bytes()[:4] == b"PARE"
    assert store.read(file, "ts", BASE_NS, BASE_NS + HOUR_NS)["ts"].to_pylist() == times.tolist()
    assert store.read_metadata(file)[b"sdvlog.vin"] == b"WVWZZZ1JZXW000001"

    with pytest.raises(OSError, match="encrypted"):
        pq.read_table(file.path)
    snippets = docstring_snippets()
    assert len(snippets) == 2
    for snippet in snippets:
        scope: dict[str, Any] = {"path": str(file.path), "key": KEY, "key_id": "k1"}
        exec(snippet, scope)
        assert scope["table"]["ts"].to_pylist() == times.tolist()
    assert read_table(file.path, KEY).num_rows == 100
    with pytest.raises(OSError, match="decryption"):  # the short client: Parquet's own check
        exec(snippets[1], {"path": str(file.path), "key": OTHER_KEY})

    with pytest.raises(EncryptionError, match="wrong key"):
        read_table(file.path, OTHER_KEY, "k1")
    with pytest.raises(EncryptionError, match="key id 'k1'"):
        read_table(file.path, KEY, "k2")


def test_store_with_wrong_or_no_key(tmp_path: Path) -> None:
    store = make_store(tmp_path / "data", encryption=key_config(tmp_path, KEY))
    (file,) = write_published(store, [chunk([BASE_NS, BASE_NS + 1])])

    wrong = make_store(tmp_path / "data", encryption=key_config(tmp_path, OTHER_KEY))
    (found,) = wrong.files("frames")
    with pytest.raises(EncryptionError, match="wrong key") as err:
        wrong.read(found, "ts", BASE_NS, BASE_NS + 1)
    assert str(file.path) in str(err.value)

    plain = make_store(tmp_path / "data")
    with pytest.raises(EncryptionError, match="a key is needed"):
        plain.read(plain.files("frames")[0], "ts", BASE_NS, BASE_NS + 1)


def test_plaintext_files_stay_readable_after_enabling_encryption(tmp_path: Path) -> None:
    plain = make_store(tmp_path / "data")
    write_published(plain, [chunk([BASE_NS])])
    encrypted = make_store(tmp_path / "data", encryption=key_config(tmp_path, KEY))
    (file,) = encrypted.files("frames")
    assert encrypted.read(file, "ts", BASE_NS, BASE_NS).num_rows == 1


@pytest.mark.parametrize(
    "text",
    [
        KEY.hex().encode(),
        KEY.hex().upper().encode() + b"\n",
        base64.b64encode(KEY),
        base64.b64encode(KEY) + b"\n",
        KEY,
    ],
)
def test_key_formats(text: bytes) -> None:
    assert parse_key(text, "test") == KEY


@pytest.mark.parametrize("length", [16, 24])
def test_shorter_keys(length: int) -> None:
    key = KEY[:length]
    assert parse_key(key.hex().encode(), "t") == key
    assert parse_key(base64.b64encode(key), "t") == key
    assert parse_key(key, "t") == key
    assert parse_key(b"0123456789abcdef"[:16] + b"\n", "t") == b"0123456789abcdef"


def test_bad_keys_name_their_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(EncryptionError, match=r"key file .*short\.key.*16, 24 or 32"):
        bad = tmp_path / "short.key"
        bad.write_bytes(b"too short")
        load_key(EncryptionConfig(key_id="k1", key_file=bad))
    with pytest.raises(EncryptionError, match=r"missing\.key.*cannot read"):
        load_key(EncryptionConfig(key_id="k1", key_file=tmp_path / "missing.key"))
    monkeypatch.delenv("SDVLOG_TEST_KEY", raising=False)
    with pytest.raises(EncryptionError, match="SDVLOG_TEST_KEY is not set"):
        load_key(EncryptionConfig(key_id="k1", key_env="SDVLOG_TEST_KEY"))
    monkeypatch.setenv("SDVLOG_TEST_KEY", "0123")
    with pytest.raises(EncryptionError, match="environment variable SDVLOG_TEST_KEY"):
        load_key(EncryptionConfig(key_id="k1", key_env="SDVLOG_TEST_KEY"))
    monkeypatch.setenv("SDVLOG_TEST_KEY", base64.b64encode(KEY).decode())
    assert load_key(EncryptionConfig(key_id="k1", key_env="SDVLOG_TEST_KEY")) == KEY


def test_store_construction_fails_on_a_bad_key(tmp_path: Path) -> None:
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"x" * 20)
    with pytest.raises(EncryptionError, match=r"bad\.key"):
        make_store(tmp_path / "data", encryption=EncryptionConfig(key_id="k1", key_file=bad))
