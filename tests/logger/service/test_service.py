"""End-to-end: publisher → broker → exchange → Parquet → query, on real brokers and files."""

from __future__ import annotations

import dataclasses
import itertools
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from logger.core.config import ExchangeConfig, RingbusConfig
from logger.core.errors import Code
from logger.core.message import MessageBatch
from logger.service.service import Service
from logger.store.chunk import TableChunk
from logger.streams.raw import RawPlugin
from logger.streams.registry import PluginRegistry
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress, Subscriber, numbered, publish
from tests.support.service import WAIT_S, ask, captured, running, service_config


def address_of(service: Service, broker: MosquittoProcess | None) -> BrokerAddress:
    if broker is not None:
        return broker.address
    assert service.broker is not None
    return BrokerAddress("embedded", "127.0.0.1", service.broker.port)


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_end_to_end_every_message_stored_and_queried(
    tmp_path: Path, kind: str, request: pytest.FixtureRequest
) -> None:
    broker: MosquittoProcess | None = (
        request.getfixturevalue("mosquitto") if kind == "mosquitto" else None
    )
    cfg = service_config(tmp_path, broker.address if broker else None)
    payloads = numbered(3000)
    with running(cfg) as service:
        publish(address_of(service, broker), "test/vehicle/telemetry", payloads, qos=1)
        exchange = service.exchanges["raw"]
        assert exchange.writer.wait_stored(len(payloads), WAIT_S)
        reply = ask(service)
        table = reply.table()
        assert (reply.disk, reply.memory) == (Code.OK, Code.NONE)
        assert table.column("payload").to_pylist() == payloads
        keys = table.column("key").to_pylist()
        assert all(a < b for a, b in itertools.pairwise(keys))
        assert set(table.column("topic").to_pylist()) == {"test/vehicle/telemetry"}

        first_ms, last_ms = keys[0] // 1_000_000, keys[-1] // 1_000_000
        limited = ask(service, f"async-{first_ms}-{last_ms};limit=7")
        assert limited.table().column("payload").to_pylist() == payloads[:7]
        later = ask(service, f"sync-{keys[1500] // 1_000_000 + 1}-{last_ms}")
        assert 0 < later.table().num_rows < 1500
        assert later.table().column("key").to_pylist() == [
            k for k in keys if k >= (keys[1500] // 1_000_000 + 1) * 1_000_000
        ]
        none = ask(service, "sync-0-1000")
        assert (none.disk, none.memory, none.table().num_rows) == (Code.NONE, Code.NONE, 0)
        unsupported = ask(service, "sync-0-1000;msg=EngineData")
        assert unsupported.disk == Code.BAD_COMMAND and "msg=" in (unsupported.message or "")


class HeldWriterPlugin(RawPlugin):
    """RAW, but the writer's encode waits for ``release``: a store that has stalled."""

    id = 40
    name = "held"
    release = threading.Event()
    entered = threading.Event()

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        if threading.current_thread().name.endswith("-writer"):
            type(self).entered.set()
            assert type(self).release.wait(WAIT_S)
        return super().encode(batch)


@pytest.fixture
def held_registry() -> Iterator[PluginRegistry]:
    HeldWriterPlugin.release = threading.Event()
    HeldWriterPlugin.entered = threading.Event()
    registry = PluginRegistry(eps=[])
    registry.register(HeldWriterPlugin)
    yield registry
    HeldWriterPlugin.release.set()


def test_plain_subscriber_unaffected_by_a_stalled_store_and_queries_see_held_batches(
    tmp_path: Path, mosquitto: MosquittoProcess, held_registry: PluginRegistry
) -> None:
    ex = ExchangeConfig(
        name="raw", topic="test/#", stream="held", ringbus=RingbusConfig(cap=500, flush_ms=50)
    )
    cfg = service_config(tmp_path, mosquitto.address, exchange=ex)
    payloads = numbered(5000)
    with (
        running(cfg, held_registry) as service,
        Subscriber(mosquitto.address, "test/#", qos=1) as plain,
    ):
        exchange = service.exchanges["raw"]
        publish(mosquitto.address, "test/a", payloads, qos=1)
        # The writer is stuck on its first batch, yet the plain subscriber gets everything, in order.
        got = plain.wait_for(len(payloads))
        assert [m.payload for m in got] == payloads
        captured(service, len(payloads))
        assert HeldWriterPlugin.entered.wait(WAIT_S) and exchange.writer.counters.messages == 0

        # Everything captured so far is in memory (pending batches + ring): a query sees it once.
        with exchange.lock:
            held = sum(map(len, exchange.memory_snapshot()))
        assert held > 0
        during = ask(service)
        assert during.disk == Code.NONE and during.memory == Code.OK
        assert during.table().column("payload").to_pylist() == payloads

        HeldWriterPlugin.release.set()
        assert exchange.writer.wait_stored(len(payloads), WAIT_S)
        after = ask(service)
        assert after.table().column("payload").to_pylist() == payloads
        assert after.disk == Code.OK


class SlowWriterPlugin(RawPlugin):
    """RAW whose writer pauses between batches on demand, to query while a flush is in progress."""

    id = 41
    name = "paced"
    gate = threading.Semaphore(0)

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        if threading.current_thread().name.endswith("-writer"):
            assert type(self).gate.acquire(timeout=WAIT_S)
        return super().encode(batch)


def test_queries_during_flushes_have_no_gap_and_no_duplicate(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    SlowWriterPlugin.gate = threading.Semaphore(0)
    registry = PluginRegistry(eps=[])
    registry.register(SlowWriterPlugin)
    ex = ExchangeConfig(
        name="raw", topic="test/#", stream="paced", ringbus=RingbusConfig(cap=200, flush_ms=20)
    )
    cfg = service_config(tmp_path, mosquitto.address, exchange=ex)
    payloads = numbered(2000)
    with running(cfg, registry) as service:
        exchange = service.exchanges["raw"]
        publish(mosquitto.address, "test/a", payloads, qos=1)
        captured(service, len(payloads))
        # Let batches through one at a time; query between every step, while others are in flight.
        stored = 0
        while stored < len(payloads):
            reply = ask(service)
            assert reply.table().column("payload").to_pylist() == payloads
            SlowWriterPlugin.gate.release()
            assert exchange.writer.wait_stored(stored + 1, WAIT_S)
            stored = exchange.writer.counters.messages
        final = ask(service)
        assert final.table().column("payload").to_pylist() == payloads
        assert (final.disk, final.memory) == (Code.OK, Code.NONE)


def test_qos0_capture_at_most_once(tmp_path: Path, mosquitto: MosquittoProcess) -> None:
    ex = ExchangeConfig(name="raw", topic="test/#", qos=0, ringbus=RingbusConfig(flush_ms=50))
    cfg = service_config(tmp_path, mosquitto.address, exchange=ex)
    with running(cfg) as service:
        publish(mosquitto.address, "test/q0", numbered(500), qos=0)
        assert service.exchanges["raw"].writer.wait_stored(500, WAIT_S)
        assert ask(service).table().column("payload").to_pylist() == numbered(500)


def test_two_exchanges_each_capture_their_topics_and_answer_by_name(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    base = service_config(tmp_path, mosquitto.address)
    ring = RingbusConfig(flush_ms=50)
    cfg = dataclasses.replace(
        base,
        exchanges=(
            ExchangeConfig(name="alpha", topic="test/a/#", ringbus=ring),
            ExchangeConfig(name="beta", topic="test/b/#", qos=0, ringbus=ring),
        ),
    )
    with running(cfg) as service:
        publish(mosquitto.address, "test/a/x", numbered(30, "a"), qos=1)
        publish(mosquitto.address, "test/b/y", numbered(20, "b"), qos=1)
        assert service.exchanges["alpha"].writer.wait_stored(30, WAIT_S)
        assert service.exchanges["beta"].writer.wait_stored(20, WAIT_S)
        assert ask(service, "exchange=beta;sync-0-9223372036854775807").table().column(
            "payload"
        ).to_pylist() == numbered(20, "b")
        assert ask(service).table().column("payload").to_pylist() == numbered(
            30, "a"
        )  # first exchange by default
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["alpha", "beta"]


class BrokenTablesPlugin(RawPlugin):
    """Encodes tables the store must refuse (no time column): the batch must survive in quarantine."""

    id = 43
    name = "broken"

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        return [TableChunk("raw", pa.table({"payload": batch.payloads}), "key")]


def test_tables_the_store_refuses_land_in_quarantine(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    registry = PluginRegistry(eps=[])
    registry.register(BrokenTablesPlugin)
    ex = ExchangeConfig(
        name="raw", topic="test/#", stream="broken", ringbus=RingbusConfig(flush_ms=30)
    )
    cfg = service_config(tmp_path, mosquitto.address, exchange=ex)
    with running(cfg, registry) as service:
        publish(mosquitto.address, "test/x", numbered(10), qos=1)
        writer = service.exchanges["raw"].writer
        assert writer.wait_stored(10, WAIT_S) and writer.counters.encode_errors >= 1
        publish(mosquitto.address, "test/x", numbered(5, "later"), qos=1)
        assert writer.wait_stored(15, WAIT_S)  # the writer carries on
    rows = pq.read_table(tmp_path / "store" / "raw" / "quarantine").column("payload").to_pylist()
    assert sorted(rows) == sorted(numbered(10) + numbered(5, "later"))
