"""The CANP layout (see :mod:`canp.wire`): magic, version, the header and frame-header
structs, the data limit, and the error for payloads that do not follow it."""

from __future__ import annotations

import struct

from logger.core.errors import SdvLoggerError

MAGIC = b"CP"
VERSION = 1
HEADER = struct.Struct("<2sBBI")
FRAME_HEAD = struct.Struct("<QIBB")
HEAD_SIZE = HEADER.size  # 8
FRAME_HEAD_SIZE = FRAME_HEAD.size  # 14
MAX_DATA = 64


class WireError(SdvLoggerError, ValueError):
    """A CANP payload that does not follow the format; the message says where (a ValueError
    too, as it was before it joined the error tree)."""


HEAD_OK = int.from_bytes(MAGIC + bytes([VERSION]), "little")  # magic and version, as read
