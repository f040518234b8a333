"""The gateway's publisher: queued batches → the MQTT broker, in order, with bounded in-flight.

One publisher thread hands queued batches (CANP from the bus readers, SPI from
:mod:`logger.gateway.spi_publisher`) to paho in order, on the batch's topic at QoS ``gateway.qos``,
keeping at most :data:`MAX_INFLIGHT` messages (or the broker's MQTT 5 receive maximum, if smaller)
unconfirmed.

Broker away: the first connection is made in the background by
:func:`logger.mqtt.client.connect_with_backoff`, so the buses are read from the start; later
reconnections are paho's. Until the broker confirms them (PUBACK at QoS 1, written to the socket
at QoS 0) a batch's frames count as its bus's *backlog*. At QoS 1 paho resends unconfirmed
messages after a reconnection (the broker may see a batch twice); at QoS 0 what was in transit
when the connection dropped is lost and counted as ``lost``; a batch the broker refuses is counted
as ``rejected``. What is still held when the publisher stops is counted as ``lost``.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion

from logger.core.burstlog import BurstLogger
from logger.core.config import BrokerConfig
from logger.core.errors import BrokerError
from logger.gateway.bus_batch import Batch
from logger.gateway.bus_reader import POLL_S
from logger.mqtt.client import connect_with_backoff, make_client

_log = logging.getLogger(__name__)

MAX_INFLIGHT = 1024
"""Messages handed to paho and not yet confirmed (paho's ``max_inflight_messages`` too)."""
_JOIN_S = 15.0
STOP_TIMEOUT_S = 10.0
"""How long :meth:`BatchPublisher.stop` waits for the broker to confirm what is queued."""


class BatchPublisher:
    """Batches queued by :meth:`enqueue` → the MQTT broker at ``host:port``, at QoS ``qos``.

    ``cond`` is the gateway's lock: it guards the publisher's state and the bus readers' counters
    (backlog, published, rejected, lost), and is notified whenever they move.
    """

    def __init__(
        self,
        broker: BrokerConfig,
        host: str,
        port: int,
        protocol: MQTTProtocolVersion,
        client_id: str,
        qos: int,
        cond: threading.Condition,
    ) -> None:
        self.broker = broker
        self.host = host
        self.port = port
        self.protocol = protocol
        self.client_id = client_id
        self.qos = qos
        self._cond = cond
        self._queue: deque[Batch] = deque()
        self._outstanding: dict[int, tuple[Batch, int]] = {}  # mid → (batch, connection)
        self._events: deque[tuple[str, int, str | None]] = deque()  # from paho's callbacks
        self._connected = False
        self._looping = False
        self._generation = 0
        self._window = MAX_INFLIGHT
        self._abandon = False
        self._closing = False
        self._stop_connect = threading.Event()
        self._client: mqtt.Client | None = None
        self._threads: list[threading.Thread] = []
        self.failure: BrokerError | None = None  # a refusal retrying cannot cure: no more tries
        self._reject_log = BurstLogger(_log, "gateway: the broker refused a batch")
        self._lost_log = BurstLogger(_log, "gateway: QoS 0 batches lost with the connection")

    # ---- lifecycle ----------------------------------------------------------------------
    def start(self) -> None:
        """Make the MQTT client, then publish and connect to the broker in the background.

        Raises :class:`BrokerError` for broker settings that cannot work, before any thread starts;
        a broker that is merely not there yet is retried in the background.
        """
        if self._client is not None:
            return
        client = make_client(
            self.broker,
            self.client_id,
            clean_start=True,
            protocol=self.protocol,
            host=self.host,
            port=self.port,
            max_inflight=MAX_INFLIGHT,
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self._client = client
        self._threads = [
            threading.Thread(target=self._publish_loop, name="gateway-publish", daemon=True),
            threading.Thread(target=self._connect, name="gateway-connect", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Publish what is queued, then disconnect; idempotent.

        Waits up to ``timeout`` seconds for the broker to confirm every batch, if it is connected;
        frames still held after that are counted as ``lost`` and logged.
        """
        if not self._threads or self._abandon:
            return
        with self._cond:
            self._closing = True
            if self._connected:
                self._cond.wait_for(self._drained, timeout)
            self._abandon = True
            self._cond.notify_all()
        self._threads[0].join(_JOIN_S)
        self._stop_connect.set()
        self._threads[1].join(_JOIN_S)
        held = self._give_up_held()
        if held:
            _log.warning("gateway stopped with %d frames the broker did not confirm: lost", held)
        client = self._client
        if client is not None:
            client.disable_logger()  # paho's loop may report the disconnect it races with
            client.disconnect()
            client.loop_stop()

    def _give_up_held(self) -> int:
        with self._cond:
            self._process_events()
            held = [*self._queue, *(b for b, _ in self._outstanding.values())]
            self._queue.clear()
            self._outstanding.clear()
            for batch in held:
                batch.reader.backlog -= batch.frames
                batch.reader.lost += batch.frames
            return sum(b.frames for b in held)

    @property
    def connected(self) -> bool:
        return self._connected

    def stats(self) -> dict[str, object]:
        """Whether the broker is connected, and the batches queued and awaiting confirmation."""
        with self._cond:
            return {
                "connected": self._connected,
                "queued_batches": len(self._queue),
                "outstanding_batches": len(self._outstanding),
            }

    # ---- the queue ------------------------------------------------------------------------
    def enqueue(self, batch: Batch) -> None:
        """Queue ``batch`` for publishing; its frames count as its bus's backlog until confirmed."""
        with self._cond:
            self._queue.append(batch)
            batch.reader.backlog += batch.frames
            self._cond.notify_all()

    def notify(self) -> None:
        """Wake whoever waits on the gateway's lock (counters moved)."""
        with self._cond:
            self._cond.notify_all()

    # ---- the broker -----------------------------------------------------------------------
    def _connect(self) -> None:
        client = self._client
        assert client is not None
        try:
            if not connect_with_backoff(client, self.broker, self._stop_connect):
                return
        except BrokerError as exc:
            self.failure = exc
            _log.error("gateway: %s", exc)
            self.notify()
            return
        client.loop_start()
        with self._cond:
            self._looping = True
            self._connected = client.is_connected()
            self._generation += 1
            self._cond.notify_all()

    def _on_connect(
        self, client: mqtt.Client, _u: Any, _flags: Any, reason: Any, props: Any = None
    ) -> None:
        if getattr(reason, "is_failure", False):
            _log.error("gateway: the broker refused the connection: %s", reason)
            return
        window = MAX_INFLIGHT
        receive_maximum = getattr(props, "ReceiveMaximum", None) if props is not None else None
        if isinstance(receive_maximum, int) and receive_maximum > 0:
            window = min(window, receive_maximum)
        with self._cond:
            self._window = window
            if self._looping:  # a reconnection by paho's loop (the first is _connect's)
                self._connected = True
                self._generation += 1
                _log.info("gateway: reconnected to the broker")
            self._cond.notify_all()

    def _on_disconnect(
        self, _c: mqtt.Client, _u: Any, _flags: Any, reason: Any, _p: Any = None
    ) -> None:
        with self._cond:
            was = self._connected
            self._connected = False
            self._events.append(("down", self._generation, None))
            self._cond.notify_all()
        if was and not self._closing:
            _log.warning("gateway: disconnected from the broker (%s); buffering", reason)

    def _on_publish(
        self, _c: mqtt.Client, _u: Any, mid: int, reason: Any = None, _p: Any = None
    ) -> None:
        refused = str(reason) if getattr(reason, "is_failure", False) else None
        with self._cond:
            self._events.append(("pub", mid, refused))
            self._cond.notify_all()

    def _process_events(self) -> None:
        """Apply paho's confirmations and disconnections in order (lock held).

        Only the publisher thread calls this (and stop(), once the publisher has ended): paho
        may confirm a message before publish() has returned its mid to the publisher, so an
        event is applied only after the publisher registered the mid it names.
        """
        while self._events:
            kind, value, refused = self._events.popleft()
            if kind == "pub":
                entry = self._outstanding.pop(value, None)
                if entry is None:
                    continue
                batch = entry[0]
                batch.reader.backlog -= batch.frames
                if refused is None:
                    batch.reader.published += batch.frames
                    if batch.done is not None:
                        batch.done()
                else:
                    batch.reader.rejected += batch.frames
                    self._reject_log.hit(f"{batch.reader.topic}: {refused}")
            elif self.qos == 0:  # "down": QoS 0 messages in transit went with the connection
                for mid, (batch, generation) in list(self._outstanding.items()):
                    if generation <= value:
                        del self._outstanding[mid]
                        batch.reader.backlog -= batch.frames
                        batch.reader.lost += batch.frames
                        self._lost_log.hit(batch.reader.topic)

    def _drained(self) -> bool:
        return not self._queue and not self._outstanding and not self._events

    def _next_batch(self) -> tuple[Batch, int] | None:
        """Wait for a batch that may be published now; None when the gateway gives up (lock held)."""
        while True:
            if self._events:
                self._process_events()
                self._cond.notify_all()  # counters moved: wake stop() and wait_until()
            if self._abandon:
                return None
            if self._connected and self._queue and len(self._outstanding) < self._window:
                return self._queue.popleft(), self._generation
            self._cond.wait()

    def _publish_loop(self) -> None:
        client = self._client
        assert client is not None
        while True:
            with self._cond:
                picked = self._next_batch()
            if picked is None:
                return
            batch, generation = picked
            topic = batch.topic or batch.reader.topic
            info = client.publish(topic, batch.payload, qos=self.qos)
            with self._cond:
                # QoS 1 without a connection: paho keeps it and sends it after reconnecting.
                if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS or (
                    self.qos > 0 and info.rc == MQTTErrorCode.MQTT_ERR_NO_CONN
                ):
                    self._outstanding[info.mid] = (batch, generation)
                    continue
                self._queue.appendleft(batch)  # not sent: again once connected
                if info.rc != MQTTErrorCode.MQTT_ERR_NO_CONN:
                    _log.warning("gateway: publishing failed (%s); retrying", info.rc.name)
                self._cond.wait(POLL_S)  # until the disconnection is seen, not a busy loop
