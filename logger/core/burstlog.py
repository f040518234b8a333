"""Log a repeating problem once per burst, then a summary when the burst is over."""

from __future__ import annotations

import logging
import threading
import time


class BurstLogger:
    """``hit()`` logs the first occurrence; later ones within ``quiet_s`` of each other are counted.

    When an occurrence comes after a quiet period, the count suppressed in the previous burst is
    reported with it, so nothing is hidden but the log is not flooded.
    """

    def __init__(self, logger: logging.Logger, what: str, quiet_s: float = 5.0) -> None:
        self._logger = logger
        self._what = what
        self._quiet_s = quiet_s
        self._last = -1e18
        self._suppressed = 0
        self._lock = threading.Lock()

    def hit(self, detail: str = "") -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self._quiet_s:
                self._suppressed += 1
                self._last = now
                return
            suppressed, self._suppressed, self._last = self._suppressed, 0, now
        tail = f" ({suppressed} more in the previous burst)" if suppressed else ""
        self._logger.warning("%s%s%s", self._what, f": {detail}" if detail else "", tail)
