"""The drain: a small process of its own that moves frames from a SocketCAN socket's kernel
queue into a ring of slots shared with the service, as fast as they come.

A reader thread of the service shares the interpreter lock with the exchange, the MQTT client
and the writer; whenever it waits for the lock longer than the socket's receive buffer lasts,
the kernel drops frames. The drain never waits for that lock: it is a separate interpreter
(started as ``python -I -S`` on this file, with nothing but the standard library) that does one
thing, ``poll`` and ``recvmmsg(2)`` straight into the shared slots, and
:class:`hw.socketcan_ring.DrainRing` on the service's side takes the frames from there.

The ring (an anonymous shared file, ``memfd``, mapped by both) holds ``slots`` slots, each the
``mmsghdr``, ``iovec``, frame buffer and control-message buffer of one frame (:func:`layout`).
The drain only ever writes slots the service has given back, so the two never touch a slot at
the same time. Who owns which slot travels through two pipes as 8-byte counters (``=q``), the
pipes also ordering the memory between the processes:

- notes (drain → service): 0 once the drain is up, then the frames written so far after every
  ``recvmmsg``; ``-errno`` when reading failed (the drain then ends);
- control (service → drain): the frames taken so far, after every take; its end (the service
  closed it, or ended) stops the drain.

After a read the drain lets frames gather in the kernel's queue before it looks again, so that
a busy bus costs a wake-up per batch of frames rather than one per frame: it waits as long as
the rate of the last reads takes to bring a quarter of what the socket's receive buffer holds
(:func:`gather_s`, between :data:`GATHER_MIN_S` and :data:`GATHER_MAX_S`).
When the ring is full the drain stops reading, so the kernel queue fills and the kernel drops
and counts as it always does (``SO_RXQ_OVFL``): a loss has one place where it is counted. The
drain ignores SIGINT and SIGTERM: it ends when the service closes the control pipe, after the
service has what it read.
"""

from __future__ import annotations

import array
import ctypes
import errno
import mmap
import os
import select
import signal
import socket
import struct
import sys
import time
from dataclasses import dataclass

CANFD_MTU = 72
_LONG = ctypes.sizeof(ctypes.c_long)
TS_SPACE = socket.CMSG_SPACE(2 * _LONG)
CONTROL = TS_SPACE + socket.CMSG_SPACE(4) + socket.CMSG_SPACE(16)  # room for one more
"""Bytes of control messages one frame may bring: its timestamp, its drop count, one more."""
COUNTER = struct.Struct("=q")
GATHER_MIN_S = 0.0005
"""Shortest wait after a read that emptied the queue (a 1 Mbit/s bus brings at most 11 frames)."""
GATHER_MAX_S = 0.002
"""Longest wait after a read (a 1 Mbit/s bus brings at most 43 frames; a receive buffer of
Debian's default 212,992 bytes holds 277, the default ``rcvbuf`` 28,369)."""
TRUESIZE = 1024
"""Bytes of receive buffer a frame waiting may take (the kernel charged 768, classic and FD)."""
RATE_DECAY = 0.75
"""The rate a wait is sized by falls to at most this share of itself per read: a burst keeps
the waits short for a few reads after it."""
_IN = select.POLLIN | select.POLLERR | select.POLLHUP


class MsgHdr(ctypes.Structure):
    """``struct msghdr``."""

    _fields_ = [
        ("msg_name", ctypes.c_void_p),
        ("msg_namelen", ctypes.c_uint32),
        ("msg_iov", ctypes.c_void_p),
        ("msg_iovlen", ctypes.c_size_t),
        ("msg_control", ctypes.c_void_p),
        ("msg_controllen", ctypes.c_size_t),
        ("msg_flags", ctypes.c_int),
    ]


class MMsgHdr(ctypes.Structure):
    """``struct mmsghdr``."""

    _fields_ = [("msg_hdr", MsgHdr), ("msg_len", ctypes.c_uint)]


class IOVec(ctypes.Structure):
    """``struct iovec``."""

    _fields_ = [("iov_base", ctypes.c_void_p), ("iov_len", ctypes.c_size_t)]


@dataclass(frozen=True)
class Layout:
    """Where the parts of a ring of ``slots`` slots lie in its shared file (byte offsets)."""

    slots: int
    msgs: int
    iovs: int
    frames: int
    control: int
    size: int


def layout(slots: int) -> Layout:
    """The ring of ``slots`` slots: ``mmsghdr`` array, ``iovec`` array, frames, control."""
    iovs = slots * ctypes.sizeof(MMsgHdr)
    frames = iovs + slots * ctypes.sizeof(IOVec)
    control = frames + slots * CANFD_MTU
    end = control + slots * CONTROL
    return Layout(slots, 0, iovs, frames, control, -(-end // mmap.PAGESIZE) * mmap.PAGESIZE)


def point(ring: mmap.mmap, lay: Layout) -> ctypes.Array[MMsgHdr]:
    """Fill the ring's ``mmsghdr`` and ``iovec`` arrays with this process's addresses of each
    slot's buffers (strided word copies, no loop per slot); the ``mmsghdr`` array."""
    base = ctypes.addressof(ctypes.c_char.from_buffer(ring))
    word = ctypes.sizeof(ctypes.c_ulong)  # a pointer's size on Linux
    view = memoryview(ring)

    def column(start: int, end: int, field: object, values: array.array[int]) -> None:
        at = int(getattr(field, "offset")) // word  # noqa: B009 (ctypes field descriptor)
        view[start:end].cast("L")[at :: (end - start) // lay.slots // word] = values

    def steps(first: int, step: int) -> array.array[int]:
        return array.array("L", range(first, first + lay.slots * step, step))

    def same(value: int) -> array.array[int]:
        return array.array("L", [value]) * lay.slots

    column(lay.iovs, lay.frames, IOVec.iov_base, steps(base + lay.frames, CANFD_MTU))
    column(lay.iovs, lay.frames, IOVec.iov_len, same(CANFD_MTU))
    column(lay.msgs, lay.iovs, MsgHdr.msg_iov, steps(base + lay.iovs, ctypes.sizeof(IOVec)))
    column(lay.msgs, lay.iovs, MsgHdr.msg_iovlen, same(1))
    column(lay.msgs, lay.iovs, MsgHdr.msg_control, steps(base + lay.control, CONTROL))
    column(lay.msgs, lay.iovs, MsgHdr.msg_controllen, same(CONTROL))
    return (MMsgHdr * lay.slots).from_buffer(ring, lay.msgs)


def gather_s(frames: int, rate: float) -> float:
    """How long to let frames gather after a read: the time ``frames`` take at ``rate`` frames/s,
    within :data:`GATHER_MIN_S` .. :data:`GATHER_MAX_S`."""
    if rate <= 0:
        return GATHER_MIN_S
    return min(GATHER_MAX_S, max(GATHER_MIN_S, frames / rate))


def _taken(control_fd: int) -> int:
    """The frames the service took so far, from its last count on the control pipe; -1 when the
    pipe ended (the service closed it, or ended)."""
    got = os.read(control_fd, 4096)
    return int(COUNTER.unpack_from(got, len(got) - COUNTER.size)[0]) if got else -1


def drain(sock_fd: int, ring_fd: int, slots: int, notes_fd: int, control_fd: int) -> None:
    """Read ``sock_fd`` into the ring until the control pipe ends (see the module's text)."""
    with socket.socket(fileno=os.dup(sock_fd)) as sock:
        rcvbuf = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    gather = max(1, min(rcvbuf // TRUESIZE, slots) // 4)  # frames to let gather between reads
    lay = layout(slots)
    ring = mmap.mmap(ring_fd, lay.size)
    msgs = point(ring, lay)
    first = ctypes.addressof(msgs)
    size = ctypes.sizeof(MMsgHdr)
    libc = ctypes.CDLL(None, use_errno=True)
    recvmmsg = libc.recvmmsg
    recvmmsg.argtypes = [
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_void_p,
    ]
    recvmmsg.restype = ctypes.c_int
    reading = select.poll()  # when the queue is empty: the socket, and the control pipe
    reading.register(sock_fd, _IN)
    reading.register(control_fd, _IN)
    control = [control_fd]
    written = taken = 0
    rate = 0.0  # frames/s over the last reads, falling by RATE_DECAY per read
    last = time.monotonic()
    nap = 0.0  # how long frames gather before the next read (seconds; 0: read at once)
    os.write(notes_fd, COUNTER.pack(written))  # up
    while True:
        free = slots - (written - taken)
        if nap or not free:  # frames gather, or the ring is full: only the control pipe wakes it
            if select.select(control, (), (), nap if free else None)[0]:
                if (taken := _taken(control_fd)) < 0:
                    return
                free = slots - (written - taken)
            nap = 0.0
            if not free:
                continue
        slot = written % slots
        room = min(free, slots - slot)
        n = recvmmsg(sock_fd, first + slot * size, room, socket.MSG_DONTWAIT, None)
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK):  # the queue is empty: wait for a frame
                for fd, _event in reading.poll():
                    if fd == control_fd and (taken := _taken(control_fd)) < 0:
                        return
                continue
            if err == errno.EINTR:
                continue
            os.write(notes_fd, COUNTER.pack(-err))
            return
        written += n
        os.write(notes_fd, COUNTER.pack(written))
        now = time.monotonic()
        rate = max(n / max(now - last, 1e-6), rate * RATE_DECAY)
        last = now
        if n < gather and n < room:  # the queue is empty: let frames gather, not wake per frame
            nap = gather_s(gather, rate)


def main(argv: list[str]) -> int:
    """``socketcan_drain.py SOCKET_FD RING_FD SLOTS NOTES_FD CONTROL_FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock_fd, ring_fd, slots, notes_fd, control_fd = (int(arg) for arg in argv)
    drain(sock_fd, ring_fd, slots, notes_fd, control_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
