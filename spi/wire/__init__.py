"""The SPI wire format (DESIGN.md, "Wire formats on MQTT"), encoded and decoded in bulk.

``b"SP" | version u8 (=1) | reserved u8 | ts_ns u64 | count u16`` then per record
``0x55 | u16 big-endian (type:4 bits high, id:12 bits low) | u8 (update:1 bit high, len:7 bits low)
| value[len]``.

Byte order: the header (``ts_ns``, ``count``) and every numeric value are **little-endian**, as in
CANP; only the type/id word is big-endian, so its first byte starts with the type nibble. Value
sizes are fixed by the type (``bool`` is one byte, 0 or 1; ``f32``/``f64`` are IEEE 754); ``utf8``
has 0..127 bytes of UTF-8.

Decoding is vectorised. Record offsets form a chain (each record's length byte says where the next
one starts); every byte position's successor is computed at once and the chain is followed by
pointer doubling, so all records of all payloads are located in ``O(bytes · log(records))`` numpy
work with no Python loop per record. Fields are then gathered with numpy for all records at once,
values per type. Python only runs per payload header and for the (rare) explanations of errors.

Two kinds of error:

- a **payload** is rejected whole when its framing cannot be trusted: short header, wrong magic or
  version, a ``ts_ns`` beyond int64, records that overrun the payload or leave bytes after them, a
  record not starting with the sync byte ``0x55``;
- a **record** is dropped alone when its framing is sound but its content is not: an undefined type
  code (12..15), a length that does not match its type, a ``bool`` byte other than 0/1, invalid
  UTF-8. The other records of its payload still decode.

Modules: :mod:`~spi.wire.format` (the layout, :class:`Record`, :class:`WireError`),
:mod:`~spi.wire.encode`, :mod:`~spi.wire.locate` (where the records start) and
:mod:`~spi.wire.decode`.
"""

from spi.wire.decode import Decoded, TypedValues, decode_payloads
from spi.wire.encode import encode_batch, encode_value
from spi.wire.format import (
    HEAD_SIZE,
    HEADER,
    INT64_MAX,
    MAGIC,
    MAX_ID,
    MAX_RECORDS,
    RECORD_HEAD_SIZE,
    SYNC,
    VERSION,
    Record,
    Value,
    WireError,
)

__all__ = [
    "HEADER",
    "HEAD_SIZE",
    "INT64_MAX",
    "MAGIC",
    "MAX_ID",
    "MAX_RECORDS",
    "RECORD_HEAD_SIZE",
    "SYNC",
    "VERSION",
    "Decoded",
    "Record",
    "TypedValues",
    "Value",
    "WireError",
    "decode_payloads",
    "encode_batch",
    "encode_value",
]
