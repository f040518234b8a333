"""The Ringbus: a bounded in-memory buffer of captured messages, handed to the writer in batches.

A batch leaves the ring when the ring is full (per ``full_op``), when its oldest message is
``flush_ms`` old, when the broker's window of un-acknowledged messages is nearly used up, when it
holds half of its memory share (``[limits] memory``), and on shutdown. While the ring and the
batches being written hold the whole share, :meth:`Ringbus.push` waits for the writer (back-pressure
on the broker, which keeps the messages it has not delivered). The ring and the writer share one lock, so that a query's snapshot of "ring + batches
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

from logger.core.burstlog import BurstLogger
from logger.core.config import FullOp, RingbusConfig
from logger.core.message import MessageBatch
from logger.core.payloads import PayloadBuffer

log = logging.getLogger(__name__)
NO_MID = -1
#: A ring hands its batch over before its payloads pass this (one Arrow binary array each).
_MAX_MAP = 1 << 30
#: Distinct topics :meth:`Ringbus.topics` remembers; past it, new ones are not added.
MAX_SEEN_TOPICS = 4096
#: Bytes counted per held message beside its payload and topic (key, ids, list slots, headers).
MESSAGE_OVERHEAD = 128


def held_size(topic: str, payload: bytes) -> int:
    """The bytes one message counts against the memory share."""
    return len(payload) + len(topic) + MESSAGE_OVERHEAD


class FlushReason(enum.StrEnum):
    FULL = "full"
    AGE = "age"
    WINDOW = "window"
    MEMORY = "memory"
    SHUTDOWN = "shutdown"


@dataclass(eq=False)
class PendingBatch:
    """A batch on its way to disk; ``mids`` / ``hashes`` are the QoS 1 messages to acknowledge."""

    batch: MessageBatch
    mids: list[int]
    hashes: list[int]
    reason: FlushReason
    nbytes: int = 0  # what the batch counts against the memory share
    done: threading.Event = field(default_factory=threading.Event)


class BatchSink(Protocol):
    """Where the ring hands batches (the writer). ``submit`` and ``unacked`` run under the shared lock."""

    def submit(self, batch: PendingBatch) -> None: ...

    def unacked(self) -> int: ...

    def held_bytes(self) -> int: ...

    def wait(self, batch: PendingBatch) -> None: ...

    def discard(self, mids: list[int]) -> None: ...


@dataclass
class RingCounters:
    accepted: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    flushed_batches: Counter[str] = field(default_factory=Counter)
    flushed_messages: int = 0
    memory_waits: int = 0  # pushes that waited for the writer to free memory
    memory_wait_s: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "accepted": self.accepted,
            "dropped": dict(self.dropped),
            "flushed_batches": dict(self.flushed_batches),
            "flushed_messages": self.flushed_messages,
            "memory_waits": self.memory_waits,
            "memory_wait_s": round(self.memory_wait_s, 3),
        }


class Ringbus:
    """Bounded buffer of ``cfg.cap`` messages and ``memory`` bytes (with what the writer holds);
    thread-safe; flushes by count, age, window, memory and on shutdown."""

    def __init__(
        self,
        cfg: RingbusConfig,
        sink: BatchSink,
        lock: threading.Condition,
        window: int | None = None,
        name: str = "ringbus",
        memory: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.memory = memory
        self.counters = RingCounters()
        self._sink = sink
        self._cond = lock
        self._name = name
        self._window = window
        self._window_trigger = int(window * 0.9) if window else None
        self._window_min = max(1, window - int(window * 0.9)) if window else 1
        self._keys: list[int] = []
        self._topics: list[str] = []
        self._seen_topics: frozenset[str] = frozenset()
        self._flush_bytes = min(memory // 2, _MAX_MAP) if memory else _MAX_MAP
        self._map_size = self._flush_bytes if memory else 0
        self._payloads = PayloadBuffer(self._map_size)
        self._mids: list[int] = []
        self._hashes: list[int] = []
        self._unacked = 0
        self._bytes = 0
        self._writer_bytes = 0  # what the writer held when last asked: it only stores since
        self._oldest = 0.0
        self._newest = 0.0
        self._stopping = False
        self._stopped = False  # the shutdown flush is done: nothing more is taken
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
    def held_bytes(self) -> int:
        """What the buffered messages count against the memory share."""
        return self._bytes

    @property
    def unacked(self) -> int:
        """QoS 1 messages in the ring (not yet handed to the writer)."""
        return self._unacked

    def push(
        self, key: int, topic: str, payload: bytes, mid: int = NO_MID, digest: int = 0
    ) -> bool:
        """Add one message; returns False when ``full_op = none`` rejected it, or when the ring
        has been stopped (counted ``dropped["stopped"]``; a QoS 1 message is left unacknowledged,
        so the broker delivers it again to the next session).

        Waits while the memory share is used up, until the writer has stored enough.
        """
        size = len(payload) + len(topic) + MESSAGE_OVERHEAD  # held_size, inlined: once a message
        with self._cond:
            self._make_room(size)
            if self._stopped:
                self.counters.dropped["stopped"] += 1
                return False
            full = len(self._keys) >= self.cfg.cap
            wait_for = self._on_full() if full else None
            rejected = full and self.cfg.full_op is FullOp.NONE
            if not rejected:
                self._append(key, topic, payload, mid, digest, size)
        if rejected:
            if mid != NO_MID:
                self._sink.discard([mid])
            return False
        if wait_for is not None and self.cfg.full_op is FullOp.FILE:
            self._sink.wait(wait_for)
        return True

    def _make_room(self, size: int) -> None:
        """Hand the ring over at half the share; wait while ring and writer hold it all (lock held)."""
        if self._keys and self._bytes + size > self._flush_bytes:
            self._hand(FlushReason.MEMORY)
        if self.memory is None or self._bytes + self._writer_bytes + size <= self.memory:
            return  # fits even if the writer has stored nothing since it was last asked
        self._writer_bytes = self._sink.held_bytes()
        if self._over(size):
            self.counters.memory_waits += 1
            t0 = time.monotonic()
            self._cond.wait_for(lambda: not self._over(size))
            self.counters.memory_wait_s += time.monotonic() - t0

    def _over(self, size: int) -> bool:
        """Whether one more message of ``size`` bytes does not fit (one always fits into nothing)."""
        assert self.memory is not None
        self._writer_bytes = self._sink.held_bytes()
        held = self._bytes + self._writer_bytes
        return not self._stopping and held > 0 and held + size > self.memory

    def _append(
        self, key: int, topic: str, payload: bytes, mid: int, digest: int, size: int
    ) -> None:
        self._newest = time.monotonic()
        if not self._keys:
            self._oldest = self._newest
            self._cond.notify_all()
        self._keys.append(key)
        if self._topics and topic == self._topics[-1]:
            topic = self._topics[-1]  # one str object for a run of the same topic
        self._topics.append(topic)
        self._payloads.append(payload)
        self._mids.append(mid)
        self._hashes.append(digest)
        self._bytes += size
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
        room = MAX_SEEN_TOPICS - len(self._seen_topics)
        if room > 0:  # one set per batch (in C); at most the room left is kept
            fresh = set(self._topics) - self._seen_topics
            if fresh:  # a new set: topics() reads the old one outside the lock
                kept = fresh if len(fresh) <= room else set(sorted(fresh)[:room])
                self._seen_topics = self._seen_topics | kept
        self._keys, self._topics, self._mids, self._hashes = [], [], [], []
        self._payloads = PayloadBuffer(self._map_size)
        self._unacked = 0
        self._bytes = 0

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
            np.fromiter(self._keys, np.int64, len(self._keys)), self._topics, self._payloads.take()
        )
        pending = PendingBatch(batch, mids, hashes, reason, self._bytes)
        self.counters.flushed_batches[reason.value] += 1
        self.counters.flushed_messages += len(batch)
        if reason is FlushReason.AGE:
            self._note_age_flush(len(batch), len(mids))
        self._clear()
        self._sink.submit(pending)
        self._writer_bytes += pending.nbytes
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

    def contents(self) -> MessageBatch:
        """The buffered messages (lock must be held by the caller)."""
        return MessageBatch(
            np.array(self._keys, np.int64), list(self._topics), self._payloads.view()
        )

    def flush(self, reason: FlushReason = FlushReason.SHUTDOWN) -> PendingBatch | None:
        with self._cond:
            return self._hand(reason)

    def stats(self) -> dict[str, object]:
        """The ring's counters, how many messages it holds and their bytes."""
        with self._cond:
            return {**self.counters.as_dict(), "size": len(self._keys), "held_bytes": self._bytes}

    def topics(self) -> list[str]:
        """The distinct topics captured since start (up to :data:`MAX_SEEN_TOPICS` of them), and
        those held now; the lock is held only to take the references."""
        with self._cond:
            seen, held = self._seen_topics, self._topics[:]  # a copy of pointers only
        return sorted(seen.union(held))

    def oldest_key(self) -> int | None:
        """The key of the oldest message held (None when it holds none)."""
        with self._cond:
            return self._keys[0] if self._keys else None

    # ---- age flushing -------------------------------------------------------------------
    def start(self) -> None:
        """Start flushing by age (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._age_loop, name=f"{self._name}-age", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop age flushing and hand over whatever is buffered (shutdown flush); idempotent."""
        with self._cond:
            if self._stopped:
                return
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join()
        with self._cond:
            self._hand(FlushReason.SHUTDOWN)
            self._stopped = True

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
