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

After a read that emptied the kernel's queue the drain waits half a millisecond before it looks
again (:data:`COALESCE_S`), so that a busy bus does not wake it once per frame.
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
COALESCE_S = 0.0005
"""After a read that emptied the queue with fewer than :data:`COALESCE_FRAMES` frames, the
drain waits this long before it looks again, so that a busy bus costs one wake-up per half
millisecond rather than one per frame (a 1 Mbit/s bus brings at most 11 frames in that time; a
receive buffer of Debian's default 212,992 bytes holds 277)."""
COALESCE_FRAMES = 16
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


def drain(sock_fd: int, ring_fd: int, slots: int, notes_fd: int, control_fd: int) -> None:
    """Read ``sock_fd`` into the ring until the control pipe ends (see the module's text)."""
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
    reading, waiting = select.poll(), select.poll()
    reading.register(sock_fd, _IN)
    reading.register(control_fd, _IN)
    waiting.register(control_fd, _IN)
    written = taken = 0
    os.write(notes_fd, COUNTER.pack(written))  # up
    while True:
        free = slots - (written - taken)
        for fd, _event in (reading if free else waiting).poll():
            if fd == control_fd:
                got = os.read(control_fd, 4096)
                if not got:
                    return
                taken = COUNTER.unpack_from(got, len(got) - COUNTER.size)[0]
        free = slots - (written - taken)
        if not free:
            continue
        slot = written % slots
        n = recvmmsg(
            sock_fd, first + slot * size, min(free, slots - slot), socket.MSG_DONTWAIT, None
        )
        if n < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                continue
            os.write(notes_fd, COUNTER.pack(-err))
            return
        written += n
        os.write(notes_fd, COUNTER.pack(written))
        if n < COALESCE_FRAMES:  # the queue is empty: let frames gather rather than wake per frame
            time.sleep(COALESCE_S)


def main(argv: list[str]) -> int:
    """``socketcan_drain.py SOCKET_FD RING_FD SLOTS NOTES_FD CONTROL_FD``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock_fd, ring_fd, slots, notes_fd, control_fd = (int(arg) for arg in argv)
    drain(sock_fd, ring_fd, slots, notes_fd, control_fd)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
