"""Crash safety and faults: kill -9 mid-stream, a missing broker, a full disk."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from logger.core.config import ExchangeConfig, ParquetConfig, RingbusConfig
from logger.query import client
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import numbered, publish
from tests.support.ports import free_port
from tests.support.service import (
    ALL,
    WAIT_S,
    ServiceProcess,
    ask,
    captured,
    count_rows,
    running,
    service_config,
    wait_until,
)

CONFIG = """
vin = "TEST0000000000001"
[broker]
url = "{url}"
[[exchange]]
name = "raw"
topic = "crash/#"
stream = "raw"
qos = 1
[exchange.ringbus]
cap = 400
full_op = "return"
flush_ms = 30
[parquet]
dir = "{store}"
compress = "zstd"
[query]
url = "tcp://127.0.0.1:{query_port}"
"""


def stored_files(store: Path) -> list[Path]:
    return [p for p in store.rglob("*.parquet") if not p.name.startswith(".")]


def test_kill_9_mid_stream_then_restart_stores_every_message_exactly_once(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    store, query_port = tmp_path / "store", free_port()
    config = tmp_path / "sdvlog.toml"
    config.write_text(CONFIG.format(url=mosquitto.url, store=store, query_port=query_port))
    payloads = numbered(20_000, prefix="crash-")

    first = ServiceProcess(config)
    assert first.subscribed.wait(WAIT_S), "".join(first.log)
    done = threading.Event()

    def send_all() -> None:
        publish(mosquitto.address, "crash/a", payloads, qos=1, timeout=120)
        done.set()

    publisher = threading.Thread(target=send_all)
    publisher.start()
    # Kill once several batches are durable and the publisher is still going.
    wait_until(lambda: len(stored_files(store)) >= 5 or done.is_set(), what="files to appear")
    assert not done.is_set(), "publisher finished before the kill: nothing was in flight"
    first.kill()
    publisher.join(120)
    assert done.is_set()

    second = ServiceProcess(config)
    try:
        assert second.subscribed.wait(WAIT_S), "".join(second.log)
        url = f"tcp://127.0.0.1:{query_port}"
        wait_until(
            lambda: count_rows(url) >= len(payloads), timeout=120, what="all messages stored"
        )
        table = client.query(url, ALL).table()
        got = table.column("payload").to_pylist()
        assert len(got) == len(payloads), f"{len(got) - len(set(got))} duplicates"
        assert sorted(got) == sorted(payloads)
        keys = table.column("key").to_pylist()
        assert keys == sorted(set(keys))
    finally:
        assert second.terminate() == 0
    # After a clean stop every row is on disk, in files that plain pyarrow reads.
    rows = sum(pq.read_metadata(p).num_rows for p in stored_files(store / "raw" / "raw"))
    assert rows == len(payloads)


def test_missing_broker_is_retried_and_reported_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    broker = MosquittoProcess(tmp_path / "mosquitto", port=port)
    warned = threading.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.levelno >= logging.WARNING and str(port) in record.getMessage():
                warned.set()

    watch = Watch()
    logging.getLogger("logger").addHandler(watch)
    cfg = service_config(tmp_path, broker.address)
    try:
        from logger.service.service import Service  # noqa: PLC0415

        service = Service(cfg)
        service.start()
        try:
            assert warned.wait(WAIT_S), "no warning naming the broker"
            assert service.exchanges["raw"].stats()["connected"] is False
            assert ask(service).disk.name == "NONE"  # queries still answer meanwhile
            broker.start()
            assert service.exchanges["raw"].subscribed.wait(WAIT_S)
            publish(broker.address, "test/x", numbered(100), qos=1)
            assert service.exchanges["raw"].writer.wait_stored(100, WAIT_S)
        finally:
            service.stop()
    finally:
        logging.getLogger("logger").removeHandler(watch)
        broker.stop()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: a disk that really fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(  # noqa: PLW1510 - the return code is checked
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {result.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_disk_full_keeps_everything_and_recovers_when_space_returns(
    tmp_path: Path, mosquitto: MosquittoProcess, small_disk: Path
) -> None:
    filler = small_disk / "filler.bin"
    with open(filler, "wb") as fh:  # leave ~600 KB free
        free = os.statvfs(small_disk).f_bavail * os.statvfs(small_disk).f_frsize
        fh.write(os.urandom(free - 600_000))
    ex = ExchangeConfig(name="raw", topic="test/#", ringbus=RingbusConfig(cap=200, flush_ms=30))
    cfg = service_config(
        tmp_path,
        mosquitto.address,
        exchange=ex,
        parquet=ParquetConfig(dir=small_disk / "store", compress="uncompressed"),
    )
    payloads = [os.urandom(900) + b"%06d" % i for i in range(2000)]  # ~1.8 MB: does not fit
    with running(cfg) as service:
        exchange = service.exchanges["raw"]
        publish(mosquitto.address, "test/big", payloads, qos=1)
        wait_until(lambda: exchange.writer.counters.disk_full > 0, what="a disk-full error")
        captured(service, len(payloads))
        # Nothing is lost: the query sees every message (disk + memory), none acknowledged early.
        reply = ask(service)
        seen = reply.table().column("payload").to_pylist()
        missing = len(set(payloads) - set(seen))
        assert (len(seen), missing) == (len(payloads), 0), (
            reply.disk,
            reply.memory,
            reply.message,
            exchange.stats(),
        )
        assert sorted(seen) == sorted(payloads)
        assert exchange.writer.counters.messages < len(payloads)
        with exchange.lock:  # still un-acknowledged: the broker holds them too
            held = exchange.writer.unacked() + exchange.ring.unacked
            assert held == len(payloads) - exchange.writer.counters.messages
        filler.unlink()  # space returns
        assert exchange.writer.wait_stored(len(payloads), WAIT_S)
        final = ask(service)
        assert final.table().column("payload").to_pylist() == payloads
        assert final.disk.name == "OK" and final.memory.name == "NONE"


def test_sigterm_flushes_the_ring_before_exiting(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    store, query_port = tmp_path / "store", free_port()
    config = tmp_path / "sdvlog.toml"
    text = CONFIG.format(url=mosquitto.url, store=store, query_port=query_port)
    config.write_text(
        text.replace("cap = 400", "cap = 100000").replace("flush_ms = 30", "flush_ms = 3600000")
    )
    service = ServiceProcess(config)
    try:
        assert service.subscribed.wait(WAIT_S), "".join(service.log)
        publish(mosquitto.address, "crash/t", numbered(500), qos=1)
        url = f"tcp://127.0.0.1:{query_port}"
        wait_until(lambda: count_rows(url) == 500, what="500 messages in the ring")
        assert stored_files(store) == []  # all in memory: nothing is old enough or full
    finally:
        assert service.terminate() == 0
    rows = [r for p in stored_files(store) for r in pq.read_table(p).column("payload").to_pylist()]
    assert rows == numbered(500)
