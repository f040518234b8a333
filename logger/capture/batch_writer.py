"""The writer: encodes batches with the stream plugin and makes them durable, in order.

A batch stays in ``pending`` (visible to queries) until its files are durable; then, under the
shared lock, its files are published to the store index and the batch leaves ``pending`` in one
step, and only after that are its QoS 1 messages acknowledged to the broker. A write that fails
(disk full, I/O error) is retried with back-off; nothing is acknowledged meanwhile, so the broker
still holds every message we have not stored.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from logger.capture.ledger import LEDGER_KEY, encode_ledger
from logger.capture.quarantine_stats import QuarantineCounter
from logger.capture.ringbus import PendingBatch
from logger.core.burstlog import BurstLogger
from logger.core.errors import StoreError, StoreWriteError
from logger.core.message import MessageBatch
from logger.store.chunk import TableChunk
from logger.store.store import ParquetStore
from logger.streams.plugin import StreamPlugin, quarantine_chunk

log = logging.getLogger(__name__)
Acker = Callable[[list[int]], None]


@dataclass
class WriterCounters:
    batches: int = 0
    messages: int = 0
    files: int = 0
    bytes: int = 0
    write_errors: int = 0
    disk_full: int = 0
    encode_errors: int = 0
    retention_deleted: int = 0


class BatchWriter:
    """One thread per exchange writing handed-over batches in order (a :class:`BatchSink`)."""

    def __init__(
        self,
        name: str,
        plugin: StreamPlugin,
        store: ParquetStore,
        lock: threading.Condition,
        acker: Acker,
        retry_s: tuple[float, float] = (0.1, 5.0),
    ) -> None:
        self.name = name
        self.counters = WriterCounters()
        self.quarantined = QuarantineCounter()
        self._plugin = plugin
        self._store = store
        self._cond = lock
        self._acker = acker
        self._retry = retry_s
        self._pending: deque[PendingBatch] = deque()
        self._unacked = 0
        self._bytes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.unwritten = 0  # batches left unwritten when stopped
        self._error_log = BurstLogger(log, f"{name}: cannot write batch, will retry")

    # ---- BatchSink (called by the Ringbus, lock held for submit/unacked) -----------------
    def submit(self, batch: PendingBatch) -> None:
        self._pending.append(batch)
        self._unacked += len(batch.mids)
        self._bytes += batch.nbytes
        self._cond.notify_all()

    def unacked(self) -> int:
        return self._unacked

    def held_bytes(self) -> int:
        """What the batches not yet durable count against the memory share."""
        return self._bytes

    def wait(self, batch: PendingBatch) -> None:
        while not batch.done.wait(0.5):
            if self._stop.is_set() and self._thread is not None and not self._thread.is_alive():
                return

    def discard(self, mids: list[int]) -> None:
        self._acker(mids)

    def pending_batches(self) -> list[MessageBatch]:
        """Batches handed over but not yet durable (lock must be held)."""
        return [p.batch for p in self._pending]

    def wait_stored(self, messages: int, timeout: float) -> bool:
        """Block until at least ``messages`` messages are durable (or ``timeout`` seconds pass)."""
        with self._cond:
            return self._cond.wait_for(lambda: self.counters.messages >= messages, timeout)

    @property
    def backlog(self) -> int:
        return len(self._pending)

    # ---- thread ---------------------------------------------------------------------------
    def start(self) -> None:
        """Start the writer thread (idempotent)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-writer", daemon=True)
        self._thread.start()

    def stats(self) -> dict[str, object]:
        """What the writer stored, quarantined and holds."""
        return {
            "writer": vars(self.counters).copy(),
            "quarantined": self.quarantined.as_dict(),
            "backlog_batches": self.backlog,
            "unwritten_batches": self.unwritten,
        }

    def stop(self, timeout: float | None = None) -> None:
        """Write what is pending (giving up on a write that keeps failing), stop. Batches left
        unwritten (``unwritten`` in :meth:`stats`) were not acknowledged: QoS 1 brings them again."""
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        left = len(self._pending)
        if left:
            log.warning(
                "%s: stopped with %d batches not written; they were not acknowledged, "
                "so the broker redelivers them (QoS 1)",
                self.name,
                left,
            )
        self.unwritten = left

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stop.is_set():
                    self._cond.wait()
                if not self._pending:
                    return
                pending = self._pending[0]
            if not self._write(pending):
                return

    def _write(self, pending: PendingBatch) -> bool:
        chunks = self._encode(pending.batch)
        extra = {LEDGER_KEY: encode_ledger(pending.mids, pending.hashes)} if pending.mids else {}
        delay = self._retry[0]
        while True:
            try:
                files = self._store.write(chunks, extra)
                break
            except StoreWriteError as exc:
                self.counters.write_errors += 1
                self.counters.disk_full += exc.disk_full
                self._error_log.hit(str(exc))
                if self._stop.wait(delay):
                    return False
                delay = min(delay * 2, self._retry[1])
            except (
                StoreError
            ) as exc:  # the tables cannot be stored as they are: retrying won't help
                self.counters.encode_errors += 1
                log.error(
                    "%s: batch rejected by the store (%s); kept raw in quarantine", self.name, exc
                )
                chunks = [
                    _quarantine_all(pending.batch, f"store rejected the encoded batch: {exc}")
                ]
        c = self.counters
        with self._cond:
            self._store.publish(files)
            self._pending.popleft()
            self._unacked -= len(pending.mids)
            self._bytes -= pending.nbytes
            c.batches += 1
            c.messages += len(pending.batch)
            c.files += len(files)
            c.bytes += sum(f.size for f in files)
            self._cond.notify_all()
        self.quarantined.count(chunks)
        if pending.mids:
            self._acker(pending.mids)
        pending.done.set()
        c.retention_deleted += len(self._store.enforce_retention(lambda f: False))
        return True

    def _encode(self, batch: MessageBatch) -> list[TableChunk]:
        try:
            return self._plugin.encode(batch)
        except Exception as exc:  # a plugin bug must not lose the batch: keep it raw in quarantine
            self.counters.encode_errors += 1
            log.exception(
                "%s: plugin %s failed to encode a batch; stored in quarantine",
                self.name,
                self._plugin.name,
            )
            return [_quarantine_all(batch, f"encode failed: {type(exc).__name__}: {exc}")]


def _quarantine_all(batch: MessageBatch, reason: str) -> TableChunk:
    return quarantine_chunk(
        batch.keys.tolist(), batch.topics, list(batch.payloads), [reason] * len(batch)
    )
