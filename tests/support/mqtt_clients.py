"""MQTT clients for tests: addresses that work for Mosquitto and the embedded broker alike, a
collecting subscriber and a publisher, all made by :func:`logger.mqtt.client.make_client`."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Literal

from paho.mqtt.client import Client, ConnectFlags, MQTTMessage
from paho.mqtt.enums import MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from logger.core.config import BrokerConfig
from logger.mqtt.client import connect_with_backoff, make_client, protocol_for

CLIENT_TIMEOUT = 10.0

BrokerKind = Literal["mosquitto", "embedded"]


@dataclass(frozen=True)
class BrokerAddress:
    """Where a test broker listens, and how our clients should talk to it."""

    kind: BrokerKind
    host: str
    port: int
    tls_ca: Path | None = None

    @property
    def url(self) -> str:
        scheme = "mqtts" if self.tls_ca is not None else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def protocol(self) -> MQTTProtocolVersion:
        """The newest MQTT version the broker speaks (amqtt: 3.1.1 only)."""
        return protocol_for(self.broker_config())

    def broker_config(self) -> BrokerConfig:
        """A ``[broker]`` section pointing at this broker (for the embedded one, host and port
        still need passing to ``make_client``: :meth:`client` does)."""
        if self.kind == "embedded":
            return BrokerConfig(url="embedded")
        return BrokerConfig(url=self.url, tls_ca=self.tls_ca)

    def client(
        self,
        client_id: str,
        *,
        clean_start: bool = True,
        manual_ack: bool = False,
        protocol: MQTTProtocolVersion | None = None,
        receive_maximum: int | None = None,
    ) -> Client:
        """An unconnected client for this broker, made by :func:`logger.mqtt.client.make_client`."""
        return make_client(
            self.broker_config(),
            client_id,
            clean_start=clean_start,
            manual_ack=manual_ack,
            protocol=protocol or self.protocol,
            receive_maximum=receive_maximum,
            host=self.host,
            port=self.port,
        )


def connect(client: Client, address: BrokerAddress, timeout: float = CLIENT_TIMEOUT) -> None:
    """Connect with :func:`connect_with_backoff`, giving up after ``timeout`` seconds."""
    give_up = threading.Event()
    timer = threading.Timer(timeout, give_up.set)
    timer.start()
    try:
        connected = connect_with_backoff(client, address.broker_config(), give_up)
    finally:
        timer.cancel()
    if not connected:
        raise TimeoutError(f"could not connect to {address.url} within {timeout:g} s")


@dataclass(frozen=True)
class Received:
    """One message a :class:`Subscriber` got."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    dup: bool
    retain: bool


class Subscriber:
    """A paho client in its own network loop that collects what it receives.

    ``start()`` returns once the broker has acknowledged the subscription. With
    ``manual_ack=True`` nothing is acknowledged until :meth:`ack` is called.
    """

    def __init__(
        self,
        address: BrokerAddress,
        topic: str,
        *,
        qos: int = 1,
        client_id: str = "",
        clean_start: bool = True,
        manual_ack: bool = False,
        protocol: MQTTProtocolVersion | None = None,
        receive_maximum: int | None = None,
    ) -> None:
        self.address = address
        self.topic = topic
        self.qos = qos
        self._cond = threading.Condition()
        self._received: list[Received] = []
        self._subscribed = threading.Event()
        self.session_present: bool | None = None
        self.client = address.client(
            client_id,
            clean_start=clean_start,
            manual_ack=manual_ack,
            protocol=protocol,
            receive_maximum=receive_maximum,
        )
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message

    def _on_connect(
        self,
        client: Client,
        userdata: object,
        flags: ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if not reason.is_failure:
            self.session_present = flags.session_present
            client.subscribe(self.topic, qos=self.qos)

    def _on_subscribe(
        self,
        client: Client,
        userdata: object,
        mid: int,
        reasons: list[ReasonCode],
        props: Properties | None,
    ) -> None:
        if all(not r.is_failure for r in reasons):
            self._subscribed.set()

    def _on_message(self, client: Client, userdata: object, msg: MQTTMessage) -> None:
        item = Received(msg.topic, bytes(msg.payload), msg.qos, msg.mid, bool(msg.dup), msg.retain)
        with self._cond:
            self._received.append(item)
            self._cond.notify_all()

    def start(self, timeout: float = CLIENT_TIMEOUT) -> Subscriber:
        connect(self.client, self.address, timeout)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            self.stop()
            raise RuntimeError(f"no SUBACK for {self.topic!r} from {self.address.url}")
        return self

    def wait_for(self, count: int, timeout: float = CLIENT_TIMEOUT) -> list[Received]:
        """Block until ``count`` messages arrived; all received so far. Raises on timeout."""
        return self.wait_until(lambda got: len(got) >= count, timeout, f"{count} messages")

    def wait_until(
        self,
        condition: Callable[[list[Received]], bool],
        timeout: float = CLIENT_TIMEOUT,
        what: str = "the expected messages",
    ) -> list[Received]:
        """Block until ``condition(received)`` holds; all received so far. Raises on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: condition(self._received), timeout):
                raise TimeoutError(
                    f"no {what} on {self.topic!r} within {timeout:g} s"
                    f" ({len(self._received)} received)"
                )
            return list(self._received)

    @property
    def received(self) -> list[Received]:
        with self._cond:
            return list(self._received)

    def clear(self) -> None:
        with self._cond:
            self._received.clear()

    def ack(self, messages: Iterable[Received]) -> None:
        for msg in messages:
            self.client.ack(msg.mid, msg.qos)

    def stop(self, *, clean: bool = True) -> None:
        """Disconnect (``clean=False``: drop the connection without a DISCONNECT packet)."""
        if clean:
            self.client.disconnect()
            self.client.loop_stop()
        else:
            self.client.loop_stop()  # first, or paho's loop would reconnect
            sock = self.client.socket()
            if sock is not None:
                sock.close()

    def __enter__(self) -> Subscriber:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def publish(
    address: BrokerAddress,
    topic: str,
    payloads: Sequence[bytes],
    *,
    qos: int = 1,
    client_id: str = "",
    timeout: float = CLIENT_TIMEOUT,
) -> None:
    """Publish ``payloads`` in order and return once every one has been sent (QoS 0) or
    acknowledged by the broker (QoS 1)."""
    client = address.client(client_id)
    connect(client, address, timeout)
    client.loop_start()
    try:
        infos = [client.publish(topic, payload, qos=qos) for payload in payloads]
        deadline = time.monotonic() + timeout
        for info in infos:
            if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
                raise RuntimeError(f"publish to {topic!r} failed: {info.rc.name}")
            info.wait_for_publish(max(deadline - time.monotonic(), 0.001))
            if not info.is_published():
                raise TimeoutError(f"message {info.mid} to {topic!r} not published in {timeout} s")
    finally:
        client.disconnect()
        client.loop_stop()


def numbered(n: int, prefix: str = "m") -> list[bytes]:
    """``[b"m0", b"m1", ...]``: payloads whose order and completeness are easy to check."""
    return [f"{prefix}{i}".encode() for i in range(n)]
