"""The built-in streams' names and wire ids, defined once: the plugins take their ``id`` from
here, the registry finds them by it, and a configuration's ``streamType`` number names them."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

__all__ = ["BUILTIN_STREAMS", "CUSTOM_MIN_ID", "stream_id"]

#: name → id of the streams sdv-logger ships; ids below :data:`CUSTOM_MIN_ID` are reserved.
BUILTIN_STREAMS: Mapping[str, int] = MappingProxyType({"raw": 0, "spi": 1, "canp": 2})
CUSTOM_MIN_ID = 16


def stream_id(name: str) -> int:
    """The id of the built-in stream ``name``."""
    return BUILTIN_STREAMS[name]
