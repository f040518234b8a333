"""Shared fixtures: MQTT brokers (a real Mosquitto, the embedded amqtt broker, or either).

``any_broker`` runs a test once per broker kind; restrict it with
``@pytest.mark.parametrize("any_broker", ["mosquitto"], indirect=True)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from logger.broker import EmbeddedBroker
from tests.brokers import BrokerAddress, MosquittoProcess

BROKER_KINDS = ("mosquitto", "embedded")


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoProcess]:
    """A fresh Mosquitto for one test (no sessions left over from other tests)."""
    with MosquittoProcess(tmp_path / "mosquitto") as broker:
        yield broker


@pytest.fixture(scope="session")
def mosquitto_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoProcess]:
    """One Mosquitto shared by the whole run: use unique topics and client ids."""
    with MosquittoProcess(tmp_path_factory.mktemp("mosquitto")) as broker:
        yield broker


@pytest.fixture
def embedded_broker() -> Iterator[EmbeddedBroker]:
    """The embedded amqtt broker on a free loopback port."""
    with EmbeddedBroker() as broker:
        yield broker


@pytest.fixture(params=BROKER_KINDS)
def any_broker(request: pytest.FixtureRequest) -> BrokerAddress:
    """Each broker kind in turn, as an address (``.url``, ``.host``, ``.port``, ``.client()``)."""
    kind = request.param
    if kind == "mosquitto":
        broker: MosquittoProcess = request.getfixturevalue("mosquitto")
        return broker.address
    if kind == "embedded":
        embedded: EmbeddedBroker = request.getfixturevalue("embedded_broker")
        return BrokerAddress("embedded", embedded.host, embedded.port)
    raise ValueError(f"unknown broker kind {kind!r}; expected one of {BROKER_KINDS}")
