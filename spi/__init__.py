"""SPI: decoded signal values in batches on MQTT (the wire format), their types, the catalog of signal ids, and the
stream plugin."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from spi.catalog import Catalog, load_catalog_source
    from spi.plugin import SpiPlugin
    from spi.types import SpiType
    from spi.wire import Record, WireError, decode_payloads, encode_batch

__all__ = [
    "Catalog",
    "Record",
    "SpiPlugin",
    "SpiType",
    "WireError",
    "decode_payloads",
    "encode_batch",
    "load_catalog_source",
]

__getattr__ = lazy_exports(
    __name__,
    {
        "SpiPlugin": "spi.plugin",
        "encode_batch": "spi.wire",
        "decode_payloads": "spi.wire",
        "Record": "spi.wire",
        "WireError": "spi.wire",
        "Catalog": "spi.catalog",
        "load_catalog_source": "spi.catalog",
        "SpiType": "spi.types",
    },
)
