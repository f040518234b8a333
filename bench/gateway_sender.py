"""What the gateway benchmark (:mod:`bench.gateway`) sends: frames of the demo DBC, and the thread
that puts them on a python-can virtual channel, by ``VirtualBus.send`` frame by frame or as one
burst onto every receiver's queue."""

from __future__ import annotations

import copy
import queue
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import can
from can.interfaces import virtual

from bench.traffic import can_id_with_flags, sim_messages

TIMEOUT_S = 300.0
PYCAN, BURST = "python-can", "burst"


@dataclass(frozen=True)
class Frames:
    """The frames to send, and how many of each ``can_id`` (with flag bits) they hold."""

    msgs: list[can.Message]
    ids: Counter[int]

    @property
    def n(self) -> int:
        return len(self.msgs)


def make_frames(n: int) -> Frames:
    msgs = sim_messages(n / 400 + 2)[:n]
    if len(msgs) < n:
        raise RuntimeError(f"the simulator gave {len(msgs)} frames, {n} wanted")
    return Frames(msgs, Counter(can_id_with_flags(m) for m in msgs))


def fresh_channel() -> str:
    """A new virtual channel. python-can's writers take the trailing digits of a channel name as
    its number (``vcan0`` → 0; BLF wants 0..65535), so every name ends in ``-vcan0``."""
    return f"bench-{uuid.uuid4().hex[:12]}-vcan0"


def _copies(frames: Frames, channel: str) -> list[can.Message]:
    """What ``VirtualBus.send`` puts on a receiver's queue for each frame."""
    now = time.time()
    out = []
    for msg in frames.msgs:
        c = copy.deepcopy(msg)
        c.timestamp = now
        c.channel = channel
        c.is_rx = True
        out.append(c)
    return out


class Sender(threading.Thread):
    """Pushes every frame onto the channel: by ``VirtualBus.send``, or (burst) pre-copied frames
    onto each receiver's queue at once (``prepare`` makes the copies before the clock starts)."""

    def __init__(self, frames: Frames, channel: str, mode: str) -> None:
        super().__init__(name="bench-sender", daemon=True)
        self.frames = frames
        self.channel = channel
        self.mode = mode
        self.started_at = self.ended_at = 0.0
        self._bus: can.BusABC | None = None
        self._lanes: list[tuple[queue.Queue[can.Message], list[can.Message]]] = []
        self.error: BaseException | None = None

    def prepare(self) -> None:
        if self.mode == PYCAN:
            self._bus = can.Bus(interface="virtual", channel=self.channel)
        else:
            queues = list(virtual.channels[self.channel])
            self._lanes = [(q, _copies(self.frames, self.channel)) for q in queues]

    def run(self) -> None:
        try:
            self.started_at = time.monotonic()
            if self._bus is not None:
                send = self._bus.send
                for msg in self.frames.msgs:
                    send(msg)
            else:
                for q, copies in self._lanes:  # the whole burst under one lock per receiver
                    with q.mutex:
                        q.queue.extend(copies)
                        q.unfinished_tasks += len(copies)
                        q.not_empty.notify()
            self.ended_at = time.monotonic()
        except BaseException as exc:  # reported by the run
            self.error = exc

    def close(self) -> None:
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None
        self._lanes = []


def sender_alone(frames: Frames, mode: str) -> float:
    """Seconds the sender takes with one receiver on the channel that nobody reads."""
    channel = fresh_channel()
    idle = can.Bus(interface="virtual", channel=channel)
    sender = Sender(frames, channel, mode)
    try:
        sender.prepare()
        sender.start()
        sender.join(TIMEOUT_S)
        if sender.error is not None:
            raise sender.error
        return sender.ended_at - sender.started_at
    finally:
        sender.close()
        idle.shutdown()
