"""The SPI layout (see :mod:`spi.wire`): magic, version, header struct, limits, the record and
value types, and the error for payloads and records that do not follow it."""

from __future__ import annotations

import struct
from typing import NamedTuple

from logger.core.errors import SdvLoggerError
from spi.types import SpiType

MAGIC = b"SP"
VERSION = 1
SYNC = 0x55
HEADER = struct.Struct("<2sBBQH")
HEAD_SIZE = HEADER.size  # 14
RECORD_HEAD_SIZE = 4
MAX_ID = 0xFFF
MAX_RECORDS = 0xFFFF
INT64_MAX = (1 << 63) - 1
Value = bool | int | float | str


class WireError(SdvLoggerError, ValueError):
    """An SPI payload or record that does not follow the format; the message says where."""


class Record(NamedTuple):
    """One signal value as the publisher sends it."""

    id: int
    type: SpiType
    value: Value
    update: bool = True
