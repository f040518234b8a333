"""The Exchange: a side-capture subscriber feeding one Ringbus, writer and store.

It is an ordinary MQTT client beside every other subscriber, so the broker's forwarding is
untouched. With ``qos = 1`` it keeps a persistent session and acknowledges each message only
after the file holding it is durable (paho's manual acknowledgement).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from logger.capture.batch_writer import BatchWriter
from logger.capture.ledger import LEDGER_KEY, RedeliveryFilter, Seen, digest
from logger.capture.ringbus import NO_MID, Ringbus
from logger.core.burstlog import BurstLogger
from logger.core.compat import mqtt_topic_bytes
from logger.core.config import BrokerConfig, ExchangeConfig
from logger.core.errors import BrokerError
from logger.core.keys import CaptureClock
from logger.core.message import MessageBatch
from logger.mqtt.client import connect_with_backoff, make_client
from logger.store.store import ParquetStore
from logger.streams.plugin import StreamPlugin

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Endpoint:
    """Where the broker is reached (the embedded broker's port is known only once it runs)."""

    host: str
    port: int
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
    #: Acknowledge only after the durable write. Off for the embedded broker (amqtt), which
    #: never redelivers and dies with the process, so late acknowledgements would buy nothing.
    durable_acks: bool = True


class Exchange:
    """One configured data path: topic filter → keys → Ringbus → plugin → Parquet store."""

    def __init__(
        self,
        cfg: ExchangeConfig,
        broker: BrokerConfig,
        endpoint: Endpoint,
        plugin: StreamPlugin,
        store: ParquetStore,
        client_id: str,
        memory: int | None = None,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.plugin = plugin
        self.store = store
        self.lock = threading.Condition()
        self.clock = CaptureClock()
        self.redelivery = RedeliveryFilter()
        self.redelivered = 0
        self.writer = BatchWriter(cfg.name, plugin, store, self.lock, self._ack)
        self._manual_ack = cfg.qos == 1 and endpoint.durable_acks
        window = cfg.receive_maximum if self._manual_ack else None
        self.ring = Ringbus(
            cfg.ringbus, self.writer, self.lock, window=window, name=cfg.name, memory=memory
        )
        self._broker = broker
        self._endpoint = endpoint
        self._client_id = client_id
        self._client: mqtt.Client | None = None
        self._closing = False
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.failure: BrokerError | None = None
        self.capture_errors = 0
        self._error_log = BurstLogger(log, f"{cfg.name}: a message could not be captured")

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Seed redelivery detection from the store, start writer and ring, connect (retrying)."""
        if self.cfg.qos == 1:
            learnt = self.redelivery.load(self._stored_ledgers())
            log.info("%s: %d packet ids known from stored ledgers", self.name, learnt)
        self.writer.start()
        self.ring.start()
        client = make_client(
            self._broker,
            self._client_id,
            clean_start=self.cfg.qos == 0,
            manual_ack=self._manual_ack,
            protocol=self._endpoint.protocol,
            receive_maximum=self.cfg.receive_maximum,
            host=self._endpoint.host,
            port=self._endpoint.port,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        thread = threading.Thread(target=self._connect, name=f"{self.name}-connect", daemon=True)
        thread.start()

    def _connect(self) -> None:
        assert self._client is not None
        try:
            if connect_with_backoff(self._client, self._broker, self._stop):
                self._client.loop_start()
        except BrokerError as exc:
            self.failure = exc
            log.error("%s: %s", self.name, exc)

    def stop(self) -> None:
        """Stop capturing, write everything held, acknowledge it, then disconnect."""
        self._closing = True
        self._stop.set()
        self.ring.stop()
        self.writer.close(timeout=30)
        if self._client is not None:
            self._client.disable_logger()  # paho's loop may report the disconnect it races with
            self._client.disconnect()
            self._client.loop_stop()

    def _stored_ledgers(self) -> list[bytes]:
        out = []
        for f in self.store.newest_files(64):
            meta = self.store.read_metadata(f)
            blob = meta.get(LEDGER_KEY.encode())
            if blob is not None:
                out.append(blob)
        return out

    # ---- paho callbacks (network thread) -----------------------------------------------
    def _on_connect(
        self, client: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.error("%s: broker refused the connection: %s", self.name, reason)
            return
        client.subscribe(self.cfg.topic, qos=self.cfg.qos)
        self.connected.set()
        log.info("%s: subscribed to %r (QoS %d)", self.name, self.cfg.topic, self.cfg.qos)

    def _on_subscribe(
        self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any = None
    ) -> None:
        failed = [c for c in codes if getattr(c, "is_failure", False)]
        if failed:
            log.error(
                "%s: broker refused the subscription to %r: %s", self.name, self.cfg.topic, failed
            )
            return
        self.subscribed.set()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _f: Any, reason: Any, _p: Any = None
    ) -> None:
        self.connected.clear()
        self.subscribed.clear()
        if not self._closing:
            log.warning("%s: disconnected from the broker (%s); reconnecting", self.name, reason)

    def _on_message(self, client: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        if self._closing:
            return  # not acknowledged: the broker redelivers it to the next session
        try:
            self._capture(client, msg)
        except Exception as exc:  # never let one message end paho's network loop
            self.capture_errors += 1
            self._error_log.hit(f"{type(exc).__name__}: {exc}")
            if msg.qos == 1 and self._manual_ack:
                client.ack(
                    msg.mid, 1
                )  # dropped and counted; left un-acknowledged it would shrink the window

    def _capture(self, client: mqtt.Client, msg: mqtt.MQTTMessage) -> None:
        key = self.clock.next()
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers should refuse these; keep the message anyway
            topic = mqtt_topic_bytes(msg).decode("utf-8", "backslashreplace")
        payload = bytes(msg.payload)
        if msg.qos == 0 or self.cfg.qos == 0:
            self.ring.push(key, topic, payload)
            return
        d = digest(topic, payload)
        seen = self.redelivery.check(msg.mid, d, bool(msg.dup))
        if seen is Seen.NEW:
            self.ring.push(key, topic, payload, msg.mid, d)
            return
        self.redelivered += 1
        if seen is Seen.STORED:
            client.ack(msg.mid, 1)

    def _ack(self, mids: list[int]) -> None:
        self.redelivery.acked(mids)
        client = self._client
        if client is None:
            return
        for mid in mids:
            if mid != NO_MID:
                client.ack(mid, 1)

    # ---- queries ------------------------------------------------------------------------
    def memory_snapshot(self) -> list[MessageBatch]:
        """Batches being written, then the ring (lock must be held)."""
        return [*self.writer.pending_batches(), self.ring.snapshot()]

    def stats(self) -> dict[str, object]:
        return {
            "ring": self.ring.counters.as_dict(),
            "ring_size": len(self.ring),
            "held_bytes": self.ring.held_bytes + self.writer.held_bytes(),
            "writer": vars(self.writer.counters).copy(),
            "quarantined": self.writer.quarantined.as_dict(),
            "backlog_batches": self.writer.backlog,
            "redelivered": self.redelivered,
            "capture_errors": self.capture_errors,
            "connected": self.connected.is_set(),
        }
