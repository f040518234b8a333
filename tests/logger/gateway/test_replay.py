"""Replay through the gateway: a real log replayed fast arrives whole and in order; a replay that
hits a malformed frame delivers what came before."""

from __future__ import annotations

from pathlib import Path

import can
import numpy as np
import pytest

from canp.wire import decode_payloads
from logger.core.config import BusConfig
from logger.gateway.bus_stats import REPLAY_DONE
from tests.support.gateway import (
    T0,
    TOPIC,
    WAIT_S,
    config,
    decoded,
    running,
    wait_frames,
)
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import Subscriber

GENESIS_LOG = (
    Path(__file__).resolve().parents[4]
    / "shared"
    / "data"
    / "logs"
    / "hyundai_genesis_autologgenesis.log"
)


def test_a_real_log_replayed_fast_arrives_whole_and_in_order(mosquitto: MosquittoProcess) -> None:
    if not GENESIS_LOG.is_file():
        pytest.skip(f"{GENESIS_LOG} is not on this machine (shared sample logs)")
    reader = can.LogReader(GENESIS_LOG)
    try:
        want = list(reader)
    finally:
        reader.stop()
    address = mosquitto.address
    cfg = config(address, BusConfig(name="genesis", replay=GENESIS_LOG, pace="fast"))
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw:
        assert gw.wait_replayed(120), gw.stats()
        got = wait_frames(sub, len(want))
        stats = gw.stats().buses["genesis"]
    assert stats.state == REPLAY_DONE
    assert (stats.frames, stats.published, stats.dropped) == (len(want), len(want), 0)
    frames = decode_payloads([r.payload for r in got]).frames
    assert len(frames) == len(want) == 55314
    assert np.array_equal(frames.ts, np.array([round(m.timestamp * 1e9) for m in want]))
    assert frames.can_id.tolist() == [m.arbitration_id for m in want]
    assert frames.data.to_pylist() == [bytes(m.data) for m in want]


def test_a_replay_that_hits_a_malformed_frame_delivers_what_came_before(
    mosquitto: MosquittoProcess, tmp_path: Path
) -> None:
    path = tmp_path / "broken.log"
    path.write_text(
        "".join(f"({T0 + i / 1000:.6f}) can0 {0x100 + i:03X}#{i:02X}\n" for i in range(50))
        + "this is not a frame\n(1700000001.000000) can0 7FF#00\n",
        encoding="utf-8",
    )
    address = mosquitto.address
    cfg = config(address, BusConfig(name="r", replay=path, pace="fast"))
    with Subscriber(address, TOPIC) as sub, running(cfg, address) as gw:
        assert gw.wait_replayed(WAIT_S)
        got = wait_frames(sub, 50)
        stats = gw.stats().buses["r"]
    assert stats.state == "failed" and stats.failure is not None and str(path) in stats.failure
    assert [cid for _, cid, _, _ in decoded(got)] == [0x100 + i for i in range(50)]
