"""The service's side of the drain (:mod:`hw.socketcan_drain`): the shared ring of frame slots,
seen through numpy, and the drain process it starts, stops and takes frames from.

Also here: the numpy views of the slots' C structures (:data:`FRAME`, :data:`CTRL`,
:data:`MMSG`, :data:`IOV`) that :class:`hw.socketcan_reader.SocketcanReader` reads frames with.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import mmap
import os
import select
import socket
import struct
import subprocess
import sys
import time
from typing import Any

import numpy as np
import numpy.typing as npt

from canp.wire import MAX_DATA
from hw import socketcan_drain
from hw.socketcan_drain import CANFD_MTU, CONTROL, COUNTER, TS_SPACE, MMsgHdr, MsgHdr, layout

RING_SLOTS = 4096
"""Frames the drain may hold for the service (about 1 MB shared: 240 bytes a slot): a third of a
second of a saturated 1 Mbit/s bus on top of the kernel's receive buffer."""
TICK_S = 0.002
"""Shortest nap of a reader waiting for more frames than the drain has (seconds)."""
RATE_WINDOW_S = 0.05
"""The rate naps are sized by is the rate since at most about this long ago (seconds)."""
NAP_MAX_S = 0.01
"""Longest nap of a reader waiting for more frames than the drain has (seconds): the frames a
burst of 100,000 frames/s brings meanwhile fill a quarter of the ring."""
UP_S = 60.0
"""Longest a drain may take to start (a slow machine, busy)."""
STOP_S = 5.0
"""Longest the service waits for the drain to end once told to."""

_SIZE_T = struct.calcsize("N")
_LONG = struct.calcsize("l")
_CMSG_HDR = socket.CMSG_LEN(0)
_CMSG_OVFL = (f"=u{_SIZE_T}", "=i4", "=i4", "=u4")
_AT_OVFL = (TS_SPACE, TS_SPACE + _SIZE_T, TS_SPACE + _SIZE_T + 4, TS_SPACE + _CMSG_HDR)
_POLL_MASK = select.POLLIN | select.POLLERR | select.POLLHUP
_NOTES_READ = 8 * 1024

#: One received frame (struct can_frame / struct canfd_frame, host byte order).
FRAME = np.dtype(
    {
        "names": ["can_id", "len", "flags", "data"],
        "formats": ["=u4", "u1", "u1", ("u1", (MAX_DATA,))],
        "offsets": [0, 4, 5, 8],
        "itemsize": CANFD_MTU,
    }
)
#: One frame's control messages: the timestamp first, then the drop count when there is one.
CTRL = np.dtype(
    {
        "names": ["len0", "level0", "type0", "sec", "nsec", "len1", "level1", "type1", "drops"],
        "formats": [f"=u{_SIZE_T}", "=i4", "=i4", f"=i{_LONG}", f"=i{_LONG}", *_CMSG_OVFL],
        "offsets": [0, _SIZE_T, _SIZE_T + 4, _CMSG_HDR, _CMSG_HDR + _LONG, *_AT_OVFL],
        "itemsize": CONTROL,
    }
)


def _offset(field: Any) -> int:
    return int(field.offset)


#: ``struct mmsghdr``: the fields the readers set or read.
MMSG = np.dtype(
    {
        "names": ["iov", "iovlen", "control", "controllen", "flags", "len"],
        "formats": [f"=u{_SIZE_T}"] * 4 + ["=i4", "=u4"],
        "offsets": [
            _offset(MsgHdr.msg_iov),
            _offset(MsgHdr.msg_iovlen),
            _offset(MsgHdr.msg_control),
            _offset(MsgHdr.msg_controllen),
            _offset(MsgHdr.msg_flags),
            _offset(MMsgHdr.msg_len),
        ],
        "itemsize": ctypes.sizeof(MMsgHdr),
    }
)
#: ``struct iovec``.
IOV = np.dtype({"names": ["base", "len"], "formats": [f"=u{_SIZE_T}"] * 2, "itemsize": 2 * _SIZE_T})


class DrainRing:
    """A drain process reading ``sock`` into a ring of ``slots`` frames, and the frames it read
    that were not taken yet (slots ``taken .. written``, counted from the start).

    :meth:`wait` waits for frames, :meth:`take` copies them out and gives their slots back,
    :meth:`stop` ends the drain (what it read stays to be taken), :meth:`close` frees the ring.
    A failed read, or a drain that ended by itself, is raised by :meth:`take` as :class:`OSError`
    once every frame read before it was taken.
    """

    def __init__(self, sock: socket.socket, slots: int = RING_SLOTS) -> None:
        lay = layout(slots)
        self.slots = slots
        ring_fd = os.memfd_create("sdvlog-socketcan-ring", os.MFD_CLOEXEC)
        notes_r, notes_w = os.pipe()
        control_r, control_w = os.pipe()
        try:
            os.ftruncate(ring_fd, lay.size)
            self._ring = mmap.mmap(ring_fd, lay.size)
            fds = (sock.fileno(), ring_fd, notes_w, control_r)
            args = [str(fds[0]), str(ring_fd), str(slots), str(notes_w), str(control_r)]
            self._proc = subprocess.Popen(
                [sys.executable, "-I", "-S", socketcan_drain.__file__, *args],
                pass_fds=fds,
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            for fd in (notes_r, control_w):
                os.close(fd)
            raise
        finally:
            for fd in (ring_fd, notes_w, control_r):
                os.close(fd)
        self._notes, self._control = notes_r, control_w
        os.set_blocking(notes_r, False)
        raw = np.frombuffer(self._ring, np.uint8)
        self.msgs: npt.NDArray[Any] = raw[lay.msgs : lay.iovs].view(MMSG)
        self.frames: npt.NDArray[Any] = raw[lay.frames : lay.control].view(FRAME)
        self.control: npt.NDArray[Any] = raw[lay.control : lay.control + slots * CONTROL].view(CTRL)
        self._sizes, self._controllen = self.msgs["len"], self.msgs["controllen"]
        self.written = self.taken = 0
        self._rate_from = (time.monotonic(), 0)  # (when, written): the rate naps are sized by
        self.up = False  # the drain said it is up
        self.failure: OSError | None = None
        self.stopped = False
        self._ended = False  # the notes pipe is at its end
        self._poll = select.poll()
        self._poll.register(notes_r, _POLL_MASK)

    def wait_up(self, timeout: float = UP_S) -> None:
        """Wait until the drain is reading; :class:`OSError` when it ended or is not up in time."""
        deadline = time.monotonic() + timeout
        while not self.up and self.failure is None:
            left = deadline - time.monotonic()
            if left <= 0:
                self.close()
                raise OSError(errno.ETIMEDOUT, f"the socketcan drain was not up in {timeout:g} s")
            self._poll.poll(max(1, int(left * 1000)))
            self._read_notes()
        if self.failure is not None:
            failure = self.failure
            self.close()
            raise failure

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def waiting(self) -> int:
        """Frames read and not taken yet."""
        return self.written - self.taken

    def wait(self, timeout: float, want: int = 1) -> bool:
        """Wait up to ``timeout`` s for ``want`` frames (or the drain's end); whether there are
        any. The first frame is waited for on the drain's notes; more than that, in naps as
        long as the frames missing take at the rate they came at (:data:`TICK_S` ..
        :data:`NAP_MAX_S`), so that a fast drain does not wake this thread for every frame."""
        start = time.monotonic()
        deadline = start + timeout
        self._read_notes()
        while self.waiting < want and self.failure is None and not self._ended:
            now = time.monotonic()
            left = deadline - now
            if left <= 0:
                break
            if self.waiting:
                when, written = self._rate_from
                since = self.written - written
                nap = (want - self.waiting) * (now - when) / since if since else 0.0
                time.sleep(min(left, NAP_MAX_S, max(TICK_S, nap)))
                if now - when > RATE_WINDOW_S:
                    self._rate_from = (now, self.written)
            elif self._poll.poll(max(0, int(left * 1000 + 0.999))):
                self._rate_from = (time.monotonic(), self.written)  # the first frame's note
            else:
                break
            self._read_notes()
        return bool(self.waiting) or self.failure is not None

    def take(
        self,
        frames: npt.NDArray[Any],
        control: npt.NDArray[Any],
        sizes: npt.NDArray[Any],
        controllen: npt.NDArray[Any],
        start: int,
        room: int,
    ) -> int:
        """Copy up to ``room`` frames into slots ``start ..`` of ``frames``, ``control``,
        ``sizes`` (bytes read) and ``controllen`` (control bytes) and give their ring slots back;
        how many."""
        self._read_notes()
        n = min(self.waiting, max(room, 0))
        if not n:
            if self.failure is not None and not self.waiting:
                raise self.failure
            return 0
        at = self.taken % self.slots
        first = min(n, self.slots - at)
        for src, dst, k in ((at, start, first), (0, start + first, n - first)):
            if k:
                frames[dst : dst + k] = self.frames[src : src + k]
                control[dst : dst + k] = self.control[src : src + k]
                sizes[dst : dst + k] = self._sizes[src : src + k]
                controllen[dst : dst + k] = self._controllen[src : src + k]
                self._controllen[src : src + k] = CONTROL
        self.taken += n
        if not self.stopped:
            with contextlib.suppress(BrokenPipeError):  # the drain ended: its notes say why
                os.write(self._control, COUNTER.pack(self.taken))
        return n

    def stop(self) -> None:
        """End the drain; the frames it read stay to be taken."""
        if self.stopped:
            return
        self.stopped = True
        os.close(self._control)
        try:
            self._proc.wait(STOP_S)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._read_notes()

    def close(self) -> None:
        """Stop the drain and free the ring (frames not taken are gone)."""
        if self._ring.closed:
            return
        self.stop()
        os.close(self._notes)
        del self.msgs, self.frames, self.control, self._sizes, self._controllen
        self._ring.close()

    def refresh(self) -> None:
        """Learn what the drain read so far (:attr:`waiting`), without waiting."""
        self._read_notes()

    def _read_notes(self) -> None:
        """Every note the drain wrote so far: the last count of frames written, and its failure
        (a failure is its last note)."""
        while not self._ended:
            try:
                got = os.read(self._notes, _NOTES_READ)
            except BlockingIOError:
                return
            if not got:
                self._end()
                return
            notes = len(got) // COUNTER.size
            for i in range(max(0, notes - 2), notes):  # counts only grow: the last two say all
                value = COUNTER.unpack_from(got, i * COUNTER.size)[0]
                if value < 0:
                    self.failure = OSError(-value, f"recvmmsg: {os.strerror(-value)}")
                else:
                    self.written, self.up = value, True
            if len(got) < _NOTES_READ:
                return  # the pipe is empty now: no second read to learn that

    def _end(self) -> None:
        self._ended = True
        if self.failure is None and not self.stopped:
            code = self._proc.wait()
            how = f"killed by signal {-code}" if code < 0 else f"exit status {code}"
            self.failure = OSError(errno.EPIPE, f"the socketcan drain process ended ({how})")
