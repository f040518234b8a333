"""The exchange on a message source of the test's own (no broker): what it stores, when it
acknowledges, and what it does with redeliveries and late messages."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from logger.capture.exchange import Exchange
from logger.capture.source import Delivery
from logger.core.config import ExchangeConfig, ParquetConfig, RingbusConfig
from logger.store.store import ParquetStore
from logger.streams.raw import RawPlugin
from tests.support.sources import MemorySource

WAIT_S = 30.0


def exchange(tmp_path: Path, source: MemorySource, qos: int) -> Exchange:
    cfg = ExchangeConfig(name="raw", topic="t/#", qos=qos, ringbus=RingbusConfig(cap=10))
    plugin = RawPlugin(cfg)
    store = ParquetStore(ParquetConfig(dir=tmp_path), cfg.name, {})
    store.recover()
    ex = Exchange(cfg, source, plugin, store)
    ex.start()
    return ex


def stored_payloads(tmp_path: Path) -> list[bytes]:
    table = pq.read_table(tmp_path / "raw" / "raw").sort_by("key")
    return [bytes(p) for p in table.column("payload").to_pylist()]


def test_qos0_messages_are_stored_in_order(tmp_path: Path) -> None:
    source = MemorySource()
    ex = exchange(tmp_path, source, qos=0)
    source.send(*(Delivery(f"t/{i % 3}", b"m%d" % i) for i in range(25)))
    ex.stop()
    assert stored_payloads(tmp_path) == [b"m%d" % i for i in range(25)]
    assert source.stopped and source.acked == []
    assert ex.stats()["ring"]["accepted"] == 25  # type: ignore[index]


def test_qos1_acknowledges_only_what_is_durable_and_redeliveries_once(tmp_path: Path) -> None:
    source = MemorySource(manual_ack=True)
    ex = exchange(tmp_path, source, qos=1)
    first = [Delivery("t/a", b"p%d" % mid, qos=1, mid=mid) for mid in range(1, 21)]
    source.send(*first)  # cap 10: two full batches go to the writer
    assert ex.writer.wait_stored(20, WAIT_S)
    stored = set(stored_payloads(tmp_path))
    assert {b"p%d" % mid for mid in source.acked} <= stored  # nothing acknowledged unstored
    acked_before = len(source.acked)
    source.send(Delivery("t/a", b"p3", qos=1, mid=3, dup=True))  # stored already: acked again
    ex.stop()
    assert stored_payloads(tmp_path) == [b"p%d" % mid for mid in range(1, 21)]
    assert sorted(source.acked) == sorted([*range(1, 21), 3])
    assert len(source.acked) > acked_before and ex.stats()["redelivered"] == 1


def test_messages_after_stop_are_neither_stored_nor_acknowledged(tmp_path: Path) -> None:
    source = MemorySource(manual_ack=True)
    ex = exchange(tmp_path, source, qos=1)
    source.send(Delivery("t/a", b"kept", qos=1, mid=1))
    ex.stop()
    source.send(Delivery("t/a", b"late", qos=1, mid=2))
    assert stored_payloads(tmp_path) == [b"kept"]
    assert source.acked == [1]
