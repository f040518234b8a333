"""SocketCAN raw-socket options the gateway uses: kernel receive timestamps, the kernel's count
of dropped frames, and the receive buffer.

The receive buffer (a bus's ``rcvbuf``): the bytes of frames the kernel may hold for a socket
that has not read them yet, as ``getsockopt(SO_RCVBUF)`` and ``ss -m`` (``rb``) report it. Every
queued frame is charged its socket buffer's ``truesize`` (:data:`FRAME_TRUESIZE`), and a frame
that arrives while the buffer is full is dropped and counted by the kernel. The kernel doubles
what ``setsockopt`` asks for (for its bookkeeping), so half of ``rcvbuf`` is asked for;
``SO_RCVBUFFORCE`` is tried first (allowed with CAP_NET_ADMIN, e.g. as root), then
``SO_RCVBUF``, which ``net.core.rmem_max`` caps (:func:`configure`).

Kernel drops: with ``SO_RXQ_OVFL`` every frame read carries the socket's drop count so far (a
u32); ``SO_MEMINFO`` reports the same counter at any time (:func:`kernel_drops`).
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from datetime import UTC, datetime

from logger.core.config import MAX_RCVBUF

SO_RCVBUFFORCE = 33
SO_TIMESTAMPNS = 35  # SO_TIMESTAMPNS_OLD: struct timespec of longs, as python-can asks for it
SO_RXQ_OVFL = 40
SO_MEMINFO = 55
SK_MEMINFO_VARS = 9
SK_MEMINFO_DROPS = 8
CAN_MTU, CANFD_MTU = 16, 72
CAN_ID_FLAGS = 0xE0000000
CAN_SFF_MASK = 0x7FF
SATURATED_FPS = 21_277
"""Frames per second on a classic 1 Mbit/s bus full of the shortest frames (47 bits each)."""
FRAME_TRUESIZE = 1024
"""Bytes the kernel charges a socket's receive queue per CAN frame waiting (its socket buffer's
``truesize``), with headroom: ``bench vcan`` measured 768 for classic and for FD frames on
Debian's 6.1 kernel (2026-12-03)."""
DEFAULT_RCVBUF = SATURATED_FPS * FRAME_TRUESIZE
"""A socketcan bus's receive buffer unless its ``rcvbuf`` says otherwise: a second of a
saturated 1 Mbit/s bus (about 21 MB, memory the kernel uses only while frames wait)."""
_MEMINFO = struct.Struct(f"={SK_MEMINFO_VARS}I")


def configure(sock: socket.socket, rcvbuf: int) -> int:
    """Timestamps, drop counts and a receive buffer of ``rcvbuf`` bytes for ``sock``; the
    receive buffer the kernel granted (bytes, as ``getsockopt(SO_RCVBUF)`` reports it)."""
    sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    sock.setsockopt(socket.SOL_SOCKET, SO_RXQ_OVFL, 1)
    ask = max(1, min(rcvbuf, MAX_RCVBUF) // 2)
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, ask)
    except PermissionError:  # no CAP_NET_ADMIN: net.core.rmem_max caps this one
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ask)
    return int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def kernel_drops(sock: socket.socket) -> int:
    """The kernel's count of frames dropped from ``sock``'s receive queue (``SO_MEMINFO``), u32."""
    return meminfo(sock)[1]


def meminfo(sock: socket.socket) -> tuple[int, int]:
    """One ``SO_MEMINFO`` look at ``sock``: (bytes queued, frames dropped so far)."""
    info = _MEMINFO.unpack_from(sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size))
    return int(info[0]), int(info[SK_MEMINFO_DROPS])


def queued_bytes(sock: socket.socket) -> int:
    """Bytes the kernel charges ``sock``'s receive queue for the frames waiting in it (the sum of
    their ``truesize``; ``SO_MEMINFO`` ``rmem_alloc``)."""
    info = sock.getsockopt(socket.SOL_SOCKET, SO_MEMINFO, _MEMINFO.size)
    return int(_MEMINFO.unpack_from(info)[0])


@dataclass(frozen=True)
class KernelDrop:
    """Frames the kernel dropped, and where: between the kernel times (ns) of the last frame read
    before them (None: none was read on this socket) and the first read after them (None: none
    yet)."""

    frames: int
    after_ns: int | None
    before_ns: int | None

    def where(self) -> str:
        """Where the frames were lost, in words (kernel times in UTC)."""
        after, before = _utc(self.after_ns), _utc(self.before_ns)
        if after and before:
            return f"between the frames read at {after} and {before}"
        if after:
            return f"after the frame read at {after}"
        return f"before the frame read at {before}" if before else "before any frame was read"


def _utc(ns: int | None) -> str | None:
    if ns is None:
        return None
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="microseconds")
