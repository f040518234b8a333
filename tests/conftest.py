"""Shared fixtures: MQTT brokers (a real Mosquitto, the embedded amqtt broker, or either).

``any_broker`` runs a test once per broker kind; restrict it with
``@pytest.mark.parametrize("any_broker", ["mosquitto"], indirect=True)``.

Tests marked ``vcan`` need a kernel with SocketCAN (vcan interfaces they make themselves). Where
this kernel cannot make one (no CAN, or no privilege), a plain run deselects them and says so at
the end; asking for them (``-m vcan``) there is an error, not a skip: run them through the VM
runner, ``.venv/bin/python -m hw.testbed.vm .venv/bin/python -m pytest -m vcan tests/hw/vcan`` (they all
live in tests/hw/vcan, so that the run imports nothing else).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt_clients import BrokerAddress

if TYPE_CHECKING:  # imported by the fixture: a run that needs no embedded broker loads none
    from logger.mqtt.broker import EmbeddedBroker

BROKER_KINDS = ("mosquitto", "embedded")
VCAN_RUN = ".venv/bin/python -m hw.testbed.vm .venv/bin/python -m pytest -m vcan tests/hw/vcan"
_vcan_deselected = pytest.StashKey[tuple[int, str]]()


@pytest.hookimpl(trylast=True)  # after -m and -k have deselected what they do
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect ``vcan`` tests where this kernel has no SocketCAN; an error if they were asked for."""
    vcan = [item for item in items if item.get_closest_marker("vcan") is not None]
    if not vcan:
        return
    from hw.testbed.vcan import can_support  # noqa: PLC0415 - pyroute2 only when vcan tests are collected

    why = can_support()
    if why is None:
        return
    if "vcan" in (config.getoption("markexpr", "") or ""):
        raise pytest.UsageError(
            f"-m vcan: this kernel cannot run the SocketCAN tests ({why}); run them with {VCAN_RUN}"
        )
    chosen = set(vcan)
    items[:] = [item for item in items if item not in chosen]
    config.hook.pytest_deselected(items=vcan)
    config.stash[_vcan_deselected] = (len(vcan), why)


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, config: pytest.Config
) -> None:
    if _vcan_deselected in config.stash:
        count, why = config.stash[_vcan_deselected]
        terminalreporter.write_line(
            f"{count} vcan test(s) deselected: no SocketCAN in this kernel ({why}); "
            f"run them with {VCAN_RUN}",
            yellow=True,
        )


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
    from logger.mqtt.broker import EmbeddedBroker  # noqa: PLC0415 - amqtt only for the tests using it

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
