"""What a bus reader hands the gateway's publisher: one CANP payload of a bus's frames."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from logger.gateway.bus_reader import BusReader


@dataclass(frozen=True)
class Batch:
    """One CANP payload of ``frames`` frames read by ``reader``. An SPI batch
    (:mod:`logger.gateway.spi_publisher`) has ``frames`` 0 (no backlog), its own ``topic``, and ``done``,
    called under the gateway's lock when the broker confirmed it."""

    reader: BusReader
    payload: bytes
    frames: int
    topic: str | None = None
    done: Callable[[], None] | None = None
