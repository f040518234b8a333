"""The gateway's bus readers in trouble: a failed bus reopened with its gap reported, a device
missing at start waited for."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import can
import pytest
from can.interfaces.virtual import VirtualBus

from logger.core.config import BusConfig
from logger.gateway.bus_reader import REOPEN_INITIAL_S
from logger.gateway.bus_stats import DOWN, READING
from tests.support.gateway import (
    T0,
    TOPIC,
    WAIT_S,
    config,
    decoded,
    expected,
    mixed_frames,
    new_channel,
    running,
    send_all,
    sender,
    wait_frames,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import Subscriber

DOWN_CHANNELS: set[str] = set()


class FlakyBus(VirtualBus):
    """A virtual bus whose channel a test can take down: opening and reading fail meanwhile."""

    def __init__(self, channel: str, **kwargs: Any) -> None:
        if channel in DOWN_CHANNELS:
            raise can.CanInitializationError(f"{channel}: no such device")
        super().__init__(channel, **kwargs)

    def _recv_internal(self, timeout: float | None) -> tuple[can.Message | None, bool]:
        if self.channel_id in DOWN_CHANNELS:
            raise can.CanOperationError("[Errno 100] Network is down")
        return super()._recv_internal(timeout)


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A channel of the ``flaky`` interface (registered with python-can for this test)."""
    monkeypatch.setitem(can.interfaces.BACKENDS, "flaky", (__name__, "FlakyBus"))
    channel = new_channel()
    yield channel
    DOWN_CHANNELS.discard(channel)


def flaky_bus(channel: str) -> BusConfig:
    return BusConfig(name="can0", interface="flaky", channel=channel)


def test_a_failed_bus_is_reopened_and_the_gap_reported(
    mosquitto: MosquittoProcess, flaky: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="logger.gateway.bus_reader")
    address = mosquitto.address
    before, after = mixed_frames(20), mixed_frames(20, T0 + 60)
    cfg = config(address, flaky_bus(flaky), batch_ms=1)
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw, sender(flaky) as tx:
        send_all(tx, before)
        wait_frames(sub, 20)
        DOWN_CHANNELS.add(flaky)
        assert gw.wait_until(
            lambda s: s.buses["can0"].state == DOWN and s.buses["can0"].read_errors == 1, WAIT_S
        )
        DOWN_CHANNELS.discard(flaky)
        assert gw.wait_until(
            lambda s: s.buses["can0"].state == READING and s.buses["can0"].reopens == 1, WAIT_S
        )
        send_all(tx, after)
        got = wait_frames(sub, 40)
        assert gw.wait_until(lambda s: s.buses["can0"].gaps == 1, WAIT_S)
        stats = gw.stats().buses["can0"]
    assert decoded(got) == expected(before + after)
    assert stats.last_gap_s is not None and stats.last_gap_s >= REOPEN_INITIAL_S
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "read failed" in text and "reopened after" in text and "frames again after" in text


def test_a_device_missing_at_start_is_waited_for(mosquitto: MosquittoProcess, flaky: str) -> None:
    address = mosquitto.address
    msgs = mixed_frames(10)
    DOWN_CHANNELS.add(flaky)
    cfg = config(address, flaky_bus(flaky), batch_ms=1)
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw:
        assert gw.stats().buses["can0"].state == DOWN
        DOWN_CHANNELS.discard(flaky)
        assert gw.wait_until(lambda s: s.buses["can0"].state == READING, WAIT_S)
        with sender(flaky) as tx:
            send_all(tx, msgs)
            got = wait_frames(sub, 10)
    assert decoded(got) == expected(msgs)
