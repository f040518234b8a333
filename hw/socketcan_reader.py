"""SocketCAN raw sockets read in bulk: every frame waiting, in one system call, with the kernel's
receive timestamps and the kernel's count of frames it dropped.

python-can's ``SocketcanBus`` opens and binds the socket (its public ``socket``); the gateway
reads it here instead of calling ``recv()`` once per frame:

- :func:`hw.socketcan_socket.configure` asks the kernel for nanosecond receive timestamps
  (``SO_TIMESTAMPNS``), for its drop count with every frame (``SO_RXQ_OVFL``) and for a receive
  buffer of ``rcvbuf`` bytes.
- :class:`SocketcanReader` holds one batch of frames in preallocated slots (frame buffers,
  control-message buffers and the ``mmsghdr`` array are allocated once). :meth:`~SocketcanReader.wait`
  polls the socket; :meth:`~SocketcanReader.receive` moves every frame waiting, up to the free
  slots, into them with one ``recvmmsg(2)`` call (``MSG_DONTWAIT``), and derives the frames' CANP
  columns and bus bits with numpy; :meth:`~SocketcanReader.payload` encodes the held frames as one
  CANP payload (:func:`canp.wire.encode_frames`). No Python object is made per frame.

Frames are mapped as python-can's socketcan interface maps them: a 72-byte read is CAN FD (its
BRS and ESI flags kept, its length rounded up to a valid FD length), a 16-byte read classic CAN
(FD flags cleared); the id keeps the EFF / RTR / ERR flags, with 29 bits for an extended id and
11 otherwise; a remote frame carries no data. Timestamps are the kernel's receive times (ns).

Kernel drops: the count comes with every frame read after a drop, so a loss is placed between
the kernel times of the frames read around it (:class:`KernelDrop`); frames dropped after the
last frame read are found from ``SO_MEMINFO`` (the same counter) by
:meth:`~SocketcanReader.check_drops`, which the gateway calls when the bus is idle and before it
closes the socket.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import logging
import os
import select
import socket
import struct
import time
from collections.abc import Callable, Iterator

import numpy as np
import numpy.typing as npt

from canp.wire import encode_frames
from hw.socketcan_drain import CONTROL, TS_SPACE
from hw.socketcan_kinds import kind_keys, kinds
from hw.socketcan_ring import CTRL, FRAME, IOV, MMSG, RING_SLOTS, DrainRing
from hw.socketcan_socket import (
    SO_RXQ_OVFL,
    SO_TIMESTAMPNS,
    KernelDrop,
    configure,
    kernel_drops,
    meminfo,
)
from logger.core.config import MAX_RCVBUF

_log = logging.getLogger(__name__)

_U32 = 1 << 32
_LONG = ctypes.sizeof(ctypes.c_long)
_CMSG_HDR = socket.CMSG_LEN(0)
_TS_LEN = socket.CMSG_LEN(2 * _LONG)
_OVFL_LEN = socket.CMSG_LEN(4)
_POLL_MASK = select.POLLIN | select.POLLERR | select.POLLHUP
#: A timestamp's control message header (length, then level and type) as two 8-byte words.
_TS_HEAD = np.array([_TS_LEN, socket.SOL_SOCKET | SO_TIMESTAMPNS << 32], np.int64)
_CMSG_HEAD = struct.Struct("@Nii")
_TIMESPEC = struct.Struct("@2l")
_U32_VALUE = struct.Struct("=I")


@functools.cache
def _recvmmsg() -> Callable[..., int]:
    libc = ctypes.CDLL(None, use_errno=True)
    call = libc.recvmmsg
    call.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_void_p]
    call.restype = ctypes.c_int
    return call


def control_messages(buf: memoryview, length: int) -> Iterator[tuple[int, int, memoryview]]:
    """``(level, type, data)`` of each control message in the first ``length`` bytes of ``buf``."""
    pos = 0
    while pos + _CMSG_HDR <= length:
        size, level, kind = _CMSG_HEAD.unpack_from(buf, pos)
        if size < _CMSG_HDR or pos + size > length:
            return
        yield level, kind, buf[pos + _CMSG_HDR : pos + size]
        pos += socket.CMSG_SPACE(size - _CMSG_HDR)


class SocketcanReader:
    """One batch of up to ``capacity`` frames read from a SocketCAN raw socket in bulk.

    The held frames are slots ``0 .. count``; :meth:`receive` reads into the slots after them and
    leaves those frames *pending* until :meth:`keep` adds some of them to the batch.
    ``kernel_dropped`` counts the frames the kernel dropped over every socket attached.
    """

    def __init__(self, capacity: int, *, drain_slots: int | None = RING_SLOTS) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be at least 1, got {capacity}")
        self.capacity = capacity
        self._frames = np.zeros(capacity, FRAME)
        self._control = np.zeros(capacity, CTRL)
        self._iov = np.zeros(capacity, IOV)
        self._msgs = np.zeros(capacity, MMSG)
        slots = np.arange(capacity, dtype=np.uint64)
        self._iov["base"] = self._frames.ctypes.data + slots * FRAME.itemsize
        self._iov["len"] = FRAME.itemsize
        self._msgs["iov"] = self._iov.ctypes.data + slots * IOV.itemsize
        self._msgs["iovlen"] = 1
        self._msgs["control"] = self._control.ctypes.data + slots * CTRL.itemsize
        self._controllen = self._msgs["controllen"]
        self._sizes = self._msgs["len"]
        self._raw_id = self._frames["can_id"]
        self._words = self._frames.view(np.uint64).reshape(capacity, -1)[:, 0]  # each's header
        self._kinds = kinds()
        self._control_bytes = memoryview(self._control.view(np.uint8).data)
        self._control_words = self._control.view(np.int64).reshape(capacity, -1)[:, :4]
        # The held and pending frames as CANP has them.
        self.can_id = np.zeros(capacity, np.uint32)
        self.flags = np.zeros(capacity, np.uint8)
        self.lengths = np.zeros(capacity, np.int64)
        self.count = 0
        self.pending = 0
        self.bits = (0, 0)  # the pending frames' bits at the nominal and at the data bit rate
        self.kernel_dropped = 0
        self.last_drop: KernelDrop | None = None
        self._sock: socket.socket | None = None
        self._fd = -1
        self._poll = select.poll()
        self._drops_raw = 0  # the attached socket's drop counter, as last counted
        self._placed_raw = 0  # the drop counter as the frames read last carried it
        self._drain_slots = drain_slots
        self._ring: DrainRing | None = None
        self._last_ts: int | None = None  # kernel time of the last frame read on this socket

    # ---- the socket ---------------------------------------------------------------------------
    def attach(self, sock: socket.socket, rcvbuf: int, where: str, *, quiet: bool = False) -> int:
        """Read ``sock`` from now on (:func:`configure` with ``rcvbuf``; returns once its drain is
        up, :class:`OSError` when the drain cannot start); the receive buffer the kernel granted,
        logged as ``where``'s (at debug level when ``quiet``), with a warning when it is smaller
        than asked. Frames held from the socket before are dropped: flush first."""
        granted = configure(sock, rcvbuf)
        if granted < min(rcvbuf, MAX_RCVBUF) // 2 * 2:
            _log.warning(
                "%s: receive buffer %d bytes, asked for %d: raise net.core.rmem_max, or run with "
                "CAP_NET_ADMIN (as root) to allow SO_RCVBUFFORCE",
                where,
                granted,
                rcvbuf,
            )
        else:
            (_log.debug if quiet else _log.info)("%s: receive buffer %d bytes", where, granted)
        self._let_go()
        self.count = self.pending = 0
        self._drops_raw = self._placed_raw = kernel_drops(sock)
        self._last_ts = None
        if self._drain_slots:
            ring = DrainRing(sock, self._drain_slots)
            ring.wait_up()
            self._ring = ring
        else:
            self._poll.register(sock.fileno(), _POLL_MASK)
        self._sock, self._fd = sock, sock.fileno()
        return granted

    @property
    def drain_pid(self) -> int | None:
        """The process id of the drain reading the socket (None: read in this process)."""
        return self._ring.pid if self._ring is not None else None

    @property
    def read_ahead(self) -> int:
        """Frames the drain read from the socket that :meth:`receive` has not taken yet."""
        return self._ring.waiting if self._ring is not None else 0

    def stop_reading(self) -> None:
        """Read no more from the socket: what was read stays for :meth:`receive`."""
        if self._ring is not None:
            self._ring.stop()

    def detach(self) -> None:
        """Stop reading the socket (counting the drops it reports last); the caller closes it."""
        if self._sock is None:
            return
        self.stop_reading()
        with contextlib.suppress(OSError, struct.error):  # closed, or a short SO_MEMINFO
            self.check_drops(closing=True)
        self._let_go()

    def _let_go(self) -> None:
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        elif self._fd >= 0:
            self._poll.unregister(self._fd)
        self._sock, self._fd = None, -1

    def wait(self, timeout: float, *, fill: bool = False) -> bool:
        """Wait up to ``timeout`` s for frames (or an error) on the socket; whether any came.
        With a drain and frames held (or ``fill``), up to ``timeout`` for enough frames to fill
        the batch."""
        if self._ring is not None:
            full = fill or self.count
            return self._ring.wait(timeout, self.capacity - self.count if full else 1)
        return bool(self._poll.poll(max(0, int(timeout * 1000 + 0.999))))

    def receive(self) -> int:
        """Every frame waiting, up to the free slots, into the slots after the held frames,
        without waiting; how many (now pending). A failed read raises :class:`OSError`
        (``ENETDOWN``: the interface went down)."""
        start = self.count
        room = self.capacity - start
        self.pending = 0
        if room <= 0 or self._fd < 0:
            return 0
        if self._ring is not None:
            got = self._ring.take(
                self._frames, self._control, self._sizes, self._controllen, start, room
            )
            if got:
                self._columns(start, start + got)
                self.pending = got
            return got
        self._controllen[start:] = CONTROL
        address = self._msgs.ctypes.data + start * MMSG.itemsize
        got = _recvmmsg()(self._fd, address, room, socket.MSG_DONTWAIT, None)
        if got < 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.EWOULDBLOCK, errno.EINTR):
                return 0
            raise OSError(err, f"recvmmsg: {os.strerror(err)}")
        if got:
            self._columns(start, start + got)
            self.pending = got
        return got

    def keep(self, frames: int) -> None:
        """Add the first ``frames`` pending frames to the batch; the rest are dropped."""
        self.count += min(max(frames, 0), self.pending)
        self.pending = 0

    def check_drops(self, *, closing: bool = False) -> KernelDrop | None:
        """Frames the kernel dropped after the last frame read (``SO_MEMINFO``), when none is
        waiting (or when ``closing``): frames still waiting report drops before them themselves,
        placed between frames."""
        if self._sock is None:
            return None
        queued, drops = meminfo(self._sock)
        if self._ring is not None:
            self._ring.refresh()  # frames the drain read before that look: they come first
            queued += self._ring.waiting
        if queued and not closing:
            return None
        return self._dropped(drops, self._last_ts, None)

    # ---- the batch ------------------------------------------------------------------------------
    def payload(self) -> bytes:
        """The held frames as one CANP payload; the batch is empty afterwards."""
        n = self.count
        payload = encode_frames(
            self._timestamps(n),
            self.can_id[:n],
            self.flags[:n],
            self.lengths[:n],
            self._frames["data"][:n],
        )
        self.count = 0
        return payload

    def _columns(self, start: int, end: int) -> None:
        """The CANP id, flags and length and the bus bits of the frames in slots start..end."""
        kind = self._kinds.take(kind_keys(self._words[start:end], self._sizes[start:end]))
        np.bitwise_and(self._raw_id[start:end], kind["keep"], out=self.can_id[start:end])
        self.flags[start:end] = kind["flags"]
        self.lengths[start:end] = kind["len"]
        self.bits = int(kind["nominal"].sum()), int(kind["data"].sum())
        last = end - 1
        self._note_drops(start, end, self._control_drops(last))
        self._last_ts = self._timestamp_of(last)

    # ---- control messages -------------------------------------------------------------------------
    def _slot_control(self, slot: int) -> Iterator[tuple[int, int, memoryview]]:
        base = slot * CONTROL
        length = min(int(self._controllen[slot]), CONTROL)
        return control_messages(self._control_bytes[base : base + CONTROL], length)

    def _control_drops(self, slot: int) -> int | None:
        for level, kind, data in self._slot_control(slot):
            if level == socket.SOL_SOCKET and kind == SO_RXQ_OVFL and len(data) >= 4:
                return int(_U32_VALUE.unpack_from(data)[0])
        return None

    def _timestamp_of(self, slot: int) -> int | None:
        for level, kind, data in self._slot_control(slot):
            if (
                level == socket.SOL_SOCKET
                and kind == SO_TIMESTAMPNS
                and len(data) >= _TIMESPEC.size
            ):
                sec, nsec = _TIMESPEC.unpack_from(data)
                return int(sec) * 1_000_000_000 + int(nsec)
        return None

    def _timestamps(self, n: int) -> npt.NDArray[np.int64]:
        """Kernel receive times (ns) of the first ``n`` slots: from the fixed layout when every
        slot has it (always, with the options :func:`configure` sets), else slot by slot."""
        words = self._control_words[:n]  # the first control message: header, sec, nsec
        if (words[:, :2] == _TS_HEAD).all():
            ts: npt.NDArray[np.int64] = words[:, 2] * 1_000_000_000
            ts += words[:, 3]
            return ts
        found = [self._timestamp_of(slot) for slot in range(n)]
        now = time.time_ns()  # a frame without its kernel time (never seen): the time it is sent
        return np.array([now if ts is None else ts for ts in found], np.int64)

    def _note_drops(self, start: int, end: int, raw: int | None) -> None:
        """Count what the drop counter of the last slot read reports, placed between frames.

        A loss ``SO_MEMINFO`` counted before these frames came (:meth:`check_drops`) is placed
        again here, between the frames around it, without counting it twice."""
        placed = self._placed_raw
        new = (raw - placed) % _U32 if raw is not None else 0
        if raw is None or new == 0 or new >= _U32 // 2:
            return
        ctrl = self._control[start:end]
        reported = (
            (self._controllen[start:end] >= TS_SPACE + _OVFL_LEN)
            & (ctrl["level1"] == socket.SOL_SOCKET)
            & (ctrl["type1"] == SO_RXQ_OVFL)
        )
        counts = np.where(reported, ctrl["drops"], placed)
        changed = np.flatnonzero(counts != placed)
        first = start + (int(changed[0]) if changed.size else end - 1 - start)
        after = self._last_ts if first == start else self._timestamp_of(first - 1)
        before = self._timestamp_of(first)
        self._placed_raw = raw
        if self._dropped(raw, after, before) is None:
            self.last_drop = KernelDrop(new, after, before)

    def _dropped(self, raw: int, after: int | None, before: int | None) -> KernelDrop | None:
        """Apply the drop counter's value ``raw`` (u32, never going back); the new drops."""
        new = (raw - self._drops_raw) % _U32
        if new == 0 or new >= _U32 // 2:  # unchanged, or an older frame's count
            return None
        self._drops_raw = raw
        self.kernel_dropped += new
        self.last_drop = KernelDrop(new, after, before)
        return self.last_drop
