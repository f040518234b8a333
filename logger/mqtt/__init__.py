"""The MQTT client set-up and the embedded broker."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.mqtt.broker import EmbeddedBroker
    from logger.mqtt.client import connect_with_backoff, make_client, protocol_for

__all__ = ["EmbeddedBroker", "connect_with_backoff", "make_client", "protocol_for"]

__getattr__ = lazy_exports(
    __name__,
    {
        "make_client": "logger.mqtt.client",
        "connect_with_backoff": "logger.mqtt.client",
        "protocol_for": "logger.mqtt.client",
        "EmbeddedBroker": "logger.mqtt.broker",
    },
)
