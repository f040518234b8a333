"""What every stage shares: errors, configuration, messages and keys, the query grammar."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.core.command import Command, parse_command
    from logger.core.config import (
        BrokerConfig,
        BusConfig,
        Config,
        EncryptionConfig,
        ExchangeConfig,
        GatewayConfig,
        LimitsConfig,
        ParquetConfig,
        QueryConfig,
        RingbusConfig,
        load_config,
        parse_config,
    )
    from logger.core.errors import (
        BrokerError,
        Code,
        CommandError,
        ConfigError,
        EncryptionError,
        PayloadError,
        PluginError,
        QueryError,
        SdvLoggerError,
        ServiceError,
        StoreError,
        StoreReadError,
        StoreWriteError,
    )
    from logger.core.message import MessageBatch
    from logger.core.stream_ids import BUILTIN_STREAMS

__all__ = [
    "BUILTIN_STREAMS",
    "BrokerConfig",
    "BrokerError",
    "BusConfig",
    "Code",
    "Command",
    "CommandError",
    "Config",
    "ConfigError",
    "EncryptionConfig",
    "EncryptionError",
    "ExchangeConfig",
    "GatewayConfig",
    "LimitsConfig",
    "MessageBatch",
    "ParquetConfig",
    "PayloadError",
    "PluginError",
    "QueryConfig",
    "QueryError",
    "RingbusConfig",
    "SdvLoggerError",
    "ServiceError",
    "StoreError",
    "StoreReadError",
    "StoreWriteError",
    "load_config",
    "parse_command",
    "parse_config",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "SdvLoggerError": "logger.core.errors",
        "ConfigError": "logger.core.errors",
        "BrokerError": "logger.core.errors",
        "PluginError": "logger.core.errors",
        "PayloadError": "logger.core.errors",
        "StoreError": "logger.core.errors",
        "StoreWriteError": "logger.core.errors",
        "StoreReadError": "logger.core.errors",
        "EncryptionError": "logger.core.errors",
        "QueryError": "logger.core.errors",
        "CommandError": "logger.core.errors",
        "ServiceError": "logger.core.errors",
        "Code": "logger.core.errors",
        "Config": "logger.core.config",
        "BrokerConfig": "logger.core.config",
        "BusConfig": "logger.core.config",
        "GatewayConfig": "logger.core.config",
        "ExchangeConfig": "logger.core.config",
        "RingbusConfig": "logger.core.config",
        "ParquetConfig": "logger.core.config",
        "EncryptionConfig": "logger.core.config",
        "LimitsConfig": "logger.core.config",
        "QueryConfig": "logger.core.config",
        "load_config": "logger.core.config",
        "parse_config": "logger.core.config",
        "MessageBatch": "logger.core.message",
        "Command": "logger.core.command",
        "parse_command": "logger.core.command",
        "BUILTIN_STREAMS": "logger.core.stream_ids",
    },
)
