"""Every part with threads of its own follows one protocol (:class:`Component`): ``start``,
``stop`` and ``stats``, each callable without arguments."""

from __future__ import annotations

import inspect

import pytest

from logger.capture.batch_writer import BatchWriter
from logger.capture.exchange import Exchange
from logger.capture.ringbus import Ringbus
from logger.core.lifecycle import Component
from logger.gateway.batch_publisher import BatchPublisher
from logger.gateway.bus_reader import BusReader
from logger.gateway.gateway import Gateway
from logger.gateway.spi_publisher import SpiPublisher
from logger.mqtt.broker import EmbeddedBroker
from logger.query.channel import ChannelServer
from logger.service.service import Service

#: Checked by mypy: each class's instances are Components.
PARTS: list[type[Component[object]]] = [
    Service,
    EmbeddedBroker,
    ChannelServer,
    Exchange,
    Ringbus,
    BatchWriter,
    Gateway,
    BusReader,
    BatchPublisher,
    SpiPublisher,
]


@pytest.mark.parametrize("part", PARTS, ids=lambda c: c.__name__)
def test_start_stop_and_stats_take_no_arguments(part: type[object]) -> None:
    for name in ("start", "stop", "stats"):
        method = getattr(part, name, None)
        assert callable(method), f"{part.__name__} has no {name}()"
        required = [
            p
            for p in list(inspect.signature(method).parameters.values())[1:]
            if p.default is inspect.Parameter.empty
            and p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        ]
        assert required == [], f"{part.__name__}.{name} requires {[p.name for p in required]}"
