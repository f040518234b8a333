"""paho-mqtt 2.x clients made from :class:`~logger.core.config.BrokerConfig`.

:func:`make_client` builds a configured but unconnected client (callback API version 2, TLS for
``mqtts://``, user name and a password read from the environment, the broker's address, the
clean-start flag and the MQTT 5 CONNECT properties). :func:`connect_with_backoff` then connects it,
retrying with exponential back-off while the broker is unreachable, until it is connected or told
to stop; after that ``client.loop_start()`` keeps the connection (paho reconnects by itself).

The embedded broker (amqtt) speaks MQTT 3.1.1 only: use ``protocol=MQTTv311`` with it.
"""

from __future__ import annotations

import logging
import os
import ssl
import threading
import time
from typing import cast

from paho.mqtt.client import CallbackOnConnect_v2, Client, ConnectFlags
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from logger.core.config import BrokerConfig
from logger.core.errors import BrokerError, ConfigError

_log = logging.getLogger(__name__)

MQTTv311 = MQTTProtocolVersion.MQTTv311
MQTTv5 = MQTTProtocolVersion.MQTTv5

SESSION_NEVER_EXPIRES = 0xFFFFFFFF
"""MQTT 5 session expiry interval meaning "keep the session (and its queue) for ever"."""

DEFAULT_KEEPALIVE = 30
INITIAL_DELAY = 0.2
MAX_DELAY = 10.0
CONNACK_TIMEOUT = 10.0

# CONNACK reasons that retrying cannot cure: the configuration or the broker must change.
_PERMANENT_REFUSALS = frozenset(
    {
        0x84,  # unsupported protocol version
        0x85,  # client identifier not valid
        0x86,  # bad user name or password
        0x87,  # not authorized
        0x8A,  # banned
        0x8C,  # bad authentication method
    }
)
_UNSUPPORTED_PROTOCOL = 0x84


def connect_properties(
    *,
    clean_start: bool,
    receive_maximum: int | None = None,
    session_expiry: int | None = None,
) -> Properties:
    """MQTT 5 CONNECT properties.

    ``session_expiry`` defaults to :data:`SESSION_NEVER_EXPIRES` for a persistent session
    (``clean_start=False``) and to 0 (ends with the connection) for a clean one.
    ``receive_maximum`` (1..65535) is how many QoS 1/2 messages the broker may have in flight to
    us unacknowledged; None leaves the protocol default (65535).
    """
    if session_expiry is None:
        session_expiry = 0 if clean_start else SESSION_NEVER_EXPIRES
    if not 0 <= session_expiry <= SESSION_NEVER_EXPIRES:
        raise BrokerError(
            f"session expiry must be 0..{SESSION_NEVER_EXPIRES}, got {session_expiry}"
        )
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]  # paho: untyped
    props.SessionExpiryInterval = session_expiry
    if receive_maximum is not None:
        if not 1 <= receive_maximum <= 65535:
            raise BrokerError(f"receive maximum must be 1..65535, got {receive_maximum}")
        props.ReceiveMaximum = receive_maximum
    return props


def protocol_for(cfg: BrokerConfig) -> MQTTProtocolVersion:
    """The MQTT version to speak to the broker of ``cfg``: 3.1.1 to the embedded one, else 5."""
    return MQTTv311 if cfg.embedded else MQTTv5


def make_client(
    cfg: BrokerConfig,
    client_id: str,
    *,
    clean_start: bool,
    manual_ack: bool = False,
    protocol: MQTTProtocolVersion | None = None,
    receive_maximum: int | None = None,
    session_expiry: int | None = None,
    host: str | None = None,
    port: int | None = None,
    keepalive: int = DEFAULT_KEEPALIVE,
    max_inflight: int | None = None,
) -> Client:
    """A paho client for the broker of ``cfg``, configured but not yet connected.

    ``protocol`` defaults to :func:`protocol_for`; the embedded broker refuses MQTT 5.
    ``host`` / ``port`` override the address in ``cfg`` (an embedded broker on a port of its own).
    ``clean_start=False`` asks for a persistent session (``clean_session=False`` in MQTT 3.1.1),
    which needs a stable ``client_id``. ``receive_maximum`` and ``session_expiry`` are MQTT 5 only
    and ignored for 3.1.1. ``max_inflight`` is how many QoS 1/2 messages paho keeps in flight
    unconfirmed (paho's ``max_inflight_messages``, 0: no limit; None leaves paho's default, 20):
    it is set here because paho refuses to change it once ``connect_async()`` ran. Raises
    :class:`BrokerError` for a password variable that is not set, TLS files that cannot be loaded
    or a negative ``max_inflight``.
    """
    if protocol is None:
        protocol = protocol_for(cfg)
    if protocol not in (MQTTv311, MQTTv5):
        raise BrokerError(f"unsupported MQTT protocol version {protocol!r}: use MQTTv311 or MQTTv5")
    if cfg.embedded and protocol == MQTTv5:
        # amqtt does not even answer an MQTT 5 CONNECT with properties: it waits for more bytes.
        raise BrokerError("the embedded broker (amqtt) speaks MQTT 3.1.1 only, not MQTT 5")
    if not clean_start and not client_id:
        raise BrokerError("a persistent MQTT session (clean_start=False) needs a client id")
    if max_inflight is not None and max_inflight < 0:
        raise BrokerError(f"max inflight messages must be 0 or more, got {max_inflight}")
    if protocol == MQTTv5:
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=protocol,
            manual_ack=manual_ack,
        )
    else:
        client = Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=clean_start,
            protocol=protocol,
            manual_ack=manual_ack,
        )
    client.enable_logger(logging.getLogger(f"{__name__}.paho"))
    client.reconnect_delay_set(min_delay=1, max_delay=int(MAX_DELAY))
    _set_credentials(client, cfg)
    if cfg.tls:
        _set_tls(client, cfg)
    if max_inflight is not None:
        client.max_inflight_messages_set(max_inflight)  # before connect_async(): paho insists
    if protocol == MQTTv5:
        client.connect_async(
            host or cfg.host,
            port or cfg.port,
            keepalive,
            clean_start=clean_start,
            properties=connect_properties(
                clean_start=clean_start,
                receive_maximum=receive_maximum,
                session_expiry=session_expiry,
            ),
        )
    else:
        client.connect_async(host or cfg.host, port or cfg.port, keepalive)
    return client


def _set_credentials(client: Client, cfg: BrokerConfig) -> None:
    password: str | None = None
    if cfg.password_env is not None:
        password = os.environ.get(cfg.password_env)
        if password is None:
            raise BrokerError(
                f"broker.password_env: environment variable {cfg.password_env} is not set"
            )
    if cfg.username is not None or password is not None:
        client.username_pw_set(cfg.username, password)


def _set_tls(client: Client, cfg: BrokerConfig) -> None:
    ca = str(cfg.tls_ca) if cfg.tls_ca is not None else None
    cert = str(cfg.tls_cert) if cfg.tls_cert is not None else None
    key = str(cfg.tls_key) if cfg.tls_key is not None else None
    if key is not None and cert is None:
        raise BrokerError("broker.tls_key is given without broker.tls_cert")
    try:
        client.tls_set(ca_certs=ca, certfile=cert, keyfile=key)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise BrokerError(f"broker TLS files (tls_ca / tls_cert / tls_key): {exc}") from exc


def publish_topic(key: str, template: str, **fields: str) -> str:
    """``template`` (config key ``key``) with ``fields`` filled in: a topic one can publish to.

    ConfigError names ``key`` when the template names other fields or the topic is empty or holds
    a wildcard (``+``, ``#``) or NUL.
    """
    try:
        topic = template.format(**fields)
    except (KeyError, IndexError, ValueError) as exc:
        names = " and ".join(f"{{{name}}}" for name in fields)
        raise ConfigError(key, f"only {names} may be filled in, got {template!r}") from exc
    if not topic or any(c in topic for c in "+#\0"):
        filled = ", ".join(f"{name} {value!r}" for name, value in fields.items())
        raise ConfigError(key, f"{topic!r} ({filled}) is not a topic one can publish to")
    return topic


def describe(cfg: BrokerConfig, client: Client) -> str:
    """How log messages name the broker a client talks to."""
    if cfg.embedded:
        return f"embedded broker (mqtt://{client.host}:{client.port})"
    scheme = "mqtts" if cfg.tls else "mqtt"
    configured = f"{scheme}://{cfg.host}:{cfg.port}"
    actual = f"{scheme}://{client.host}:{client.port}"
    return configured if configured == actual else f"{cfg.url} (at {actual})"


def connect_with_backoff(
    client: Client,
    cfg: BrokerConfig,
    stop: threading.Event,
    *,
    initial_delay: float = INITIAL_DELAY,
    max_delay: float = MAX_DELAY,
    connack_timeout: float = CONNACK_TIMEOUT,
) -> bool:
    """Connect ``client`` (made by :func:`make_client`) and wait for the broker's CONNACK.

    While the broker cannot be reached or does not answer, log a warning naming it and retry after
    ``initial_delay`` seconds, doubling up to ``max_delay``. Returns True once connected (the
    client's ``on_connect`` has run; start its network loop next) and False as soon as ``stop`` is
    set. A refusal that retrying cannot cure (bad credentials, not authorized, protocol version)
    raises :class:`BrokerError`. Call it before ``loop_start()``, from one thread.
    """
    where = describe(cfg, client)
    delay = initial_delay
    attempt = 0
    while not stop.is_set():
        attempt += 1
        problem = _try_connect(client, where, stop, connack_timeout)
        if problem is None:
            if attempt > 1:
                _log.info("connected to MQTT broker %s after %d attempts", where, attempt)
            else:
                _log.debug("connected to MQTT broker %s", where)
            return True
        if stop.is_set():
            break
        _log.warning(
            "cannot connect to MQTT broker %s (attempt %d): %s; retrying in %.1f s",
            where,
            attempt,
            problem,
            delay,
        )
        if stop.wait(delay):
            break
        delay = min(delay * 2, max_delay)
    _log.info("gave up connecting to MQTT broker %s: stopping", where)
    return False


def _try_connect(client: Client, where: str, stop: threading.Event, timeout: float) -> str | None:
    """One attempt: None when connected, else what went wrong (raise when retrying is useless)."""
    try:
        rc = client.reconnect()
    except OSError as exc:  # refused, unreachable, timed out, TLS handshake failed
        _close_quietly(client)
        return str(exc) or type(exc).__name__
    except ValueError as exc:
        raise BrokerError(f"MQTT broker {where}: {exc}") from exc
    if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
        _close_quietly(client)
        return f"sending CONNECT failed ({rc.name})"
    return _await_connack(client, where, stop, timeout)


def _await_connack(client: Client, where: str, stop: threading.Event, timeout: float) -> str | None:
    """Run the network loop in this thread until the CONNACK is handled."""
    reasons: list[ReasonCode] = []
    user_on_connect = cast(CallbackOnConnect_v2 | None, client.on_connect)

    def record(
        c: Client,
        userdata: object,
        flags: ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        reasons.append(reason)
        if user_on_connect is not None:
            user_on_connect(c, userdata, flags, reason, props)

    client.on_connect = record
    try:
        deadline = time.monotonic() + timeout
        while not client.is_connected() and not reasons:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or stop.is_set():
                _close_quietly(client)
                return f"no CONNACK within {timeout:g} s"
            rc = client.loop(timeout=min(remaining, 0.1))
            if rc != MQTTErrorCode.MQTT_ERR_SUCCESS and not reasons:
                _close_quietly(client)
                return f"connection lost before CONNACK ({rc.name})"
    finally:
        client.on_connect = user_on_connect
    if client.is_connected():
        return None
    reason = reasons[0]
    _close_quietly(client)
    if reason.value in _PERMANENT_REFUSALS:
        hint = ""
        if reason.value == _UNSUPPORTED_PROTOCOL:
            hint = " (it may speak MQTT 3.1.1 only: connect with MQTTv311)"
        raise BrokerError(f"MQTT broker {where} refused the connection: {reason}{hint}")
    return f"refused: {reason}"


def _close_quietly(client: Client) -> None:
    """Drop a half-open connection so the next attempt starts clean."""
    try:
        client.disconnect()
    except (OSError, ValueError) as exc:
        _log.debug("closing a failed MQTT connection: %s", exc)
