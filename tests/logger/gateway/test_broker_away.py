"""The gateway while the broker is away: frames buffered then delivered, frames beyond the bound
dropped, counted and logged once, and a prompt stop when the broker never came."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from logger.gateway.bus_stats import GatewayStats
from logger.gateway.gateway import Gateway
from tests.support.gateway import (
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
    virtual,
    wait_frames,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import Subscriber


class PersistentMosquitto(MosquittoProcess):
    """Mosquitto that keeps sessions across a restart (persistence file in its directory)."""

    def config_text(self) -> str:
        return (
            super()
            .config_text()
            .replace("persistence false", f"persistence true\npersistence_location {self.tmp_dir}/")
        )


@dataclass
class OfflineSubscription:
    """A broker that is down, holding a persistent subscription to :data:`TOPIC`: whatever is
    published once it is back reaches the subscriber, whoever connects first."""

    broker: PersistentMosquitto
    client_id: str

    def come_back(self) -> Subscriber:
        self.broker.start()
        return Subscriber(
            self.broker.address, TOPIC, client_id=self.client_id, clean_start=False
        ).start()


@pytest.fixture
def broker_down(tmp_path: Path) -> Iterator[OfflineSubscription]:
    broker = PersistentMosquitto(tmp_path / "mosquitto")
    client_id = f"gw-test-{uuid.uuid4().hex[:8]}"
    with broker:
        Subscriber(broker.address, TOPIC, client_id=client_id, clean_start=False).start().stop()
    try:
        yield OfflineSubscription(broker, client_id)
    finally:
        broker.stop()


def test_frames_are_buffered_while_the_broker_is_down_then_delivered(
    broker_down: OfflineSubscription,
) -> None:
    address = broker_down.broker.address
    ch = new_channel()
    msgs = mixed_frames(2000)
    cfg = config(address, virtual("can0", ch))
    with running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        assert gw.wait_until(lambda s: s.buses["can0"].backlog == len(msgs), WAIT_S)
        assert not gw.connected
        sub = broker_down.come_back()
        try:
            got = wait_frames(sub, len(msgs))
            assert gw.wait_until(lambda s: s.buses["can0"].backlog == 0, WAIT_S)
        finally:
            sub.stop()
        stats = gw.stats().buses["can0"]
    assert decoded(got) == expected(msgs)
    assert (stats.published, stats.dropped) == (len(msgs), 0)


def test_frames_beyond_the_buffer_bound_are_dropped_counted_and_logged_once(
    broker_down: OfflineSubscription, caplog: pytest.LogCaptureFixture
) -> None:
    address = broker_down.broker.address
    ch = new_channel()
    msgs = mixed_frames(1500)
    cfg = config(address, virtual("can0", ch), batch_frames=100, buffer_frames=1000)
    caplog.set_level(logging.WARNING, logger="logger.gateway.bus_reader")
    with running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)

        def settled(s: GatewayStats) -> bool:
            b = s.buses["can0"]
            return b.frames == 1500 and b.backlog == 1000 and b.dropped == 500

        assert gw.wait_until(settled, WAIT_S), gw.stats()
        sub = broker_down.come_back()
        try:
            got = wait_frames(sub, 1000)
            assert gw.wait_until(lambda s: s.buses["can0"].backlog == 0, WAIT_S)
        finally:
            sub.stop()
        stats = gw.stats().buses["can0"]
    assert decoded(got) == expected(msgs[:1000])  # the first 1000; those beyond, dropped
    assert (stats.published, stats.dropped) == (1000, 500)
    drops = [r for r in caplog.records if "new frames dropped" in r.getMessage()]
    assert len(drops) == 1


def test_stop_is_prompt_while_the_broker_never_came(tmp_path: Path) -> None:
    """No broker: stop() does not wait for one, and counts what it held as lost."""
    address = MosquittoProcess(tmp_path / "never").address  # never started
    ch = new_channel()
    cfg = config(address, virtual("can0", ch))
    gw = Gateway(cfg, address.host, address.port, address.protocol)
    gw.start()
    with sender(ch) as tx:
        send_all(tx, mixed_frames(10))
        assert gw.wait_until(lambda s: s.buses["can0"].backlog == 10, WAIT_S)
    gw.stop()  # returns at once: nothing can be delivered
    stats = gw.stats().buses["can0"]
    assert (stats.lost, stats.backlog, stats.published) == (10, 0, 0)
