"""Capture: the exchange beside every other subscriber, its bounded ring, and the batch writer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.capture.batch_writer import BatchWriter
    from logger.capture.exchange import Endpoint, Exchange
    from logger.capture.ringbus import Ringbus

__all__ = ["BatchWriter", "Endpoint", "Exchange", "Ringbus"]

__getattr__ = lazy_exports(
    __name__,
    {
        "Exchange": "logger.capture.exchange",
        "Endpoint": "logger.capture.exchange",
        "Ringbus": "logger.capture.ringbus",
        "BatchWriter": "logger.capture.batch_writer",
    },
)
