"""``[limits] memory``: parsed with its key named, and respected by a running service."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from logger.capture.ringbus import held_size
from logger.core.config import (
    DEFAULT_MEMORY,
    ExchangeConfig,
    LimitsConfig,
    RingbusConfig,
    load_config,
)
from logger.core.errors import ConfigError
from logger.core.message import MessageBatch
from logger.store.chunk import TableChunk
from logger.streams.raw import RawPlugin
from logger.streams.registry import PluginRegistry
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import publish
from tests.support.service import WAIT_S, ask, running, service_config, wait_until


def load(tmp_path: Path, text: str) -> LimitsConfig:
    path = tmp_path / "sdvlog.toml"
    path.write_text(text)
    return load_config(path).limits


def test_memory_takes_sizes_and_defaults(tmp_path: Path) -> None:
    assert load(tmp_path, "").memory == DEFAULT_MEMORY
    assert load(tmp_path, '[limits]\nmemory = "64MB"\n').memory == 64 << 20
    assert load(tmp_path, "[limits]\nmemory = 2000000\n").memory == 2_000_000
    assert LimitsConfig(memory=8 << 20).per_exchange(4) == 2 << 20


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[limits]\nmemory = 1000\n", "at least 1MB"),
        ('[limits]\nmemory = "lots"\n', "memory"),
        ("[limits]\nmemory = true\n", "expected a size"),
        ('[limits]\nmemroy = "64MB"\n', "memroy"),
    ],
)
def test_bad_limits_name_the_file_and_the_key(tmp_path: Path, text: str, problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text)
    message = str(err.value)
    assert str(tmp_path / "sdvlog.toml") in message and "limits." in message
    assert problem in message


class GatedPlugin(RawPlugin):
    """RAW whose writer stores a batch only when the test opens the gate."""

    id = 42
    name = "gated"
    gate = threading.Event()

    def encode(self, batch: MessageBatch) -> list[TableChunk]:
        if threading.current_thread().name.endswith("-writer"):
            assert type(self).gate.wait(WAIT_S)
        return super().encode(batch)


def test_a_service_holds_no_more_than_its_memory_and_loses_nothing(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    GatedPlugin.gate = threading.Event()
    registry = PluginRegistry(eps=[])
    registry.register(GatedPlugin)
    memory = 1 << 20
    ex = ExchangeConfig(
        name="raw",
        topic="test/#",
        stream="gated",
        ringbus=RingbusConfig(cap=100_000, flush_ms=50),
    )
    cfg = service_config(tmp_path, mosquitto.address, exchange=ex)
    cfg = type(cfg)(**{**vars(cfg), "limits": LimitsConfig(memory=memory)})
    payloads = [b"%06d" % i + b"x" * 2000 for i in range(2000)]  # 4 MB: four times the budget
    one = held_size("test/a", payloads[0])
    with running(cfg, registry) as service:
        exchange = service.exchanges["raw"]
        publisher = threading.Thread(
            target=publish, args=(mosquitto.address, "test/a", payloads), kwargs={"qos": 1}
        )
        publisher.start()
        wait_until(lambda: exchange.ring.counters.memory_waits > 0, what="a push to wait")
        held = exchange.stats()["held_bytes"]
        assert isinstance(held, int) and memory - one < held <= memory, held
        assert exchange.ring.counters.accepted < len(payloads)  # the rest waits at the broker
        GatedPlugin.gate.set()
        publisher.join(WAIT_S)
        assert exchange.writer.wait_stored(len(payloads), WAIT_S), exchange.stats()
        stored = ask(service).table().column("payload").to_pylist()
        assert stored == payloads
        assert exchange.stats()["held_bytes"] == 0
