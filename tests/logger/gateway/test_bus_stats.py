"""The gateway's bus counters: the bits of a known frame mix (bus load) and the rate window."""

from __future__ import annotations

from typing import Any

import can
import pytest

from hw.bus import frame_bits
from logger.gateway.bus_stats import RateWindow
from tests.support.gateway import (
    T0,
    WAIT_S,
    config,
    new_channel,
    running,
    send_all,
    sender,
    virtual,
)
from tests.support.mosquitto import MosquittoProcess


def test_bus_load_counts_the_bits_of_a_known_frame_mix(mosquitto: MosquittoProcess) -> None:
    address = mosquitto.address
    ch = new_channel()

    def std(**kw: Any) -> can.Message:
        return can.Message(timestamp=T0, is_extended_id=False, **kw)

    msgs = (
        [std(arbitration_id=0x100, data=bytes(8))] * 100
        + [can.Message(timestamp=T0, arbitration_id=0x1000, is_extended_id=True, data=bytes(8))]
        * 50
        + [std(arbitration_id=0x101, is_remote_frame=True, dlc=8)] * 20
        + [std(arbitration_id=0x102, is_fd=True, bitrate_switch=True, data=bytes(64))] * 10
        + [std(arbitration_id=0x103, is_fd=True, data=bytes(12))] * 5
    )
    nominal = 100 * 111 + 50 * 131 + 20 * 47 + 10 * 30 + 5 * (30 + 32 + 96)
    data = 10 * (37 + 512)
    assert sum(frame_bits(m)[0] for m in msgs) == nominal
    cfg = config(address, virtual("can0", ch, bitrate=250_000, data_bitrate=1_000_000))
    with running(cfg, address) as gw, sender(ch) as tx:
        send_all(tx, msgs)
        assert gw.wait_until(lambda s: s.buses["can0"].published == len(msgs), WAIT_S)
        stats = gw.stats().buses["can0"]
    assert (stats.bits_nominal, stats.bits_data) == (nominal, data)
    assert stats.bus_time_s == pytest.approx(nominal / 250_000 + data / 1_000_000)


def test_rate_window_gives_frames_per_second_and_load_over_the_last_window() -> None:
    rates = RateWindow(500_000, 2_000_000, now=100.0, window_s=1.0)
    assert not rates.roll(100.5, 400, 400 * 111, 0)  # window still open
    assert rates.roll(101.0, 1000, 1000 * 111, 0)
    assert rates.current(101.2) == pytest.approx((1000.0, 22.2))
    assert rates.roll(103.0, 1500, 1500 * 111, 10 * 549)  # a 2 s window
    fps, load = rates.current(103.0)
    assert fps == pytest.approx(250.0)
    assert load == pytest.approx(100 * (500 * 111 / 500_000 + 5490 / 2_000_000) / 2.0)
    assert rates.current(106.0) == (0.0, 0.0)  # nothing closed lately: the reader is not reading
