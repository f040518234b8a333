"""Capture: the exchange beside every other subscriber, its bounded ring, and the batch writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.capture.batch_writer import BatchWriter
    from logger.capture.exchange import Exchange
    from logger.capture.ringbus import Ringbus
    from logger.capture.source import Delivery, Endpoint, MessageSource, MqttSource

__all__ = [
    "BatchWriter",
    "Delivery",
    "Endpoint",
    "Exchange",
    "MessageSource",
    "MqttSource",
    "Ringbus",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Exchange": "logger.capture.exchange",
        "Endpoint": "logger.capture.source",
        "Delivery": "logger.capture.source",
        "MessageSource": "logger.capture.source",
        "MqttSource": "logger.capture.source",
        "Ringbus": "logger.capture.ringbus",
        "BatchWriter": "logger.capture.batch_writer",
    },
)
