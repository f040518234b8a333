"""``sdvlog query`` / ``sdvlog inspect`` on real stores, and bad files around them."""

from __future__ import annotations

import base64
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logger.cli.app import main
from logger.core.config import (
    Config,
    EncryptionConfig,
    ExchangeConfig,
    ParquetConfig,
    RingbusConfig,
)
from logger.core.message import MessageBatch
from logger.store.crypto import read_table
from logger.store.metadata import file_metadata
from logger.store.store import ParquetStore
from logger.streams.raw import RawPlugin
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import numbered, publish
from tests.support.service import WAIT_S, ask, run_cli, running, service_config

BASE_NS = 1_700_000_000_000_000_000
KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def write_raw_store(
    directory: Path, rows: int = 50, encryption: EncryptionConfig | None = None
) -> ParquetStore:
    """A RAW exchange 'raw' with ``rows`` messages 1 ms apart, in two files."""
    ex = ExchangeConfig(name="raw")
    plugin = RawPlugin(ex)
    store = ParquetStore(
        ParquetConfig(dir=directory, encryption=encryption),
        "raw",
        file_metadata(Config(), ex, plugin),
    )
    store.recover()
    keys = BASE_NS + np.arange(rows, dtype=np.int64) * 1_000_000
    half = rows // 2
    for lo, hi in ((0, half), (half, rows)):
        batch = MessageBatch(
            keys[lo:hi], [f"v/{i}" for i in range(lo, hi)], [b"p%d" % i for i in range(lo, hi)]
        )
        store.publish(store.write(plugin.encode(batch)))
    return store


def test_offline_query_every_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_raw_store(tmp_path)
    start_ms = BASE_NS // 1_000_000
    cmd = f"sync-{start_ms + 10}-{start_ms + 19}"

    assert main(["query", cmd, "--dir", str(tmp_path), "--format", "jsonl"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["topic"] for r in rows] == [f"v/{i}" for i in range(10, 20)]
    assert base64.b64decode(rows[0]["payload"]) == b"p10"

    assert main(["query", cmd, "--dir", str(tmp_path), "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert (
        lines[0] == '"key","topic","payload"'
        and len(lines) == 11
        and lines[1].endswith(f'"{b"p10".hex()}"')
    )

    assert main(["query", cmd + ";limit=3", "--dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "v/12" in out and "v/13" not in out and "(3 rows)" in out

    target = tmp_path / "out.arrow"
    assert (
        main(["query", cmd, "--dir", str(tmp_path), "--format", "arrow", "--out", str(target)]) == 0
    )
    table = pa.ipc.open_stream(target.read_bytes()).read_all()
    assert table.column("payload").to_pylist() == [b"p%d" % i for i in range(10, 20)]


def test_query_failure_prints_the_message_and_exits_1(tmp_path: Path) -> None:
    write_raw_store(tmp_path)
    result = run_cli("query", "sync-9-1", "--dir", str(tmp_path))
    assert (
        result.returncode == 1
        and "before start" in result.stderr
        and "Traceback" not in result.stderr
    )
    result = run_cli("query", "sync-0-1", "--dir", str(tmp_path / "nothing"))
    assert result.returncode == 1 and "no sdv-logger exchange" in result.stderr


def test_query_against_a_running_service(
    tmp_path: Path, mosquitto: MosquittoProcess, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = service_config(tmp_path, mosquitto.address)
    with running(cfg) as service:
        publish(mosquitto.address, "test/q", numbered(20), qos=1)
        assert service.exchanges["raw"].writer.wait_stored(20, WAIT_S)
        assert (
            main(
                [
                    "query",
                    "sync-0-9223372036854775807;limit=5",
                    "--url",
                    cfg.query.url,
                    "--format",
                    "jsonl",
                ]
            )
            == 0
        )
        rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
        assert [base64.b64decode(r["payload"]) for r in rows] == numbered(5)
        assert main(["query", "sync-0-1;id=0x1", "--url", cfg.query.url]) == 1
        assert "not supported" in capsys.readouterr().err


def test_inspect_reports_schema_metadata_row_groups_and_bad_files(tmp_path: Path) -> None:
    store = write_raw_store(tmp_path)
    path = store.files("raw")[0].path
    result = run_cli("inspect", str(path))
    assert result.returncode == 0, result.stderr
    for words in ("key", "payload", "sdvlog.exchange", "raw", "row group", "min", "max", "v/0"):
        assert words in result.stdout, words
    truncated = tmp_path / "cut.parquet"
    truncated.write_bytes(path.read_bytes()[:-20])
    result = run_cli("inspect", str(truncated))
    assert (
        result.returncode == 1
        and "cut.parquet" in result.stderr
        and "Traceback" not in result.stderr
    )


def test_encrypted_store_needs_the_right_key(tmp_path: Path) -> None:
    key_file = tmp_path / "k1.key"
    key_file.write_text(KEY_HEX + "\n")
    wrong = tmp_path / "wrong.key"
    wrong.write_text("ff" * 32)
    store = write_raw_store(
        tmp_path / "store", encryption=EncryptionConfig(key_id="k1", key_file=key_file)
    )
    path = store.files("raw")[0].path
    with pytest.raises(OSError):  # plain pyarrow without the key cannot read it
        pq.read_table(path)
    assert read_table(path, bytes.fromhex(KEY_HEX)).num_rows == 25  # with it, it can

    ok = run_cli(
        "query",
        "sync-0-9223372036854775807",
        "--dir",
        str(tmp_path / "store"),
        "--key-file",
        str(key_file),
        "--key-id",
        "k1",
    )
    assert ok.returncode == 0 and "(50 rows)" in ok.stdout, ok.stderr
    for extra in (["--key-file", str(wrong), "--key-id", "k1"], []):
        bad = run_cli(
            "query", "sync-0-9223372036854775807", "--dir", str(tmp_path / "store"), *extra
        )
        assert bad.returncode == 1 and "Traceback" not in bad.stderr
        assert "key" in bad.stderr, bad.stderr
    for extra in (["--key-file", str(wrong)], []):
        bad = run_cli("inspect", str(path), *extra)
        assert bad.returncode == 1 and "key" in bad.stderr and "Traceback" not in bad.stderr


def test_service_writes_encrypted_files_and_skips_bad_ones_at_start(
    tmp_path: Path,
    mosquitto: MosquittoProcess,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("SDVLOG_TEST_KEY", KEY_HEX)
    store_dir = tmp_path / "store"
    good = write_raw_store(
        store_dir, encryption=EncryptionConfig(key_id="k1", key_env="SDVLOG_TEST_KEY")
    )
    raw_dir = good.files("raw")[0].path.parent
    shutil.copy(good.files("raw")[0].path, raw_dir / "truncated.parquet")
    (raw_dir / f"{BASE_NS}-{BASE_NS + 1}-999.parquet").write_bytes(
        os.urandom(300)
    )  # ours by name, not by content
    pq.write_table(pa.table({"x": [1]}), raw_dir / "foreign.parquet")
    enc = EncryptionConfig(key_id="k1", key_env="SDVLOG_TEST_KEY", type="aes_gcm_ctr_v1")
    cfg = service_config(
        tmp_path,
        mosquitto.address,
        exchange=ExchangeConfig(name="raw", topic="test/#", ringbus=RingbusConfig(flush_ms=50)),
        parquet=ParquetConfig(dir=store_dir, encryption=enc),
    )
    with running(cfg) as service:
        assert (
            "truncated.parquet" in caplog.text
            and "foreign.parquet" in caplog.text
            and "-999.parquet" in caplog.text
        )
        publish(mosquitto.address, "test/e", numbered(30), qos=1)
        assert service.exchanges["raw"].writer.wait_stored(30, WAIT_S)
        reply = ask(service)
        assert reply.ok and reply.table().num_rows == 80
    before = {f.path for f in good.files("raw")}
    written = sorted(
        (p for p in store_dir.rglob("*-*-*.parquet") if p not in before and "999" not in p.stem),
        key=lambda p: int(p.stem.rsplit("-", 1)[1]),
    )  # the 30 messages: one file, or more when a flush by age split them
    key = bytes.fromhex(KEY_HEX)
    payloads = [v for p in written for v in read_table(p, key).column("payload").to_pylist()]
    assert payloads == numbered(30)
    for path in written:
        with pytest.raises(OSError):
            pq.read_table(path)
