"""SPI records encoded: one value as its bytes, a batch of records as one payload."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from spi.types import INTEGER_RANGES, MAX_LEN, SpiType
from spi.wire.format import (
    HEADER,
    INT64_MAX,
    MAGIC,
    MAX_ID,
    MAX_RECORDS,
    SYNC,
    VERSION,
    Record,
    Value,
    WireError,
)

_INT_RANGE = {t: (low, high) for t, low, high in INTEGER_RANGES}


def encode_value(type_: SpiType, value: Value) -> bytes:
    """The value bytes of one record (little-endian); WireError when ``value`` does not fit ``type_``."""
    if type_ is SpiType.UTF8:
        if not isinstance(value, str):
            raise WireError(f"utf8 needs a str, got {type(value).__name__}")
        data = value.encode("utf-8")
        if len(data) > MAX_LEN:
            raise WireError(f"utf8 value has {len(data)} bytes; at most {MAX_LEN}")
        return data
    if isinstance(value, str):
        raise WireError(f"{type_.label} needs a number, got a str")
    if type_ is SpiType.BOOL:
        if value not in (0, 1):
            raise WireError(f"bool needs True/False (or 0/1), got {value!r}")
        return b"\x01" if value else b"\x00"
    dtype = type_.dtype
    if dtype.kind in "ui":
        if isinstance(value, float) and not value.is_integer():
            raise WireError(f"{type_.label} needs an integer, got {value!r}")
        low, high = _INT_RANGE[type_]
        if not low <= int(value) <= high:
            raise WireError(f"{value!r} is out of range for {type_.label}")
        return np.array(int(value), dtype).tobytes()
    return np.array(float(value), dtype).tobytes()


def encode_batch(ts_ns: int, records: Iterable[Record]) -> bytes:
    """One SPI payload: the batch time ``ts_ns`` (ns since the epoch) and its records."""
    if not 0 <= ts_ns <= INT64_MAX:
        raise WireError(f"ts_ns {ts_ns} is not 0..2**63-1")
    parts: list[bytes] = []
    for rec in records:
        if not 0 <= rec.id <= MAX_ID:
            raise WireError(f"id {rec.id} is not 0..{MAX_ID} (12 bits)")
        type_ = SpiType(rec.type)
        data = encode_value(type_, rec.value)
        parts.append(
            bytes(
                (
                    SYNC,
                    (type_ << 4) | (rec.id >> 8),
                    rec.id & 0xFF,
                    (0x80 if rec.update else 0) | len(data),
                )
            )
        )
        parts.append(data)
    count = len(parts) // 2
    if count > MAX_RECORDS:
        raise WireError(f"{count} records; a batch carries at most {MAX_RECORDS}")
    return HEADER.pack(MAGIC, VERSION, 0, ts_ns, count) + b"".join(parts)
