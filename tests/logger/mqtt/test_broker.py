"""Brokers and MQTT clients: the Mosquitto fixture, the embedded amqtt broker, make_client and
connect_with_backoff, and the broker behaviour the Durability contract relies on."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from paho.mqtt.enums import MQTTProtocolVersion

from logger.core.config import BrokerConfig
from logger.core.errors import BrokerError
from logger.mqtt.broker import EmbeddedBroker
from logger.mqtt.client import MQTTv5, MQTTv311, connect_with_backoff, make_client, protocol_for
from tests.support import mosquitto as mosquitto_support
from tests.support.mosquitto import MosquittoProcess, make_tls_files
from tests.support.mqtt_clients import BrokerAddress, BrokerKind, Subscriber, numbered, publish
from tests.support.ports import LOOPBACK, free_port, port_open

pytestmark = pytest.mark.timeout(60)


class WarningSignal(logging.Handler):
    """Sets :attr:`event` when a record of WARNING or above is logged; keeps the records."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.event = threading.Event()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.event.set()


@pytest.fixture
def mqtt_warnings() -> Iterator[WarningSignal]:
    handler = WarningSignal()
    log = logging.getLogger("logger.mqtt.client")
    log.addHandler(handler)
    try:
        yield handler
    finally:
        log.removeHandler(handler)


# --- round trips -------------------------------------------------------------------------------


@pytest.mark.parametrize("qos", [0, 1])
def test_publish_subscribe_round_trip(any_broker: BrokerAddress, qos: int) -> None:
    payloads = numbered(50)
    with Subscriber(any_broker, "vehicle/+/canp/#", qos=qos) as sub:
        publish(any_broker, "vehicle/V1/canp/can0", payloads, qos=qos)
        got = sub.wait_for(len(payloads))
    assert [m.payload for m in got] == payloads
    assert {m.topic for m in got} == {"vehicle/V1/canp/can0"}
    assert {m.qos for m in got} == {qos}


def test_mosquitto_fixture_listens_on_loopback(mosquitto: MosquittoProcess) -> None:
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    assert port_open(LOOPBACK, mosquitto.port)
    assert "max_inflight_messages 0" in mosquitto.config_text()


def test_missing_mosquitto_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(mosquitto_support, "_MOSQUITTO_PATHS", ())
    with pytest.raises(mosquitto_support.MosquittoMissingError, match=r"tools/setup\.sh"):
        MosquittoProcess(tmp_path).start()


def test_mosquitto_session_fixture_round_trip(mosquitto_session: MosquittoProcess) -> None:
    address = mosquitto_session.address
    with Subscriber(address, "session-fixture/t", client_id="session-fixture-sub") as sub:
        publish(address, "session-fixture/t", [b"hello"])
        assert [m.payload for m in sub.wait_for(1)] == [b"hello"]


# --- persistent sessions and redelivery ------------------------------------------------------


def test_persistent_session_queues_messages_while_offline(any_broker: BrokerAddress) -> None:
    topic = "vehicle/V1/spi/s1"
    first = Subscriber(any_broker, topic, client_id="exchange-offline", clean_start=False).start()
    assert first.session_present is False
    first.stop()
    publish(any_broker, topic, numbered(20))
    with Subscriber(any_broker, topic, client_id="exchange-offline", clean_start=False) as again:
        assert again.session_present is True
        got = again.wait_for(20)
    assert [m.payload for m in got] == numbered(20)


def test_unacknowledged_messages_after_a_crash(any_broker: BrokerAddress) -> None:
    """Mosquitto redelivers what was in flight unacknowledged; amqtt forgets it (known limit)."""
    topic = "vehicle/V1/canp/can1"
    crashed = Subscriber(
        any_broker, topic, client_id="exchange-crash", clean_start=False, manual_ack=True
    ).start()
    publish(any_broker, topic, numbered(30))
    assert len(crashed.wait_for(30)) == 30
    crashed.stop(clean=False)  # no PUBACK, no DISCONNECT: as if the process died

    with Subscriber(any_broker, topic, client_id="exchange-crash", clean_start=False) as again:
        # Redelivery happens right after CONNACK, so it precedes a message published now.
        publish(any_broker, topic, [b"marker"])
        got = again.wait_until(lambda got: any(m.payload == b"marker" for m in got))
    redelivered = [m for m in got if m.payload != b"marker"]
    if any_broker.kind == "mosquitto":
        assert [m.payload for m in redelivered] == numbered(30)
        assert all(m.dup for m in redelivered)
    else:
        assert redelivered == []
    assert got[-1].payload == b"marker"


@pytest.mark.parametrize("protocol", [MQTTv311, MQTTv5], ids=["mqtt311", "mqtt5"])
def test_mosquitto_allows_a_wide_unacknowledged_window(
    mosquitto: MosquittoProcess, protocol: MQTTProtocolVersion
) -> None:
    """max_inflight_messages 0: far more than the default 20 messages in flight unacknowledged."""
    address = mosquitto.address
    with Subscriber(address, "wide/#", manual_ack=True, protocol=protocol) as sub:
        publish(address, "wide/t", numbered(500))
        got = sub.wait_for(500)
        sub.ack(got)
    assert [m.payload for m in got] == numbered(500)


# --- the embedded broker ------------------------------------------------------------------------


def test_embedded_broker_stop_frees_the_port() -> None:
    broker = EmbeddedBroker()
    broker.start()
    port = broker.port
    address = BrokerAddress("embedded", LOOPBACK, port)
    with Subscriber(address, "t") as sub:
        publish(address, "t", [b"x"])
        sub.wait_for(1)
    broker.stop()
    assert not broker.running
    assert not port_open(LOOPBACK, port)
    with socket.socket() as sock:  # nobody listens there any more (TIME_WAIT is no listener)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen()
    with EmbeddedBroker(port=port) as again:
        assert again.port == port
        assert port_open(LOOPBACK, port)


def test_embedded_broker_on_a_taken_port_is_a_broker_error() -> None:
    with socket.socket() as holder:
        holder.bind((LOOPBACK, 0))
        holder.listen()
        port = holder.getsockname()[1]
        broker = EmbeddedBroker(port=port)
        with pytest.raises(BrokerError, match=str(port)):
            broker.start()
        assert not broker.running


def test_embedded_broker_port_zero_is_resolved_by_start() -> None:
    broker = EmbeddedBroker()
    with pytest.raises(BrokerError, match="port 0"):
        _ = broker.port
    with broker:
        assert broker.port > 0
        assert broker.url == f"mqtt://127.0.0.1:{broker.port}"
    broker.stop()  # stopping twice is harmless


def test_mqtt5_to_the_embedded_broker_is_a_clear_error() -> None:
    cfg = BrokerConfig(url="embedded")
    assert protocol_for(cfg) == MQTTv311
    assert protocol_for(BrokerConfig(url="mqtt://127.0.0.1:1883")) == MQTTv5
    with pytest.raises(BrokerError, match=r"3\.1\.1"):
        make_client(cfg, "v5", clean_start=True, protocol=MQTTv5)


# --- make_client ---------------------------------------------------------------------------------


def test_missing_password_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SDVLOG_TEST_MQTT_PASSWORD", raising=False)
    cfg = BrokerConfig(
        url="mqtt://127.0.0.1:1883", username="logger", password_env="SDVLOG_TEST_MQTT_PASSWORD"
    )
    with pytest.raises(BrokerError, match="SDVLOG_TEST_MQTT_PASSWORD"):
        make_client(cfg, "c", clean_start=True)


def test_password_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with MosquittoProcess(tmp_path, users={"logger": "s3cret"}) as broker:
        cfg = BrokerConfig(url=broker.url, username="logger", password_env="SDVLOG_TEST_PW")
        monkeypatch.setenv("SDVLOG_TEST_PW", "s3cret")
        good = make_client(cfg, "good", clean_start=True)
        assert connect_with_backoff(good, cfg, threading.Event())
        good.disconnect()

        monkeypatch.setenv("SDVLOG_TEST_PW", "wrong")
        bad = make_client(cfg, "bad", clean_start=True)
        with pytest.raises(BrokerError, match="refused"):
            connect_with_backoff(bad, cfg, threading.Event())


def test_persistent_session_needs_a_client_id() -> None:
    with pytest.raises(BrokerError, match="client id"):
        make_client(BrokerConfig(url="mqtt://127.0.0.1:1883"), "", clean_start=False)


def test_tls_round_trip(tmp_path: Path) -> None:
    tls = make_tls_files(tmp_path / "pki")
    with MosquittoProcess(tmp_path / "mosquitto", tls=tls) as broker:
        address = broker.address
        assert address.url.startswith("mqtts://")
        with Subscriber(address, "secure/t") as sub:
            publish(address, "secure/t", numbered(5))
            assert [m.payload for m in sub.wait_for(5)] == numbered(5)


def test_tls_with_a_missing_ca_file_is_a_broker_error(tmp_path: Path) -> None:
    cfg = BrokerConfig(url="mqtts://127.0.0.1:8883", tls_ca=tmp_path / "nope.crt")
    with pytest.raises(BrokerError, match="tls_ca"):
        make_client(cfg, "c", clean_start=True)


# --- connect_with_backoff ------------------------------------------------------------------------


def test_backoff_warns_and_returns_when_stopped(mqtt_warnings: WarningSignal) -> None:
    port = free_port()
    cfg = BrokerConfig(url=f"mqtt://127.0.0.1:{port}")
    client = make_client(cfg, "backoff", clean_start=True, protocol=MQTTv311)
    stop = threading.Event()

    def stop_after_first_warning() -> None:
        if mqtt_warnings.event.wait(30):
            stop.set()

    stopper = threading.Thread(target=stop_after_first_warning, daemon=True)
    stopper.start()
    started = time.monotonic()
    # A long back-off: returning well before it elapses shows that `stop` cuts the wait short.
    assert connect_with_backoff(client, cfg, stop, initial_delay=30.0) is False
    assert time.monotonic() - started < 20.0
    stopper.join(5)
    message = mqtt_warnings.records[0].getMessage()
    assert f"mqtt://127.0.0.1:{port}" in message
    assert "attempt 1" in message


@pytest.mark.parametrize("kind", ["mosquitto", "embedded"])
def test_backoff_connects_once_the_broker_appears(
    kind: BrokerKind, tmp_path: Path, mqtt_warnings: WarningSignal
) -> None:
    port = free_port()
    address = BrokerAddress(kind, LOOPBACK, port)
    client = address.client("late-comer")
    stop = threading.Event()
    result: list[bool] = []
    worker = threading.Thread(
        target=lambda: result.append(connect_with_backoff(client, address.broker_config(), stop)),
        daemon=True,
    )
    worker.start()
    with contextlib.ExitStack() as stack:
        try:
            assert mqtt_warnings.event.wait(30), "no warning while the broker was missing"
            if kind == "mosquitto":
                stack.enter_context(MosquittoProcess(tmp_path, port=port))
            else:
                stack.enter_context(EmbeddedBroker(port=port))
            worker.join(30)
        finally:
            stop.set()
            worker.join(5)
        assert result == [True]
        assert client.is_connected()
        client.disconnect()
