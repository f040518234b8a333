"""The simulator in real time: frames sent on a virtual bus, a run for a duration, buses that
are missing or refuse everything."""

from __future__ import annotations

import threading
import time
from collections import Counter

import can
import pytest
from cantools.database.can import Database

from hw.simulate import SimulationError, SimulationStats, Simulator
from tests.support.simulation import WAIT_S, channel, decode

# -- real time on a virtual bus ----------------------------------------------------------------


class Receiver:
    """Another virtual bus instance on the same channel."""

    def __init__(self, chan: str) -> None:
        self.bus = can.Bus(interface="virtual", channel=chan)
        self.frames: list[can.Message] = []

    def wait_for_ids(self, ids: set[int], timeout: float) -> bool:
        """Receive until every id in ``ids`` came at least once, or ``timeout`` passes."""
        pending = set(ids)
        end = time.monotonic() + timeout
        while pending and (left := end - time.monotonic()) > 0:
            msg = self.bus.recv(timeout=left)
            if msg is None:
                break
            self.frames.append(msg)
            pending.discard(msg.arbitration_id)
        return not pending

    def drain(self) -> None:
        while (msg := self.bus.recv(timeout=0)) is not None:
            self.frames.append(msg)


def test_realtime_frames_reach_another_virtual_bus(demo: Database) -> None:
    chan = channel()
    receiver = Receiver(chan)
    sender = can.Bus(interface="virtual", channel=chan)
    stop = threading.Event()
    result: list[SimulationStats] = []
    thread = threading.Thread(
        target=lambda: result.append(Simulator(demo, sender, seed=9).run(None, stop))
    )
    try:
        thread.start()
        ids = {m.frame_id for m in demo.messages}
        assert receiver.wait_for_ids(ids, WAIT_S)
        stop.set()
        thread.join(WAIT_S)
        assert not thread.is_alive()
        receiver.drain()
    finally:
        stop.set()
        thread.join(WAIT_S)
        sender.shutdown()
        receiver.bus.shutdown()
    (stats,) = result
    assert stats.total == len(receiver.frames) and not stats.failed
    received = Counter(demo.get_message_by_frame_id(f.arbitration_id).name for f in receiver.frames)
    assert received == Counter(stats.sent)
    for frame in receiver.frames:
        msg, _ = decode(demo, frame)
        if msg.name == "CellVoltages":
            assert frame.is_fd and frame.bitrate_switch and len(frame.data) == 64
        else:
            assert not frame.is_fd and len(frame.data) == 8
        assert frame.is_extended_id == (msg.name == "ChargerStatus")
    charger = next(f for f in receiver.frames if f.is_extended_id)
    assert charger.arbitration_id == 0x18FF50E5


def test_run_for_a_duration_sends_what_frames_produces(demo: Database) -> None:
    chan = channel()
    receiver = can.Bus(interface="virtual", channel=chan)
    sender = can.Bus(interface="virtual", channel=chan)
    try:
        stats = Simulator(demo, sender, seed=4).run(0.5, threading.Event())
    finally:
        sender.shutdown()
    expected = Counter(
        demo.get_message_by_frame_id(f.arbitration_id).name
        for f in Simulator(demo, None, seed=4).frames(0.5)
    )
    assert Counter(stats.sent) == expected and expected["EngineData"] == 50
    assert stats.elapsed_s >= 0.5
    got = []
    while (msg := receiver.recv(timeout=0)) is not None:
        got.append(bytes(msg.data))
    receiver.shutdown()
    assert got == [bytes(f.data) for f in Simulator(demo, None, seed=4).frames(0.5)]
    assert "EngineData=50" in stats.summary()


def test_run_without_a_bus_is_an_error(demo: Database) -> None:
    with pytest.raises(SimulationError, match="no bus"):
        Simulator(demo, None, seed=1).run(0.1, threading.Event())


def test_a_bus_that_refuses_everything_ends_the_run(demo: Database) -> None:
    bus = can.Bus(interface="virtual", channel=channel())
    bus.shutdown()  # every send now raises CanOperationError
    with pytest.raises(SimulationError, match="nothing could be sent"):
        Simulator(demo, bus, seed=1).run(None, threading.Event())
