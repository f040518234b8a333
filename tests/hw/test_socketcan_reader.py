"""The bulk socket reader (hw/socketcan_reader.py) on any kernel.

A UDP socket on the loopback carries the same datagrams a CAN raw socket does (the 16-byte
``struct can_frame``, the 72-byte ``struct canfd_frame``) with the same control messages
(``SO_TIMESTAMPNS`` receive times, ``SO_RXQ_OVFL`` drop counts) and the same ``SO_MEMINFO``, so
the reading, the mapping to CANP (against python-can's own socketcan reader, fed the same
datagrams), the bus bits, the batch's payload and the drop accounting are checked here; the
tests in tests/hw/vcan check the reader on real SocketCAN."""

from __future__ import annotations

import os
import signal
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import can
import pytest
from can.interfaces.socketcan.socketcan import capture_message

from canp.wire import decode_payloads, encode_messages
from hw.bus import frame_bits
from hw.socketcan_reader import SocketcanReader
from hw.socketcan_socket import SO_TIMESTAMPNS, configure, kernel_drops

EFF, RTR, ERR = 0x80000000, 0x40000000, 0x20000000
BRS, ESI = 0x01, 0x02
WAIT_S = 5.0


def classic(can_id: int, data: bytes = b"", length: int | None = None) -> bytes:
    n = len(data) if length is None else length
    return struct.pack("=IBBBB8s", can_id, n, 0, 0, 0, data)


def fd(can_id: int, data: bytes, flags: int = 0) -> bytes:
    return struct.pack("=IBBBB64s", can_id, len(data), flags, 0, 0, data)


#: Every kind of frame python-can's socketcan interface tells apart.
KINDS = [
    classic(0x123, b"\x01\x02\x03"),
    classic(0x7FF, bytes(range(8))),
    classic(0x000),
    classic(EFF | 0x1ABCDE, b"\xaa" * 8),
    classic(RTR | 0x321, length=3),  # remote: a requested length, no data
    classic(EFF | RTR | 0x1F334455, length=8),
    classic(ERR | 0x80, bytes(8)),  # error frame: no EFF flag
    classic(ERR | 0x004, bytes.fromhex("0004000000000000")),
    fd(0x213, b"\x11\x22\x33\x44", BRS | ESI),
    fd(0x100, bytes(range(9)), BRS),  # 9 bytes: read as 12 (a valid FD length)
    fd(EFF | 0x12345, bytes(range(64)), ESI),
    fd(0x7AB, bytes(range(13))),  # no BRS: all at the nominal bit rate; read as 16
    fd(0x1FF, b""),
]


@pytest.fixture(params=[None, 16], ids=["in-thread", "drain"])
def drain_slots(request: pytest.FixtureRequest) -> int | None:
    """Read in this thread (None), or by a drain process with a ring of this many slots (fewer
    than the frames of most tests, so that the ring wraps around and fills)."""
    value: int | None = request.param
    return value


Readers = Callable[[int], SocketcanReader]


@pytest.fixture
def readers(drain_slots: int | None) -> Iterator[Readers]:
    """Make readers of a capacity, read as ``drain_slots`` says; each detached at the end."""
    made: list[SocketcanReader] = []

    def make(capacity: int) -> SocketcanReader:
        made.append(SocketcanReader(capacity, drain_slots=drain_slots))
        return made[-1]

    yield make
    for reader in made:
        reader.detach()


def wait_read_ahead(reader: SocketcanReader, frames: int) -> None:
    """Until the drain read ``frames`` frames ahead (no drain: none to wait for)."""
    if reader.drain_pid is None:
        return
    deadline = time.monotonic() + WAIT_S
    while reader.read_ahead < frames and time.monotonic() < deadline:
        reader.wait(0.01)
    assert reader.read_ahead >= frames


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """(receiving socket, sending socket connected to it) on the loopback."""
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.bind(("127.0.0.1", 0))
    tx.connect(rx.getsockname())
    with rx, tx:
        yield rx, tx


def drain(reader: SocketcanReader) -> int:
    """Receive and keep whatever is waiting; how many frames."""
    got = 0
    while reader.wait(0.05 if got else WAIT_S):
        n = reader.receive()
        reader.keep(n)
        got += n
        if not n or reader.count == reader.capacity:
            break
    return got


def test_frames_are_mapped_and_counted_as_python_can_does(
    pair: tuple[socket.socket, socket.socket], readers: Readers
) -> None:
    rx, tx = pair
    reader = readers(64)
    reader.attach(rx, 1 << 20, "test")
    before = time.time_ns()
    for frame in KINDS:
        tx.send(frame)
    wait_read_ahead(reader, len(KINDS))  # one chunk: the bits below are the whole batch's
    assert drain(reader) == len(KINDS)
    after = time.time_ns()
    bits = reader.bits
    ours = decode_payloads([reader.payload()]).frames
    assert reader.count == 0

    # python-can's own reader, fed the same datagrams
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as ref:
        ref.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        ref.bind(("127.0.0.1", 0))
        tx.connect(ref.getsockname())
        for frame in KINDS:
            tx.send(frame)
        ref.settimeout(WAIT_S)
        messages = [capture_message(ref) for _ in KINDS]
    assert all(isinstance(m, can.Message) for m in messages)
    theirs = decode_payloads([encode_messages(messages)]).frames
    assert ours.can_id.tolist() == theirs.can_id.tolist()
    assert ours.flags.tolist() == theirs.flags.tolist()
    assert ours.data.to_pylist() == theirs.data.to_pylist()
    assert ours.ts.tolist() == sorted(ours.ts.tolist())
    assert before <= int(ours.ts[0]) and int(ours.ts[-1]) <= after  # the kernel's receive times
    # every frame was one chunk, so its bits are the whole batch's
    assert bits == tuple(map(sum, zip(*(frame_bits(m) for m in messages if m), strict=True)))


def test_one_call_reads_what_waits_up_to_the_free_slots_and_keep_takes_some(
    pair: tuple[socket.socket, socket.socket], readers: Readers
) -> None:
    rx, tx = pair
    reader = readers(8)
    reader.attach(rx, 1 << 20, "test")
    for i in range(20):
        tx.send(classic(0x100 + i, bytes([i]) * 8))
    wait_read_ahead(reader, 16)  # the drain's ring full: more than the two reads below take
    assert reader.wait(WAIT_S)  # loopback datagrams are queued by the time send returns
    assert reader.receive() == 8  # all eight slots in one call
    reader.keep(5)  # the other three are dropped (the gateway's backlog bound)
    assert (reader.count, reader.pending) == (5, 0)
    assert reader.receive() == 3  # the three free slots
    reader.keep(3)
    batch = decode_payloads([reader.payload()]).frames
    assert batch.can_id.tolist() == [0x100 + i for i in (0, 1, 2, 3, 4, 8, 9, 10)]
    assert batch.data.to_pylist()[5] == bytes([8]) * 8
    assert drain(reader) == 8 and reader.receive() == 0  # full: nothing read until flushed
    reader.payload()
    assert drain(reader) == 1


def test_kernel_drops_are_counted_once_and_placed_between_the_frames_around_them(
    pair: tuple[socket.socket, socket.socket], readers: Readers
) -> None:
    rx, tx = pair
    reader = readers(256)
    granted = reader.attach(rx, 1, "test")  # the kernel's smallest buffer: a few datagrams
    assert granted >= 1
    drain_pid = reader.drain_pid

    def lose(count: int) -> int:
        """Send ``count`` frames to a socket nobody reads (the drain, if any, stopped); how
        many the kernel dropped."""
        if drain_pid is not None:
            os.kill(drain_pid, signal.SIGSTOP)
        dropped = kernel_drops(rx)
        for i in range(count):
            tx.send(classic(0x200, i.to_bytes(2, "little")))
        lost = kernel_drops(rx) - dropped
        if drain_pid is not None:
            os.kill(drain_pid, signal.SIGCONT)
        return lost

    first = lose(100)
    assert first > 0
    assert reader.check_drops() is None  # frames still wait, lost after them: not placed yet
    read = drain(reader)
    assert read + first == 100
    assert reader.kernel_dropped == 0  # the frames read were queued before the loss
    last_read = int(decode_payloads([reader.payload()]).frames.ts[-1])
    drop = reader.check_drops()  # nothing came after the loss: SO_MEMINFO tells
    assert drop is not None and drop.frames == first and reader.kernel_dropped == first
    assert (drop.after_ns, drop.before_ns) == (last_read, None)
    assert reader.check_drops() is None  # counted once

    second = lose(100)
    read2 = drain(reader)
    reader.payload()
    tx.send(classic(0x201))  # queued after the loss: it carries the drop count
    assert drain(reader) == 1
    after_loss = int(decode_payloads([reader.payload()]).frames.ts[0])
    assert reader.kernel_dropped == first + second and read2 + second == 100
    drop = reader.last_drop
    assert drop is not None and drop.frames == second and drop.before_ns == after_loss
    assert drop.after_ns is not None and drop.after_ns < after_loss
    assert "between the frames read at" in drop.where()
    assert reader.check_drops() is None


def test_a_failed_read_raises_with_the_kernel_error(
    pair: tuple[socket.socket, socket.socket], readers: Readers
) -> None:
    rx, tx = pair
    rx.close()  # nobody listens any more: the sender's socket gets ECONNREFUSED
    reader = readers(4)
    reader.attach(tx, 1 << 16, "test")
    tx.send(classic(0x1))
    assert reader.wait(WAIT_S)
    with pytest.raises(ConnectionRefusedError):
        reader.receive()


def test_configure_grants_the_buffer_asked_for_as_the_kernel_reports_it(
    pair: tuple[socket.socket, socket.socket],
) -> None:
    rx, _tx = pair
    rmem_max = int(Path("/proc/sys/net/core/rmem_max").read_text())
    # SO_RCVBUFFORCE (CAP_NET_ADMIN, as root) goes beyond net.core.rmem_max; SO_RCVBUF does not
    want = 2 * rmem_max + (4 << 20)
    expected = want if os.geteuid() == 0 else 2 * rmem_max
    assert configure(rx, want) == expected
    assert rx.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) == expected
