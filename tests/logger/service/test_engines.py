"""A live store, written by a running service through a real Mosquitto with QoS 1 (so every batch
carries its ledger), reads the same in pyarrow.dataset, DuckDB and polars, with Hive partitions;
and a store in the older layout (zero-padded hours, binary ledgers) is still read by the service."""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from canp.wire import encode_columns
from logger.capture.ledger import LEDGER_KEY, decode_ledger
from logger.core.config import ExchangeConfig, RingbusConfig
from logger.store.layout import HOUR_NS
from logger.streams.raw import RAW_SCHEMA
from tests.logger.capture.test_ledger import binary_ledger, first_format_ledger
from tests.support.engines import duckdb_rows, duckdb_source
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import numbered, publish
from tests.support.service import ALL, ask, captured, running, service_config
from tests.support.streams import DEMO, demo_frames

RAW_MESSAGES = 400
CANP_MESSAGES = 40
FRAMES_PER_MESSAGE = 25


def exchanges() -> tuple[ExchangeConfig, ExchangeConfig]:
    ring = RingbusConfig(cap=5000, flush_ms=100)
    raw = ExchangeConfig(name="raw", topic="test/#", stream="raw", qos=1, ringbus=ring)
    can = ExchangeConfig(
        name="can", topic="vehicle/+/canp/#", stream="canp", qos=1, dbc=DEMO, ringbus=ring
    )
    return raw, can


def date_hour(ns: int) -> tuple[str, int]:
    moment = dt.datetime.fromtimestamp(ns // 1_000_000_000, tz=dt.UTC)
    return moment.date().isoformat(), moment.hour


def pyarrow_rows(table_dir: Path, columns: list[str], time_column: str) -> list[tuple[Any, ...]]:
    table = ds.dataset(table_dir, format="parquet", partitioning="hive").to_table()
    assert pa.types.is_integer(table.schema.field("hour").type)
    times = table[time_column]
    if pa.types.is_timestamp(times.type):
        times = pc.cast(times, pa.int64())  # the column's own unit
    values = [times.to_pylist(), *(table[c].to_pylist() for c in columns)]
    values += [table["date"].to_pylist(), table["hour"].to_pylist()]
    return sorted(zip(*values, strict=True))


def duck_rows(table_dir: Path, columns: list[str], time_expr: str) -> list[tuple[Any, ...]]:
    sql = duckdb_source(table_dir)
    assert duckdb_rows(f"SELECT DISTINCT typeof(hour), typeof(date) FROM {sql}") == [
        ("BIGINT", "DATE")
    ]
    got = duckdb_rows(f"SELECT {time_expr}, {', '.join(columns)}, date, hour FROM {sql}")
    return sorted((*row[:-2], row[-2].isoformat(), row[-1]) for row in got)


def polars_rows(table_dir: Path, columns: list[str], time_expr: pl.Expr) -> list[tuple[Any, ...]]:
    frame = pl.read_parquet(table_dir, hive_partitioning=True)
    assert frame.schema["hour"].is_integer() and frame.schema["date"] == pl.Date
    lazy = pl.scan_parquet(table_dir, hive_partitioning=True)
    assert lazy.select(pl.len()).collect().item() == frame.height
    got = frame.select(time_expr, *columns, pl.col("date").dt.to_string(), "hour").rows()
    return sorted(got)


def ledgers_in(table_dir: Path) -> tuple[int, int]:
    """(files with a ledger, messages in those ledgers); every footer value is UTF-8 text."""
    files = messages = 0
    for path in table_dir.rglob("*.parquet"):
        kv = pq.read_metadata(path).metadata
        for key, value in kv.items():
            key.decode("utf-8")
            value.decode("utf-8")
        if LEDGER_KEY.encode() in kv:
            files += 1
            messages += len(decode_ledger(kv[LEDGER_KEY.encode()])[0])
    return files, messages


def test_a_live_qos1_store_reads_the_same_in_pyarrow_duckdb_and_polars(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    raw_ex, can_ex = exchanges()
    cfg = service_config(tmp_path, mosquitto.address, exchange=raw_ex)
    cfg = type(cfg)(
        broker=cfg.broker, exchanges=(raw_ex, can_ex), parquet=cfg.parquet, query=cfg.query
    )
    t0 = 1_796_342_400_000_000_000 - 2 * 1_000_000_000  # 2 s before 2026-12-04 00:00 UTC
    payloads = [
        encode_columns(demo_frames(t0 + i * 100_000_000, FRAMES_PER_MESSAGE, seed=i))
        for i in range(CANP_MESSAGES)
    ]
    with running(cfg) as service:
        publish(mosquitto.address, "test/a", numbered(RAW_MESSAGES), qos=1)
        publish(mosquitto.address, "vehicle/V1/canp/can0", payloads, qos=1)
        captured(service, RAW_MESSAGES, "raw")
        captured(service, CANP_MESSAGES, "can")
        answered = ask(service, ALL).table()
    # Stopped: everything is on disk.
    store = cfg.parquet.dir
    raw_dir, frames_dir = store / "raw" / "raw", store / "can" / "frames"
    for table_dir, messages in ((raw_dir, RAW_MESSAGES), (frames_dir, CANP_MESSAGES)):
        files, in_ledgers = ledgers_in(table_dir)
        assert files > 0 and in_ledgers == messages, table_dir  # QoS 1: every message listed

    raw_cols = ["topic", "payload"]
    want_raw = sorted(
        (key, topic, payload, *date_hour(key))
        for key, topic, payload in zip(
            answered["key"].to_pylist(),
            answered["topic"].to_pylist(),
            answered["payload"].to_pylist(),
            strict=True,
        )
    )
    assert len(want_raw) == RAW_MESSAGES
    assert pyarrow_rows(raw_dir, raw_cols, "key") == want_raw
    assert duck_rows(raw_dir, raw_cols, "key") == want_raw
    assert polars_rows(raw_dir, raw_cols, pl.col("key")) == want_raw

    # CANP frames: ts is a µs timestamp on disk; every engine gives the same µs.
    frame_cols = ["bus", "id", "dlc", "data", "_tie"]
    want_frames = pyarrow_rows(frames_dir, frame_cols, "ts")
    assert len(want_frames) == CANP_MESSAGES * FRAMES_PER_MESSAGE
    assert {h for *_, h in want_frames} == {23, 0}  # across the hour boundary and the date
    assert all((d, h) == date_hour(us * 1000) for us, *_, d, h in want_frames)
    assert duck_rows(frames_dir, frame_cols, "epoch_us(ts)") == want_frames
    assert polars_rows(frames_dir, frame_cols, pl.col("ts").dt.epoch("us")) == want_frames

    # A decoded signal table (one DBC message, a Hive partition of its own).
    engine_dir = store / "can" / "signals" / "message=EngineData"
    names = pq.read_schema(next(engine_dir.rglob("*.parquet"))).names
    signal_cols = [n for n in names if n not in ("ts", "_tie")]
    want_signals = pyarrow_rows(engine_dir, signal_cols, "ts")
    assert want_signals
    assert duck_rows(engine_dir, signal_cols, "epoch_us(ts)") == want_signals
    assert polars_rows(engine_dir, signal_cols, pl.col("ts").dt.epoch("us")) == want_signals


def older_raw_file(root: Path, first_ns: int, seq: int, ledger: bytes) -> None:
    """A RAW file as an older release wrote it: zero-padded ``hour=HH``, a binary ledger."""
    keys = first_ns + np.arange(3, dtype=np.int64)
    table = pa.table(
        [pa.array(keys), pa.array(["test/old"] * 3), pa.array([b"o%d" % k for k in range(3)])],
        schema=RAW_SCHEMA.remove_metadata(),
    ).replace_schema_metadata({"sdvlog.plugin": "raw", "sdvlog.time_unit": "ns"})
    moment = dt.datetime.fromtimestamp(first_ns // 1_000_000_000, tz=dt.UTC)
    directory = root / f"date={moment:%Y-%m-%d}" / f"hour={moment:%H}"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{keys[0]}-{keys[-1]}-{seq}.parquet"
    with pq.ParquetWriter(path, table.schema) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({LEDGER_KEY: ledger})
    with pytest.raises(UnicodeDecodeError):
        pq.read_metadata(path).metadata[LEDGER_KEY.encode()].decode("utf-8")


def test_an_older_store_seeds_redelivery_from_its_binary_ledgers_and_reads_whole(
    tmp_path: Path, mosquitto: MosquittoProcess, caplog: pytest.LogCaptureFixture
) -> None:
    raw_ex, _ = exchanges()
    cfg = service_config(tmp_path, mosquitto.address, exchange=raw_ex)
    root = cfg.parquet.dir / "raw" / "raw"
    hour7 = 1_796_256_000_000_000_000 + 7 * HOUR_NS  # 2026-12-03 07:00 UTC
    older_raw_file(root, hour7, 0, binary_ledger([1, 2, 3], [11, 12, 2**32 - 1]))
    older_raw_file(root, hour7 + 60 * 10**9, 1, first_format_ledger([4, 5], [2**32 - 2, 2**32 - 1]))
    caplog.set_level(logging.INFO, logger="logger.capture.exchange")
    with running(cfg) as service:
        learnt = re.findall(r"raw: (\d+) packet ids known from stored ledgers", caplog.text)
        assert learnt == ["5"]
        publish(mosquitto.address, "test/a", numbered(20), qos=1)
        captured(service, 20, "raw")
        table = ask(service, ALL).table()
    topics = table["topic"].to_pylist()
    assert topics.count("test/old") == 6 and topics.count("test/a") == 20
    keys = table["key"].to_pylist()
    assert keys == sorted(keys)
    assert {p.parent.name for p in root.rglob("*.parquet")} >= {"hour=07"}
