"""Where an exchange's messages come from: a :class:`MessageSource`. The product's source is the
broker (:class:`MqttSource`: an ordinary MQTT client beside every other subscriber, so the
broker's forwarding is untouched); capture can be driven by any other source that delivers
:class:`Delivery` values and takes acknowledgements, such as one fed by a test.

With ``qos = 1`` the MQTT source keeps a persistent session and acknowledges each message only
when the exchange says so, after the file holding it is durable (paho's manual acknowledgement).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTProtocolVersion

from logger.core.compat import mqtt_topic_bytes
from logger.core.config import BrokerConfig, ExchangeConfig
from logger.core.errors import BrokerError
from logger.mqtt.client import connect_with_backoff, make_client

__all__ = ["Delivery", "Endpoint", "MessageSource", "MqttSource"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """One message as a source delivers it: ``mid`` and ``dup`` matter only at QoS 1."""

    topic: str
    payload: bytes
    qos: int = 0
    mid: int = 0
    dup: bool = False


class MessageSource(Protocol):
    """Messages for one exchange: delivered one by one to the callback given to :meth:`start`
    (from the source's own thread), acknowledged by :meth:`ack` once stored."""

    #: Set while the source delivers (for the broker: connected and subscribed).
    subscribed: threading.Event
    #: A refusal that retrying cannot cure, once the source gave up; else None.
    failure: BrokerError | None
    #: Whether QoS 1 deliveries wait for :meth:`ack` (the ring then bounds what is unacknowledged).
    manual_ack: bool

    def start(self, deliver: Callable[[Delivery], None]) -> None: ...
    def ack(self, mid: int) -> None: ...
    def stop(self) -> None: ...
    def stats(self) -> dict[str, object]: ...


@dataclass(frozen=True)
class Endpoint:
    """Where the broker is reached (the embedded broker's port is known only once it runs)."""

    host: str
    port: int
    protocol: MQTTProtocolVersion = MQTTProtocolVersion.MQTTv5
    #: Acknowledge only after the durable write. Off for the embedded broker (amqtt), which
    #: never redelivers and dies with the process, so late acknowledgements would buy nothing.
    durable_acks: bool = True


class MqttSource:
    """The exchange's MQTT client: subscribes to the exchange's topic filter on every
    (re)connection and delivers each message; reconnects with back-off."""

    def __init__(
        self, cfg: ExchangeConfig, broker: BrokerConfig, endpoint: Endpoint, client_id: str
    ) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.manual_ack = cfg.qos == 1 and endpoint.durable_acks
        self._broker = broker
        self._endpoint = endpoint
        self._client_id = client_id
        self._client: mqtt.Client | None = None
        self._deliver: Callable[[Delivery], None] | None = None
        self._closing = False
        self._stop = threading.Event()
        self.connected = threading.Event()
        self.subscribed = threading.Event()
        self.failure: BrokerError | None = None

    def start(self, deliver: Callable[[Delivery], None]) -> None:
        """Connect in the background (retrying) and deliver every message to ``deliver``."""
        if self._client is not None:
            return
        self._deliver = deliver
        client = make_client(
            self._broker,
            self._client_id,
            clean_start=self.cfg.qos == 0,
            manual_ack=self.manual_ack,
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
        client = self._client
        if client is None:
            return
        try:
            if connect_with_backoff(client, self._broker, self._stop) and not self._stop.is_set():
                client.loop_start()
        except BrokerError as exc:
            self.failure = exc
            log.error("%s: %s", self.name, exc)

    def ack(self, mid: int) -> None:
        client = self._client
        if client is not None:
            client.ack(mid, 1)

    def stop(self) -> None:
        """Disconnect; messages not acknowledged stay with the broker (QoS 1) for the next session."""
        self._closing = True
        self._stop.set()
        client, self._client = self._client, None
        if client is not None:
            client.disable_logger()  # paho's loop may report the disconnect it races with
            client.disconnect()
            client.loop_stop()

    def stats(self) -> dict[str, object]:
        return {"connected": self.connected.is_set()}

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

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        deliver = self._deliver
        if deliver is None:
            return
        try:
            topic = msg.topic
        except UnicodeDecodeError:  # brokers should refuse these; keep the message anyway
            topic = mqtt_topic_bytes(msg).decode("utf-8", "backslashreplace")
        deliver(Delivery(topic, bytes(msg.payload), msg.qos, msg.mid, bool(msg.dup)))
