"""Stream plugins: the base class, the registry, and RAW."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.streams.plugin import Query, StreamPlugin
    from logger.streams.raw import RawPlugin
    from logger.streams.registry import PluginRegistry

__all__ = ["PluginRegistry", "Query", "RawPlugin", "StreamPlugin"]

__getattr__ = lazy_exports(
    __name__,
    {
        "StreamPlugin": "logger.streams.plugin",
        "Query": "logger.streams.plugin",
        "PluginRegistry": "logger.streams.registry",
        "RawPlugin": "logger.streams.raw",
    },
)
