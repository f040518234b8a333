"""``max_bandwidth``: a rate shared by every upload, and a file body that keeps to it."""

from __future__ import annotations

import io
import threading
import time
from pathlib import Path

__all__ = ["Throttle", "ThrottledFile"]

_CHUNK = 64 << 10


class Throttle:
    """Bytes per second at most, on average over every caller: ``take(n)`` waits its turn."""

    def __init__(self, rate: int, stop: threading.Event) -> None:
        self.rate = rate
        self._stop = stop
        self._lock = threading.Lock()
        self._next = time.monotonic()

    def take(self, n: int) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + n / self.rate
        if start > now:
            self._stop.wait(start - now)


class ThrottledFile(io.FileIO):
    """A file read at most ``_CHUNK`` bytes a time, each chunk paid for to the throttle."""

    def __init__(self, path: Path, throttle: Throttle) -> None:
        super().__init__(path, "rb")
        self._throttle = throttle

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return self.readall()
        data = super().read(min(size, _CHUNK))
        if data:
            self._throttle.take(len(data))
        return data or b""

    def readall(self) -> bytes:
        parts = []
        while chunk := self.read(_CHUNK):
            parts.append(chunk)
        return b"".join(parts)
