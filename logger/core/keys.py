"""Capture keys: int64 nanoseconds since the Unix epoch, strictly increasing per exchange."""

from __future__ import annotations

import threading
import time


class CaptureClock:
    """Wall-clock nanoseconds, bumped to ``previous + 1`` on a tie or when the clock steps back."""

    def __init__(self, floor_ns: int = 0) -> None:
        self._last = floor_ns
        self._lock = threading.Lock()

    def next(self) -> int:
        now = time.time_ns()
        with self._lock:
            if now <= self._last:
                now = self._last + 1
            self._last = now
            return now

    @property
    def last(self) -> int:
        return self._last
