"""Bad configuration is found before anything starts: one line ``FILE: key: problem``, exit 1."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mounts import tmpfs
from tests.support.ports import free_port
from tests.support.service import run_cli

INFO_LOG = re.compile(r"^\d{4}-\d\d-\d\d [\d:,]+ (INFO|DEBUG) ")
DEMO_DBC = Path(__file__).resolve().parents[3] / "dbc" / "examples" / "demo.dbc"


def write_config(tmp: Path, store: Path, exchange: str, extra: str = "") -> Path:
    path = tmp / "sdvlog.toml"
    path.write_text(
        f"""
[broker]
url = "mqtt://127.0.0.1:{free_port()}"

[[exchange]]
name = "ex"
topic = "test/#"
{exchange}

[parquet]
dir = "{store}"
{extra}

[query]
url = "tcp://127.0.0.1:{free_port()}"
""",
        encoding="utf-8",
    )
    return path


def refused(config: Path, key: str, *words: str) -> None:
    done = run_cli("run", "-c", str(config))
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 1, done.stderr
    assert not [line for line in lines if "logger." in line], f"something started:\n{done.stderr}"
    lines = [line for line in lines if not INFO_LOG.match(line)]  # libraries' own notes
    assert len(lines) == 1, f"want one line, got:\n{done.stderr}"
    assert "Traceback" not in done.stderr
    assert lines[0].startswith(f"sdvlog run: {config}: {key}: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])


def test_a_store_dir_through_a_regular_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    cfg = write_config(tmp_path, tmp_path / "file" / "store", 'stream = "raw"')
    refused(cfg, "parquet.dir", "is a file, not a directory")


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[Path]:
    with tmpfs(tmp_path / "ro", "ro,size=1m") as mount_point:
        yield mount_point


def test_a_store_dir_on_a_read_only_mount(tmp_path: Path, read_only_mount: Path) -> None:
    cfg = write_config(tmp_path, read_only_mount / "store", 'stream = "raw"')
    refused(cfg, "parquet.dir", "read-only")
    cfg = write_config(tmp_path, read_only_mount, 'stream = "raw"')
    refused(cfg, "parquet.dir", "read-only")


@pytest.mark.skipif(os.getuid() == 0, reason="root writes anywhere: no permission to deny")
def test_a_store_dir_without_write_permission(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    refused(write_config(tmp_path, locked, 'stream = "raw"'), "parquet.dir", "not writable")


@pytest.mark.parametrize(
    ("exchange", "key", "words"),
    [
        ('stream = "canp"\ndbc = "no/such.dbc"', "exchange[ex].dbc", ("no/such.dbc", "no such")),
        ('stream = "nope"', "exchange[ex].stream", ("nope", "canp")),
        ('stream = "raw"\ntime_unit = "us"', "exchange[ex].time_unit", ("raw", "ns")),
        ('stream = "spi"', "exchange[ex].dbc", ("catalog",)),
    ],
    ids=["missing dbc", "unknown stream", "us on raw", "spi without catalog"],
)
def test_exchange_problems(tmp_path: Path, exchange: str, key: str, words: tuple[str, ...]) -> None:
    refused(write_config(tmp_path, tmp_path / "store", exchange), key, *words)


def test_a_dbc_that_does_not_parse_names_its_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.dbc"
    text = DEMO_DBC.read_text(encoding="utf-8")
    bad.write_text(text.replace("BO_ ", "BO_ not_a_number ", 1))
    cfg = write_config(tmp_path, tmp_path / "store", f'stream = "canp"\ndbc = "{bad}"')
    refused(cfg, "exchange[ex].dbc", f"{bad}:39", "Invalid syntax")


@pytest.mark.parametrize(
    ("encryption", "key", "words"),
    [
        ('key_file = "{tmp}/short.key"', "parquet.encryption.key_file", ("16, 24 or 32",)),
        ('key_file = "{tmp}/missing.key"', "parquet.encryption.key_file", ("cannot read",)),
        ('key_env = "SDVLOG_TEST_NO_SUCH_KEY"', "parquet.encryption.key_env", ("not set",)),
    ],
    ids=["wrong length", "missing key file", "missing key env"],
)
def test_encryption_key_problems(
    tmp_path: Path, encryption: str, key: str, words: tuple[str, ...]
) -> None:
    (tmp_path / "short.key").write_bytes(b"0123456789")
    extra = '\n[parquet.encryption]\nkey_id = "k1"\n' + encryption.format(tmp=tmp_path)
    cfg = write_config(tmp_path, tmp_path / "store", 'stream = "raw"', extra)
    refused(cfg, key, *words)
