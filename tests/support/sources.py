"""A message source fed by the test itself (:class:`logger.capture.source.MessageSource`), for
capture tests where the broker is not what is being tested."""

from __future__ import annotations

import threading
from collections.abc import Callable

from logger.capture.source import Delivery
from logger.core.errors import BrokerError


class MemorySource:
    """Delivers what :meth:`send` is given, on the caller's thread; records acknowledgements."""

    def __init__(self, *, manual_ack: bool = False) -> None:
        self.manual_ack = manual_ack
        self.subscribed = threading.Event()
        self.failure: BrokerError | None = None
        self.acked: list[int] = []
        self.stopped = False
        self._deliver: Callable[[Delivery], None] | None = None
        self._lock = threading.Lock()

    def start(self, deliver: Callable[[Delivery], None]) -> None:
        self._deliver = deliver
        self.subscribed.set()

    def send(self, *deliveries: Delivery) -> None:
        assert self._deliver is not None, "not started"
        for d in deliveries:
            self._deliver(d)

    def ack(self, mid: int) -> None:
        with self._lock:
            self.acked.append(mid)

    def stop(self) -> None:
        self.stopped = True
        self.subscribed.clear()

    def stats(self) -> dict[str, object]:
        return {"connected": self.subscribed.is_set()}
