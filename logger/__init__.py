"""sdv-logger: an edge logger for CAN-bus and software-defined vehicles (MQTT side-capture to
crash-safe Parquet, with queries). The names most programs need; each sub-package has its own."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.core.config import Config, load_config
    from logger.core.errors import Code, ConfigError, QueryError, SdvLoggerError
    from logger.query.client import Reply
    from logger.service.service import Service

__all__ = [
    "Code",
    "Config",
    "ConfigError",
    "QueryError",
    "Reply",
    "SdvLoggerError",
    "Service",
    "load_config",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "Config": "logger.core.config",
        "load_config": "logger.core.config",
        "SdvLoggerError": "logger.core.errors",
        "ConfigError": "logger.core.errors",
        "QueryError": "logger.core.errors",
        "Code": "logger.core.errors",
        "Service": "logger.service.service",
        "Reply": "logger.query.client",
    },
)
