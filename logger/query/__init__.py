"""Queries: answers over files, pending batches and the ring, the NNG channel and its client."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.query.answer import Answerer, StoreSource
    from logger.query.channel import ChannelServer, ChannelStats, QueryService
    from logger.query.client import Reply

__all__ = ["Answerer", "ChannelServer", "ChannelStats", "QueryService", "Reply", "StoreSource"]

__getattr__ = lazy_exports(
    __name__,
    {
        "Answerer": "logger.query.answer",
        "StoreSource": "logger.query.answer",
        "ChannelServer": "logger.query.channel",
        "QueryService": "logger.query.channel",
        "ChannelStats": "logger.query.channel",
        "Reply": "logger.query.client",
    },
)
