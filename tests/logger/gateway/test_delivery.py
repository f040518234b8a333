"""The gateway end to end: python-can buses → CANP batches → a real broker → a subscriber that
decodes them; each bus on its own topic, QoS 0, the embedded broker."""

from __future__ import annotations

import itertools

from logger.gateway.bus_stats import READING
from logger.mqtt.broker import EmbeddedBroker
from tests.support.gateway import (
    T0,
    TOPIC,
    VIN,
    WAIT_S,
    config,
    decoded,
    expected,
    frame_count,
    mixed_frames,
    new_channel,
    running,
    send_all,
    sender,
    virtual,
    wait_frames,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress, Subscriber


def test_every_frame_arrives_in_order_with_ids_flags_data_and_timestamps(
    mosquitto: MosquittoProcess,
) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(3000)
    cfg = config(address, virtual("can0", ch), batch_frames=256, batch_ms=10)
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        got = wait_frames(sub, len(msgs))
        assert gw.wait_until(lambda s: s.buses["can0"].published == len(msgs), WAIT_S)
        stats = gw.stats().buses["can0"]
    assert {r.topic for r in got} == {f"vehicle/{VIN}/canp/can0"}
    assert all(1 <= frame_count(r.payload) <= 256 for r in got)
    assert decoded(got) == expected(msgs)
    assert (stats.frames, stats.dropped, stats.backlog, stats.lost) == (len(msgs), 0, 0, 0)
    assert stats.state in ("stopped", READING)


def test_each_bus_publishes_on_its_own_topic(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch_a, ch_b = new_channel(), new_channel()
    front, rear = mixed_frames(500), mixed_frames(700, T0 + 10)
    cfg = config(address, virtual("front", ch_a), virtual("rear", ch_b))
    with Subscriber(address, TOPIC) as sub, running(cfg, address):
        with sender(ch_a) as a, sender(ch_b) as b:
            for ma, mb in itertools.zip_longest(front, rear):
                if ma is not None:
                    a.send(ma)
                if mb is not None:
                    b.send(mb)
        got = wait_frames(sub, len(front) + len(rear))
    by_topic = {
        bus: [r for r in got if r.topic == f"vehicle/{VIN}/canp/{bus}"] for bus in ("front", "rear")
    }
    assert decoded(by_topic["front"]) == expected(front)
    assert decoded(by_topic["rear"]) == expected(rear)


def test_qos_0(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(600)
    cfg = config(address, virtual("can0", ch), qos=0)
    with Subscriber(address, TOPIC, qos=0) as sub, running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        got = wait_frames(sub, len(msgs))
        assert gw.wait_until(lambda s: s.buses["can0"].published == len(msgs), WAIT_S)
    assert decoded(got) == expected(msgs)
    assert all(r.qos == 0 for r in got)


def test_embedded_broker(embedded_broker: EmbeddedBroker) -> None:
    address = BrokerAddress("embedded", embedded_broker.host, embedded_broker.port)
    ch = new_channel()
    msgs = mixed_frames(300)
    cfg = config(address, virtual("can0", ch))
    with Subscriber(address, TOPIC) as sub, running(cfg, address), sender(ch) as tx:
        send_all(tx, msgs)
        got = wait_frames(sub, len(msgs))
    assert decoded(got) == expected(msgs)
