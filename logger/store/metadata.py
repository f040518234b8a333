"""The key-value metadata every Parquet file of an exchange carries: where its rows came from and
how the stream that wrote them stores them (``sdvlog.*`` keys, UTF-8 text)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from logger.core.config import Config, ExchangeConfig

__all__ = ["TableSource", "file_metadata"]


class TableSource(Protocol):
    """What the metadata says of the stream plugin that encodes an exchange's tables."""

    @property
    def name(self) -> str: ...
    @property
    def id(self) -> int: ...
    @property
    def schema_version(self) -> int: ...
    @property
    def time_unit(self) -> str: ...
    def metadata(self) -> Mapping[str, str]: ...


def file_metadata(cfg: Config, ex: ExchangeConfig, plugin: TableSource) -> dict[str, str]:
    """The ``sdvlog.*`` metadata of ``ex``'s files, with the plugin's own keys."""
    meta = {
        "sdvlog.vin": cfg.vin,
        "sdvlog.exchange": ex.name,
        "sdvlog.topic": ex.topic,
        "sdvlog.plugin": plugin.name,
        "sdvlog.plugin_id": str(plugin.id),
        "sdvlog.schema_version": str(plugin.schema_version),
        "sdvlog.time_unit": plugin.time_unit,
    }
    meta.update(plugin.metadata())
    return meta
