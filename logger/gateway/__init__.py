"""The gateway: CAN buses read in batches and published to the broker, and SPI publishing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.gateway.bus_stats import BusStats, GatewayStats
    from logger.gateway.gateway import Gateway

__all__ = ["BusStats", "Gateway", "GatewayStats"]

__getattr__ = lazy_exports(
    __name__,
    {
        "Gateway": "logger.gateway.gateway",
        "BusStats": "logger.gateway.bus_stats",
        "GatewayStats": "logger.gateway.bus_stats",
    },
)
