"""A SocketCAN bus's kernel side, as its reader thread sees it: the bulk reader on the socket
python-can opened, the receive buffer the kernel granted, and the frames the kernel dropped
because that buffer was full (counted, and logged once per burst with the kernel times between
which they were lost)."""

from __future__ import annotations

import logging
import socket

from hw.socketcan_reader import SocketcanReader
from hw.socketcan_socket import DEFAULT_RCVBUF, KernelDrop
from logger.core.burstlog import BurstLogger

__all__ = ["KernelIntake"]

_log = logging.getLogger(__name__)


class KernelIntake:
    """One bus's :class:`SocketcanReader`, made at the first attach and kept across reopens."""

    def __init__(self, where: str, batch_frames: int, rcvbuf: int | None) -> None:
        self.where = where
        self._batch_frames = batch_frames
        self._wanted = rcvbuf or DEFAULT_RCVBUF
        self.reader: SocketcanReader | None = None
        self.rcvbuf: int | None = None  # the socket's receive buffer as the kernel granted it
        self.dropped = 0  # frames the kernel dropped, as counted so far
        self._log = BurstLogger(
            _log, f"{where}: the kernel dropped frames: the socket's receive buffer was full"
        )

    @property
    def last_drop(self) -> KernelDrop | None:
        return self.reader.last_drop if self.reader is not None else None

    def attach(self, sock: socket.socket) -> SocketcanReader:
        """Read ``sock`` in bulk (its receive buffer set; said once, not at every reopen)."""
        reader = self.reader
        if reader is None:
            reader = self.reader = SocketcanReader(self._batch_frames)
        self.rcvbuf = reader.attach(sock, self._wanted, self.where, quiet=self.rcvbuf is not None)
        return reader

    def detach(self) -> None:
        """Let the socket go (the bus is closing), counting what the kernel dropped last."""
        if self.reader is not None:
            self.reader.detach()
            self.count_drops()

    def count_drops(self) -> None:
        """Count (and log, once per burst) the frames the kernel dropped since the last look."""
        reader = self.reader
        if reader is None or reader.kernel_dropped == self.dropped:
            return
        new, self.dropped = reader.kernel_dropped - self.dropped, reader.kernel_dropped
        drop = reader.last_drop
        self._log.hit(
            f"{new} frames {drop.where() if drop else ''} ({self.dropped} in all; "
            f"receive buffer {self.rcvbuf} bytes)"
        )
