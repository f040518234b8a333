"""The Exchange: messages from a source (the broker, side-capture) feeding one Ringbus, writer and
store.

Each message gets a capture key; at QoS 1 a redelivery already stored is recognised (the ledger)
and acknowledged again, and every other message is acknowledged only after the file holding it
is durable. Stop order: deliveries are refused (not acknowledged: the broker brings them again),
the ring hands over what it holds, the writer writes and acknowledges it, then the source
disconnects.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from pathlib import Path

from logger.capture.batch_writer import BatchWriter
from logger.capture.ledger import LEDGER_KEY, RedeliveryFilter, Seen, digest
from logger.capture.ringbus import NO_MID, Ringbus
from logger.capture.source import Delivery, MessageSource
from logger.core.burstlog import BurstLogger
from logger.core.config import ExchangeConfig
from logger.core.errors import BrokerError
from logger.core.keys import CaptureClock
from logger.core.message import MessageBatch
from logger.store.store import ParquetStore
from logger.streams.plugin import StreamPlugin

log = logging.getLogger(__name__)


def _free_bytes(path: Path) -> int | None:
    """Bytes free on the file system holding ``path`` (None when it cannot be asked)."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


class Exchange:
    """One configured data path: topic filter → keys → Ringbus → plugin → Parquet store."""

    def __init__(
        self,
        cfg: ExchangeConfig,
        source: MessageSource,
        plugin: StreamPlugin,
        store: ParquetStore,
        memory: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.source = source
        self.plugin = plugin
        self.store = store
        self.lock = threading.Condition()
        self.clock = CaptureClock()
        self.redelivery = RedeliveryFilter()
        self.redelivered = 0
        self.writer = BatchWriter(cfg.name, plugin, store, self.lock, self._ack)
        self._manual_ack = source.manual_ack
        window = cfg.receive_maximum if self._manual_ack else None
        self.ring = Ringbus(
            cfg.ringbus, self.writer, self.lock, window=window, name=cfg.name, memory=memory
        )
        self._started = self._closing = False
        self.capture_errors = 0
        self._error_log = BurstLogger(log, f"{cfg.name}: a message could not be captured")

    @property
    def subscribed(self) -> threading.Event:
        """Set while the source delivers (subscribed at the broker)."""
        return self.source.subscribed

    @property
    def failure(self) -> BrokerError | None:
        return self.source.failure

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Seed redelivery detection from the store, start writer and ring, then the source."""
        if self._started:
            return
        self._started = True
        if self.cfg.qos == 1:
            learnt = self.redelivery.load(self._stored_ledgers())
            log.info("%s: %d packet ids known from stored ledgers", self.name, learnt)
        self.writer.start()
        self.ring.start()
        self.source.start(self._on_delivery)

    def stop(self) -> None:
        """Stop capturing, write everything held, acknowledge it, then stop the source."""
        if self._closing:
            return
        self._closing = True
        self.ring.stop()
        self.writer.stop(timeout=30)
        self.source.stop()

    def _stored_ledgers(self) -> list[bytes]:
        out = []
        for f in self.store.newest_files(64):
            meta = self.store.read_metadata(f)
            blob = meta.get(LEDGER_KEY.encode())
            if blob is not None:
                out.append(blob)
        return out

    # ---- deliveries (the source's thread) -----------------------------------------------
    def _on_delivery(self, msg: Delivery) -> None:
        if self._closing:
            return  # not acknowledged: the broker redelivers it to the next session
        try:
            self._capture(msg)
        except Exception as exc:  # never let one message end the source's loop
            self.capture_errors += 1
            self._error_log.hit(f"{type(exc).__name__}: {exc}")
            if msg.qos == 1 and self._manual_ack:
                # dropped and counted; left un-acknowledged it would shrink the window
                self.source.ack(msg.mid)

    def _capture(self, msg: Delivery) -> None:
        key = self.clock.next()
        if msg.qos == 0 or self.cfg.qos == 0:
            self.ring.push(key, msg.topic, msg.payload)
            return
        d = digest(msg.topic, msg.payload)
        seen = self.redelivery.check(msg.mid, d, msg.dup)
        if seen is Seen.NEW:
            self.ring.push(key, msg.topic, msg.payload, msg.mid, d)
            return
        self.redelivered += 1
        if seen is Seen.STORED:
            self.source.ack(msg.mid)

    def _ack(self, mids: list[int]) -> None:
        self.redelivery.acked(mids)
        for mid in mids:
            if mid != NO_MID:
                self.source.ack(mid)

    # ---- queries ------------------------------------------------------------------------
    def memory_snapshot(self) -> list[MessageBatch]:
        """Batches being written, then the ring (lock must be held)."""
        return [*self.writer.pending_batches(), self.ring.contents()]

    def stats(self) -> dict[str, object]:
        ring = self.ring.stats()
        writer = self.writer.stats()
        with self.lock:
            waiting = [int(b.keys[0]) for b in self.writer.pending_batches() if len(b.keys)]
        in_ring = self.ring.oldest_key()
        oldest = min([*waiting, *([] if in_ring is None else [in_ring])], default=0)
        return {
            "ring": {k: v for k, v in ring.items() if k not in ("size", "held_bytes")},
            "ring_size": ring["size"],
            "ring_cap": self.cfg.ringbus.cap,
            # how long the oldest message not yet durable has waited (0 when every one is)
            "flush_lag_seconds": max(0.0, (time.time_ns() - oldest) / 1e9) if oldest else 0.0,
            "held_bytes": self.ring.held_bytes + self.writer.held_bytes(),
            "disk_free_bytes": _free_bytes(self.store.root),
            "retention": {
                "max_files": self.store.cfg.file_count,
                "max_bytes": self.store.cfg.file_size,
            },
            **writer,
            "redelivered": self.redelivered,
            "capture_errors": self.capture_errors,
            **self.source.stats(),
        }
