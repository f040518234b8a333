"""The Ringbus: a bounded in-memory buffer of captured messages, handed to the writer in batches.

A batch leaves the ring when the ring is full (per ``full_op``), when its oldest message is
``flush_ms`` old, when the broker's window of un-acknowledged messages is nearly used up, and on
shutdown. The ring and the writer share one lock, so that a query's snapshot of "ring + batches
being written + files" is taken at one instant: no gap and no duplicate.
"""

from __future__ import annotations

import enum
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from logger.burstlog import BurstLogger
from logger.config import FullOp, RingbusConfig
from logger.message import MessageBatch

log = logging.getLogger(__name__)
NO_MID = -1


class FlushReason(enum.StrEnum):
    FULL = "full"
    AGE = "age"
    WINDOW = "window"
    SHUTDOWN = "shutdown"


@dataclass(eq=False)
class PendingBatch:
    """A batch on its way to disk; ``mids`` / ``hashes`` are the QoS 1 messages to acknowledge."""

    batch: MessageBatch
    mids: list[int]
    hashes: list[int]
    reason: FlushReason
    done: threading.Event = field(default_factory=threading.Event)


class BatchSink(Protocol):
    """Where the ring hands batches (the writer). ``submit`` and ``unacked`` run under the shared lock."""

    def submit(self, batch: PendingBatch) -> None: ...

    def unacked(self) -> int: ...

    def wait(self, batch: PendingBatch) -> None: ...

    def discard(self, mids: list[int]) -> None: ...


@dataclass
class RingCounters:
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    flushed_batches: Counter[str] = field(default_factory=Counter)
    flushed_messages: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "dropped": dict(self.dropped),
            "flushed_batches": dict(self.flushed_batches),
            "flushed_messages": self.flushed_messages,
        }


class Ringbus:
    """Bounded buffer of ``cfg.cap`` messages; thread-safe; flushes by size, age, window, shutdown."""

    def __init__(
        self,
        cfg: RingbusConfig,
        sink: BatchSink,
        lock: threading.Condition,
        window: int | None = None,
        name: str = "ringbus",
    ) -> None:
        self.cfg = cfg
        self.counters = RingCounters()
        self._sink = sink
        self._cond = lock
        self._name = name
        self._window = window
        self._window_trigger = int(window * 0.9) if window else None
        self._window_min = max(1, window - int(window * 0.9)) if window else 1
        self._keys: list[int] = []
        self._topics: list[str] = []
        self._payloads: list[bytes] = []
        self._mids: list[int] = []
        self._hashes: list[int] = []
        self._unacked = 0
        self._oldest = 0.0
        self._newest = 0.0
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._drop_log = BurstLogger(log, f"{name}: ring full, messages dropped")
        self._age_counts: list[int] = []
        self._warned_window = False
        full: dict[FullOp, Callable[[], PendingBatch | None]] = {
            FullOp.NONE: self._full_reject,
            FullOp.DROP: self._full_drop,
            FullOp.RETURN: self._full_return,
            FullOp.FILE: self._full_return,
        }
        self._on_full = full[cfg.full_op]

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def unacked(self) -> int:
        """QoS 1 messages in the ring (not yet handed to the writer)."""
        return self._unacked

    def push(
        self, key: int, topic: str, payload: bytes, mid: int = NO_MID, digest: int = 0
    ) -> bool:
        """Add one message; returns False when ``full_op = none`` rejected it."""
        with self._cond:
            full = len(self._keys) >= self.cfg.cap
            wait_for = self._on_full() if full else None
            rejected = full and self.cfg.full_op is FullOp.NONE
            if not rejected:
                self._append(key, topic, payload, mid, digest)
        if rejected:
            if mid != NO_MID:
                self._sink.discard([mid])
            return False
        if wait_for is not None and self.cfg.full_op is FullOp.FILE:
            self._sink.wait(wait_for)
        return True

    def _append(self, key: int, topic: str, payload: bytes, mid: int, digest: int) -> None:
        self._newest = time.monotonic()
        if not self._keys:
            self._oldest = self._newest
            self._cond.notify_all()
        self._keys.append(key)
        self._topics.append(topic)
        self._payloads.append(payload)
        self._mids.append(mid)
        self._hashes.append(digest)
        self.counters.accepted += 1
        if mid != NO_MID:
            self._unacked += 1
            self._check_window()

    def _check_window(self) -> None:
        if self._window_trigger is None:
            return
        if self._unacked + self._sink.unacked() >= self._window_trigger and self._unacked >= min(
            self._window_min, self._window_trigger
        ):
            self._hand(FlushReason.WINDOW)

    def _full_reject(self) -> PendingBatch | None:
        self.counters.dropped["full"] += 1
        self._drop_log.hit(f"cap {self.cfg.cap} reached with full_op=none")
        return None

    def _full_drop(self) -> PendingBatch | None:
        n = len(self._keys)
        mids = [m for m in self._mids if m != NO_MID]
        self.counters.dropped["discarded"] += n
        self._drop_log.hit(f"cap {self.cfg.cap} reached with full_op=drop, {n} buffered discarded")
        self._clear()
        if mids:
            self._sink.discard(mids)
        return None

    def _full_return(self) -> PendingBatch | None:
        return self._hand(FlushReason.FULL)

    def _clear(self) -> None:
        self._keys, self._topics, self._payloads, self._mids, self._hashes = [], [], [], [], []
        self._unacked = 0

    def _hand(self, reason: FlushReason) -> PendingBatch | None:
        """Move the ring's contents to the sink (lock held)."""
        if not self._keys:
            return None
        mids, hashes = [], []
        for m, h in zip(self._mids, self._hashes, strict=True):
            if m != NO_MID:
                mids.append(m)
                hashes.append(h)
        batch = MessageBatch(
            np.fromiter(self._keys, np.int64, len(self._keys)), self._topics, self._payloads
        )
        pending = PendingBatch(batch, mids, hashes, reason)
        self.counters.flushed_batches[reason.value] += 1
        self.counters.flushed_messages += len(batch)
        if reason is FlushReason.AGE:
            self._note_age_flush(len(batch), len(mids))
        self._clear()
        self._sink.submit(pending)
        return pending

    def _note_age_flush(self, count: int, unacked: int) -> None:
        """Warn once when age flushes keep carrying the same small number of QoS 1 messages.

        That is the signature of a broker that lets only a few un-acknowledged messages in flight
        (Mosquitto's default ``max_inflight_messages 20`` for MQTT 3.1.1 clients): the window's
        worth arrives at once, then nothing until the age flush acknowledges it. Steady traffic
        (the newest message is recent) is not that, however regular the counts.
        """
        quiet = time.monotonic() - self._newest > self.cfg.flush_ms / 2000
        if unacked != count or count >= 1000 or self._warned_window or not quiet:
            self._age_counts.clear()
            return
        self._age_counts.append(count)
        if len(self._age_counts) >= 3 and len(set(self._age_counts[-3:])) == 1:
            self._warned_window = True
            log.warning(
                "%s: the broker seems to allow only %d un-acknowledged messages in flight; capture "
                "is throttled to that many per flush_ms. Set 'max_inflight_messages 0' (Mosquitto) "
                "or raise the broker's in-flight window.",
                self._name,
                count,
            )

    def snapshot(self) -> MessageBatch:
        """The buffered messages (lock must be held by the caller)."""
        return MessageBatch(
            np.array(self._keys, np.int64), list(self._topics), list(self._payloads)
        )

    def flush(self, reason: FlushReason = FlushReason.SHUTDOWN) -> PendingBatch | None:
        with self._cond:
            return self._hand(reason)

    # ---- age flushing -------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._age_loop, name=f"{self._name}-age", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop age flushing and hand over whatever is buffered (shutdown flush)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        self.flush(FlushReason.SHUTDOWN)

    def _age_loop(self) -> None:
        limit = self.cfg.flush_ms / 1000.0
        with self._cond:
            while not self._stopping:
                if not self._keys:
                    self._cond.wait()
                    continue
                due = self._oldest + limit - time.monotonic()
                if due > 0:
                    self._cond.wait(due)
                    continue
                self._hand(FlushReason.AGE)
