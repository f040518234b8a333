"""The drain process and its ring (hw/socketcan_drain.py, hw/socketcan_ring.py) on any kernel.

A UDP socket on the loopback stands in for the CAN raw socket, as in test_socketcan_reader.py:
the drain reads it with the same ``recvmmsg`` and control messages. The tests take frames
through :class:`DrainRing` as the reader does and check what comes out against what was sent.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import os
import signal
import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from hw.socketcan_drain import CANFD_MTU, CONTROL, IOVec, layout, point
from hw.socketcan_ring import CTRL, FRAME, MMSG, DrainRing
from hw.socketcan_socket import configure, kernel_drops, meminfo

WAIT_S = 10.0


def frame(i: int) -> bytes:
    """A classic frame (struct can_frame) numbered ``i`` in its id and data."""
    return struct.pack("=IBBBB8s", i & 0x7FF, 8, 0, 0, 0, i.to_bytes(8, "little"))


class Slots:
    """Where a reader's batch lives: the slots :meth:`DrainRing.take` copies into."""

    def __init__(self, capacity: int) -> None:
        self.frames: npt.NDArray[Any] = np.zeros(capacity, FRAME)
        self.control: npt.NDArray[Any] = np.zeros(capacity, CTRL)
        self.msgs: npt.NDArray[Any] = np.zeros(capacity, MMSG)

    @property
    def parts(
        self,
    ) -> tuple[npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any], npt.NDArray[Any]]:
        """What :meth:`DrainRing.take` copies into: frames, control, sizes, control lengths."""
        return self.frames, self.control, self.msgs["len"], self.msgs["controllen"]

    def numbers(self, n: int) -> list[int]:
        """The frame numbers in the first ``n`` slots (from their data)."""
        data = self.frames["data"][:n, :8].copy()
        return [int(v) for v in data.view("<u8").ravel()]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(receiving socket with a large buffer, sending socket connected to it)."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    configure(rx, 4 << 20)
    tx.connect(rx.getsockname())
    with rx, tx:
        yield rx, tx


@pytest.fixture
def rings() -> Iterator[list[DrainRing]]:
    """Rings to close at the end of the test."""
    made: list[DrainRing] = []
    yield made
    for ring in made:
        ring.close()


def ring_on(sock: socket.socket, slots: int, rings: list[DrainRing]) -> DrainRing:
    rings.append(DrainRing(sock, slots))
    return rings[-1]


def until(check: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


def send_read(tx: socket.socket, ring: DrainRing, numbers: range, held: int) -> None:
    """Send the frames ``numbers`` and wait until the drain holds ``held`` frames."""
    for i in numbers:
        tx.send(frame(i))
    until(lambda: ring.wait(0.01) and ring.waiting == held, f"the drain holds {held} frames")


def take_all(ring: DrainRing, slots: Slots, want: int, chunk: int) -> list[int]:
    """Take ``want`` frames, ``chunk`` at a time; their numbers."""
    got: list[int] = []
    deadline = time.monotonic() + WAIT_S
    while len(got) < want and time.monotonic() < deadline:
        if ring.wait(0.05):
            n = ring.take(*slots.parts, 0, chunk)
            assert (slots.msgs["len"][:n] == 16).all()  # the datagram's length, as read
            got += slots.numbers(n)
    return got


def test_frames_come_through_in_order_as_the_ring_wraps_around(
    pair: tuple[socket.socket, socket.socket], rings: list[DrainRing]
) -> None:
    rx, tx = pair
    ring = ring_on(rx, 8, rings)
    slots = Slots(3)
    sent = 0
    got: list[int] = []
    for burst in (5, 20, 1, 13):  # more than the ring holds, taken three at a time
        for _ in range(burst):
            tx.send(frame(sent))
            sent += 1
        got += take_all(ring, slots, burst, 3)
    assert got == list(range(sent))
    assert ring.waiting == 0 and not ring.wait(0.01)
    assert kernel_drops(rx) == 0


def test_a_full_ring_stops_reading_and_the_kernel_drops_and_counts_the_rest(
    pair: tuple[socket.socket, socket.socket], rings: list[DrainRing]
) -> None:
    rx, tx = pair
    ring = ring_on(rx, 8, rings)
    send_read(tx, ring, range(30), 8)  # the ring full
    queued, _drops = meminfo(rx)
    assert queued > 0  # the other 22 wait in the kernel's queue, not read
    assert kernel_drops(rx) == 0
    slots = Slots(32)
    assert take_all(ring, slots, 30, 32) == list(range(30))  # room again: the drain reads on

    configure(rx, 1)  # the kernel's smallest buffer: a few frames
    os.kill(ring.pid, signal.SIGSTOP)  # the drain falls behind
    for i in range(30, 130):
        tx.send(frame(i))
    dropped = kernel_drops(rx)
    os.kill(ring.pid, signal.SIGCONT)
    assert dropped > 0
    assert take_all(ring, slots, 100 - dropped, 32) == list(range(30, 130 - dropped))
    assert ring.waiting == 0


def test_stopping_ends_the_drain_and_leaves_what_it_read_to_take(
    pair: tuple[socket.socket, socket.socket], rings: list[DrainRing]
) -> None:
    rx, tx = pair
    ring = ring_on(rx, 64, rings)
    send_read(tx, ring, range(10), 10)
    ring.stop()
    assert not Path(f"/proc/{ring.pid}").exists()  # ended and reaped
    tx.send(frame(10))  # read by nobody now
    slots = Slots(64)
    assert take_all(ring, slots, 10, 4) == list(range(10))
    assert ring.take(*slots.parts, 0, 4) == 0  # no error: stopped
    assert meminfo(rx)[0] > 0


def test_a_drain_that_dies_is_a_failed_read_after_the_frames_it_read(
    pair: tuple[socket.socket, socket.socket], rings: list[DrainRing]
) -> None:
    rx, tx = pair
    ring = ring_on(rx, 64, rings)
    send_read(tx, ring, range(5), 5)
    os.kill(ring.pid, signal.SIGKILL)
    slots = Slots(64)
    until(lambda: ring.wait(0.01) and ring.failure is not None, "the drain's end was seen")
    assert take_all(ring, slots, 5, 64) == list(range(5))
    with pytest.raises(OSError, match=r"drain process ended \(killed by signal 9\)") as raised:
        ring.take(*slots.parts, 0, 64)
    assert raised.value.errno == errno.EPIPE


def test_a_failed_read_in_the_drain_raises_the_kernel_error(
    pair: tuple[socket.socket, socket.socket], rings: list[DrainRing]
) -> None:
    rx, tx = pair
    rx.close()  # the sender's socket gets ECONNREFUSED on its next read
    ring = ring_on(tx, 8, rings)
    tx.send(frame(0))
    until(lambda: ring.wait(0.01), "the drain reported")
    slots = Slots(8)
    with pytest.raises(ConnectionRefusedError, match="recvmmsg"):
        ring.take(*slots.parts, 0, 8)


def test_the_drain_ignores_interrupts_and_ends_with_the_service(
    pair: tuple[socket.socket, socket.socket], rings: list[DrainRing]
) -> None:
    rx, tx = pair
    ring = ring_on(rx, 8, rings)
    maps = Path(f"/proc/{ring.pid}/maps")
    until(lambda: ring.wait(0.01) or ring.up, "the drain said it is up")
    assert "numpy" not in maps.read_text()  # the standard library only
    for sig in (signal.SIGINT, signal.SIGTERM):  # a Ctrl-C, or systemd stopping the group
        os.kill(ring.pid, sig)
    tx.send(frame(1))
    slots = Slots(8)
    assert take_all(ring, slots, 1, 8) == [1]  # still reading
    ring.close()
    assert not maps.exists()  # ended and reaped


@pytest.mark.parametrize("slots", [1, 7, 4096])
def test_every_slot_points_at_its_own_buffers(slots: int) -> None:
    lay = layout(slots)
    ring = mmap.mmap(-1, lay.size)
    msgs = point(ring, lay)
    base = ctypes.addressof(ctypes.c_char.from_buffer(ring))
    iovs = (IOVec * slots).from_buffer(ring, lay.iovs)
    wrong = [
        slot
        for slot in range(slots)
        if (
            msgs[slot].msg_hdr.msg_iov,
            msgs[slot].msg_hdr.msg_iovlen,
            msgs[slot].msg_hdr.msg_control,
            msgs[slot].msg_hdr.msg_controllen,
            msgs[slot].msg_hdr.msg_name,
            iovs[slot].iov_base,
            iovs[slot].iov_len,
        )
        != (
            ctypes.addressof(iovs[slot]),
            1,
            base + lay.control + slot * CONTROL,
            CONTROL,
            None,
            base + lay.frames + slot * CANFD_MTU,
            CANFD_MTU,
        )
    ]
    assert wrong == []
    assert lay.control + slots * CONTROL <= lay.size
    del msgs, iovs
