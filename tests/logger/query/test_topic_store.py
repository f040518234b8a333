"""``topic=`` over stored files: CANP frames and signal tables, SPI rows, files written before
topics were stored (schema version 1: code 9 and a message), and ``sdvlog query --dir``."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from canp.plugin import CanpPlugin
from canp.wire import encode_columns
from logger.core.config import ExchangeConfig, ParquetConfig
from logger.core.errors import Code
from logger.core.message import MessageBatch
from logger.query.answer import Answerer, StoreSource
from logger.query.client import parse_end
from logger.service.demo import demo_dbc
from logger.store import ParquetStore
from logger.store.chunk import TableChunk
from logger.store.layout import StoredFile
from logger.streams.plugin import StreamPlugin
from logger.streams.raw import RawPlugin
from logger.web.sql import LiveTable, run_sql
from spi.plugin import SPI, SpiPlugin
from spi.wire import Record, encode_batch
from tests.logger.core.test_topics import reference_match
from tests.support.canp_plugin import MS, T0, frames, topic
from tests.support.service import ALL, run_cli

#: (vin, bus, EngineSpeed in rpm) of each CANP source; EngineData (0x100) carries the speed in
#: its first two bytes, little-endian, 0.25 rpm per bit.
SOURCES = [("V1", "can0", 1000.0), ("V2", "can0", 3000.0), ("V1", "can1", 2000.0)]
FRAMES_EACH = 6


def engine_batch(start: int) -> MessageBatch:
    """One CANP message per source, EngineData frames 1 ms apart, sources interleaved in time."""
    topics, payloads = [], []
    for s, (vin, bus, rpm) in enumerate(SOURCES):
        ts = [start + (i * len(SOURCES) + s) * MS for i in range(FRAMES_EACH)]
        raw = int(rpm / 0.25).to_bytes(2, "little") + bytes(6)
        topics.append(topic(bus, vin))
        payloads.append(encode_columns(frames(ts, [0x100] * len(ts), [raw] * len(ts))))
    keys = start + np.arange(len(payloads), dtype=np.int64)
    return MessageBatch(keys, topics, payloads)


def without_topics(chunks: list[TableChunk]) -> list[TableChunk]:
    """The chunks as the stream wrote them before schema version 2: no topic column."""
    out = []
    for chunk in chunks:
        hints = chunk.hints
        if hints is not None and isinstance(hints.use_dictionary, tuple):
            kept = tuple(c for c in hints.use_dictionary if c != "topic")
            hints = dataclasses.replace(hints, use_dictionary=kept)
        table = chunk.table.drop_columns([c for c in chunk.table.column_names if c == "topic"])
        out.append(dataclasses.replace(chunk, table=table, hints=hints))
    return out


def ask(plugin: StreamPlugin, store: ParquetStore, command: str) -> tuple[pa.Table, Code, str]:
    """Rows, disk code and message of ``command`` answered from ``store`` (no memory part)."""
    *data, end = Answerer(StoreSource(store.exchange, plugin, store)).answer(
        plugin.parse_command(command)
    )
    disk, memory, message = parse_end(end)
    assert memory == Code.NONE
    tables = [pa.ipc.open_stream(frame).read_all() for frame in data]
    table = pa.concat_tables(tables, promote_options="permissive") if tables else pa.table({})
    return table, disk, message or ""


@pytest.fixture(scope="module")
def canp_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[CanpPlugin, ParquetStore]:
    """A CANP store with a DBC: one batch written as schema version 1 (no topics), one as 2."""
    directory = tmp_path_factory.mktemp("topic-store")
    plugin = CanpPlugin(
        ExchangeConfig(name="can", topic="vehicle/+/canp/#", stream="canp", dbc=demo_dbc())
    )
    store = ParquetStore(ParquetConfig(dir=directory), "can", {"sdvlog.plugin": "canp"})
    store.recover()
    store.keep_databases(plugin.databases())
    store.publish(store.write(without_topics(plugin.encode(engine_batch(T0)))))
    store.publish(store.write(plugin.encode(engine_batch(T0 + 60_000 * MS))))
    return plugin, store


NEW = f"sync-{(T0 + 60_000 * MS) // MS}-9223372036854775807"


def test_frames_of_matching_topics_only(canp_store: tuple[CanpPlugin, ParquetStore]) -> None:
    plugin, store = canp_store
    everything, disk, _ = ask(plugin, store, NEW)
    assert disk == Code.OK and everything.num_rows == len(SOURCES) * FRAMES_EACH
    for filters in ("vehicle/V1/#", "vehicle/+/canp/can0", "+/+/+/can1,vehicle/V2/canp/can0", "#"):
        got, disk, message = ask(plugin, store, f"{NEW};topic={filters}")
        want = [
            t
            for t in everything.column("topic").to_pylist()
            if any(reference_match(f, t) for f in filters.split(","))
        ]
        assert (disk, message) == (Code.OK, "")
        assert got.column("topic").to_pylist() == want and got.num_rows
        assert got.schema == everything.schema  # the topic read as a dictionary, answered plain
    both, _, _ = ask(plugin, store, f"{NEW};topic=vehicle/V1/#;bus=can0")
    assert set(both.column("topic").to_pylist()) == {topic("can0", "V1")}
    none, disk, _ = ask(plugin, store, f"{NEW};topic=vehicle/V3/#")
    assert disk == Code.NONE and none.num_rows == 0
    by_bus, _, _ = ask(plugin, store, f"{NEW};bus=can1")  # bus= alone as before
    assert set(by_bus.column("bus").to_pylist()) == {"can1"} and by_bus.num_rows == FRAMES_EACH


def test_files_without_topics_answer_code_9_and_say_so(
    canp_store: tuple[CanpPlugin, ParquetStore],
) -> None:
    plugin, store = canp_store
    everything, disk, _ = ask(plugin, store, ALL)  # without topic=, old rows answer as before
    assert disk == Code.OK and everything.num_rows == 2 * len(SOURCES) * FRAMES_EACH
    assert everything.column("topic").null_count == len(SOURCES) * FRAMES_EACH
    got, disk, message = ask(plugin, store, f"{ALL};topic=vehicle/V2/#")
    assert disk == Code.FILE_SEARCH
    assert "1 stored file(s)" in message and "no topic column" in message
    assert got.column("topic").to_pylist() == [topic("can0", "V2")] * FRAMES_EACH
    signals, disk, message = ask(plugin, store, f"{ALL};sig=EngineSpeed;topic=vehicle/V2/#")
    assert disk == Code.FILE_SEARCH and "1 stored file(s)" in message
    assert signals.column("EngineSpeed").to_pylist() == [3000.0] * FRAMES_EACH


def test_signal_queries_take_the_rows_of_matching_topics(
    canp_store: tuple[CanpPlugin, ParquetStore],
) -> None:
    plugin, store = canp_store
    for filters, rpm in (("vehicle/V2/#", {3000.0}), ("+/V1/canp/+", {1000.0, 2000.0})):
        rows, disk, _ = ask(plugin, store, f"{NEW};sig=EngineSpeed;topic={filters}")
        assert disk == Code.OK and set(rows.column("EngineSpeed").to_pylist()) == rpm
        assert rows.num_rows == FRAMES_EACH * len(rpm)
        where, _, _ = ask(plugin, store, f"{NEW};where=EngineSpeed>1500;topic={filters}")
        assert set(where.column("EngineSpeed").to_pylist()) == {r for r in rpm if r > 1500}
    held, _, _ = ask(plugin, store, f"{NEW};msg=EngineData;topic=vehicle/+/canp/can0;bus=can0")
    assert set(held.column("topic").to_pylist()) == {topic("can0", "V1"), topic("can0", "V2")}
    assert held.num_rows == 2 * FRAMES_EACH


def test_sql_views_show_topics_and_null_for_older_files(
    canp_store: tuple[CanpPlugin, ParquetStore],
) -> None:
    _plugin, store = canp_store
    files = [f.path for f in store.files("frames")]
    assert len(files) == 2  # the oldest has no topic column, the newest has one
    text = "SELECT topic, count(*) AS n FROM can_frames GROUP BY topic ORDER BY topic NULLS FIRST"
    got = run_sql([LiveTable("can_frames", files)], text, row_limit=100, timeout_s=30.0)
    topics = sorted(topic(b, v) for v, b, _ in SOURCES)
    assert got.column("topic").to_pylist() == [None, *topics]
    assert got.column("n").to_pylist() == [len(SOURCES) * FRAMES_EACH] + [FRAMES_EACH] * 3


def test_the_cli_reads_a_store_directory_with_topic(
    canp_store: tuple[CanpPlugin, ParquetStore],
) -> None:
    _plugin, store = canp_store
    directory = str(store.root.parent)
    new = run_cli("query", "--dir", directory, "--format", "jsonl", f"{NEW};topic=vehicle/V2/#")
    assert new.returncode == 0, new.stderr
    rows = [json.loads(line) for line in new.stdout.splitlines()]
    assert {r["topic"] for r in rows} == {topic("can0", "V2")} and len(rows) == FRAMES_EACH
    old = run_cli("query", "--dir", directory, "--format", "jsonl", f"{ALL};topic=vehicle/V2/#")
    assert old.returncode == 1 and "query failed (9,1)" in old.stderr
    assert "were not searched" in old.stderr
    assert len(old.stdout.splitlines()) == FRAMES_EACH  # the rows the other files give
    bad = run_cli("query", "--dir", directory, f"{ALL};topic=vehicle/#/can0")
    assert bad.returncode == 1 and "'#' must be a whole level" in bad.stderr


def test_spi_rows_by_topic(tmp_path: Path) -> None:
    plugin = SpiPlugin(
        ExchangeConfig(name="sig", topic="vehicle/+/spi/#", stream="spi", dbc=demo_dbc())
    )
    speed = plugin.catalog.by_name["EngineData.EngineSpeed"]
    payloads = [
        (f"vehicle/V{1 + i % 2}/spi/{'gw' if i % 3 else 'adas'}", T0 + i * MS) for i in range(12)
    ]
    encoded = [
        encode_batch(ts, [Record(speed.id, speed.type, float(i), True)])
        for i, (_, ts) in enumerate(payloads)
    ]

    def batch(lo: int, hi: int) -> MessageBatch:
        keys = T0 + np.arange(lo, hi, dtype=np.int64)
        return MessageBatch(keys, [t for t, _ in payloads[lo:hi]], encoded[lo:hi])

    store = ParquetStore(ParquetConfig(dir=tmp_path), "sig", {"sdvlog.plugin": "spi"})
    store.recover()
    store.publish(store.write(without_topics(plugin.encode(batch(0, 4)))))
    store.publish(store.write(plugin.encode(batch(4, 12))))
    got, disk, message = ask(plugin, store, f"{ALL};topic=+/V2/spi/gw;sig=EngineSpeed")
    assert disk == Code.FILE_SEARCH and "1 stored file(s)" in message
    want = [float(i) for i, (t, _) in enumerate(payloads) if i >= 4 and t == "vehicle/V2/spi/gw"]
    assert got.column("EngineData.EngineSpeed").to_pylist() == want
    assert set(got.column("topic").to_pylist()) == {"vehicle/V2/spi/gw"}
    assert set(got.column("source").to_pylist()) == {"gw"}
    assert [c.name for c in plugin.encode(batch(0, 12))] == [SPI]


class _Memory:
    """A live-like source: ``store``'s files plus batches still in memory."""

    def __init__(self, plugin: StreamPlugin, store: ParquetStore, memory: list[MessageBatch]):
        self.name, self.plugin, self.store, self.memory = store.exchange, plugin, store, memory

    def snapshot(
        self, table: str, start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]:
        return self.store.files(table, start_ns, end_ns), self.memory


class _NoTopics(RawPlugin):
    """A stream that accepts topic= but keeps no topic column (a plugin bug)."""

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        return [
            dataclasses.replace(c, table=c.table.drop_columns(["topic"]))
            for c in super().encode(batch)
        ]


def raw_batch(first: int, count: int) -> MessageBatch:
    keys = T0 + np.arange(first, first + count, dtype=np.int64)
    topics = [f"t/{'ab'[i % 2]}/{i % 3}" for i in range(first, first + count)]
    return MessageBatch(keys, topics, [str(i).encode() for i in range(first, first + count)])


def test_memory_and_files_are_cut_alike(tmp_path: Path) -> None:
    plugin = RawPlugin(ExchangeConfig(name="raw", topic="t/#"))
    store = ParquetStore(ParquetConfig(dir=tmp_path), "raw", {"sdvlog.plugin": "raw"})
    store.recover()
    store.publish(store.write(plugin.encode(raw_batch(0, 40))))
    source = _Memory(plugin, store, [raw_batch(40, 20)])
    for filters in ("t/a/#", "t/+/1", "#", "t/b"):
        *data, end = Answerer(source).answer(plugin.parse_command(f"{ALL};topic={filters}"))
        rows = [r for f in data for r in pa.ipc.open_stream(f).read_all().to_pylist()]
        want = [
            i
            for i in range(60)
            if any(reference_match(f, f"t/{'ab'[i % 2]}/{i % 3}") for f in filters.split(","))
        ]
        assert [int(r["payload"]) for r in rows] == want
        disk, memory, _ = parse_end(end)
        assert disk == (Code.OK if any(i < 40 for i in want) else Code.NONE)
        assert memory == (Code.OK if any(i >= 40 for i in want) else Code.NONE)
    broken = _NoTopics(ExchangeConfig(name="raw", topic="t/#"))
    *_, end = Answerer(_Memory(broken, store, [raw_batch(40, 5)])).answer(
        broken.parse_command(f"{ALL};topic=t/#")
    )
    disk, memory, message = parse_end(end)
    assert memory == Code.MEMORY_DECODE and "stores no topics" in (message or "")
