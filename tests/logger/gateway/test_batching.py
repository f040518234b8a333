"""The gateway's batches: closed at ``batch_frames`` or when ``batch_ms`` old; stop flushes the rest."""

from __future__ import annotations

import time

from tests.support.gateway import (
    TOPIC,
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
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import Subscriber


def test_batches_close_at_batch_frames_and_stop_flushes_the_rest(
    mosquitto: MosquittoProcess,
) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(35)
    cfg = config(address, virtual("can0", ch), batch_frames=10, batch_ms=600_000)
    with Subscriber(address, TOPIC) as sub:
        with running(cfg, address) as gw, sender(ch) as tx:
            send_all(tx, msgs)
            full = sub.wait_for(3, WAIT_S)
            assert [frame_count(r.payload) for r in full] == [10, 10, 10]
            # 5 frames held: too few and too young
            assert gw.wait_until(
                lambda s: (s.buses["can0"].frames, s.buses["can0"].published) == (35, 30), WAIT_S
            )
            assert gw.stats().buses["can0"].backlog == 0
        got = sub.wait_for(4, WAIT_S)  # stop() published the last 5
    assert [frame_count(r.payload) for r in got] == [10, 10, 10, 5]
    assert decoded(got) == expected(msgs)


def test_a_batch_closes_when_its_first_frame_is_batch_ms_old(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch = new_channel()
    msgs = mixed_frames(5)
    cfg = config(address, virtual("can0", ch), batch_frames=1000, batch_ms=300)
    with Subscriber(address, TOPIC) as sub, running(cfg, address), sender(ch) as tx:
        t0 = time.monotonic()
        send_all(tx, msgs)
        got = sub.wait_for(1, WAIT_S)
        elapsed = time.monotonic() - t0
    assert elapsed >= 0.3  # not before the batch was batch_ms old (a lower bound only)
    assert [frame_count(r.payload) for r in got] == [5]
    assert decoded(got) == expected(msgs)
