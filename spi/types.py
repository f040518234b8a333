"""SPI value types (DESIGN.md, "Wire formats on MQTT"): wire code, name, size, numpy and Arrow types."""

from __future__ import annotations

from enum import IntEnum

import numpy as np
import pyarrow as pa


class SpiType(IntEnum):
    """The 4-bit type code of an SPI record. Numeric values travel little-endian."""

    BOOL = 0
    U8 = 1
    I8 = 2
    U16 = 3
    I16 = 4
    U32 = 5
    I32 = 6
    U64 = 7
    I64 = 8
    F32 = 9
    F64 = 10
    UTF8 = 11

    @property
    def label(self) -> str:
        """The name used in catalog files: ``bool``, ``u8`` … ``f64``, ``utf8``."""
        return _LABELS[self]

    @property
    def size(self) -> int | None:
        """Value bytes on the wire; None for ``utf8`` (variable, at most :data:`MAX_LEN`)."""
        return _SIZES[self]

    @property
    def dtype(self) -> np.dtype[np.generic]:
        """The little-endian numpy dtype of a fixed-size value (``bool`` is one byte, 0 or 1)."""
        if self is SpiType.UTF8:
            raise ValueError("utf8 has no fixed-size numpy dtype")
        return np.dtype(_DTYPES[self])

    @property
    def arrow(self) -> pa.DataType:
        return _ARROW[self]

    @classmethod
    def from_label(cls, label: str) -> SpiType:
        try:
            return _BY_LABEL[label]
        except KeyError:
            raise ValueError(
                f"unknown SPI type {label!r}; expected one of {', '.join(_BY_LABEL)}"
            ) from None


#: The 7-bit length field: longest value on the wire (utf-8 strings).
MAX_LEN = 127

_LABELS = {
    SpiType.BOOL: "bool",
    SpiType.U8: "u8",
    SpiType.I8: "i8",
    SpiType.U16: "u16",
    SpiType.I16: "i16",
    SpiType.U32: "u32",
    SpiType.I32: "i32",
    SpiType.U64: "u64",
    SpiType.I64: "i64",
    SpiType.F32: "f32",
    SpiType.F64: "f64",
    SpiType.UTF8: "utf8",
}
_BY_LABEL = {label: t for t, label in _LABELS.items()}
_SIZES: dict[SpiType, int | None] = {
    SpiType.BOOL: 1,
    SpiType.U8: 1,
    SpiType.I8: 1,
    SpiType.U16: 2,
    SpiType.I16: 2,
    SpiType.U32: 4,
    SpiType.I32: 4,
    SpiType.U64: 8,
    SpiType.I64: 8,
    SpiType.F32: 4,
    SpiType.F64: 8,
    SpiType.UTF8: None,
}
_DTYPES = {
    SpiType.BOOL: "u1",
    SpiType.U8: "u1",
    SpiType.I8: "i1",
    SpiType.U16: "<u2",
    SpiType.I16: "<i2",
    SpiType.U32: "<u4",
    SpiType.I32: "<i4",
    SpiType.U64: "<u8",
    SpiType.I64: "<i8",
    SpiType.F32: "<f4",
    SpiType.F64: "<f8",
}
_ARROW = {
    SpiType.BOOL: pa.bool_(),
    SpiType.U8: pa.uint8(),
    SpiType.I8: pa.int8(),
    SpiType.U16: pa.uint16(),
    SpiType.I16: pa.int16(),
    SpiType.U32: pa.uint32(),
    SpiType.I32: pa.int32(),
    SpiType.U64: pa.uint64(),
    SpiType.I64: pa.int64(),
    SpiType.F32: pa.float32(),
    SpiType.F64: pa.float64(),
    SpiType.UTF8: pa.string(),
}
#: Integer types by (min, max), smallest first: what the catalog picks from a physical range.
INTEGER_RANGES: tuple[tuple[SpiType, int, int], ...] = (
    (SpiType.U8, 0, 0xFF),
    (SpiType.I8, -0x80, 0x7F),
    (SpiType.U16, 0, 0xFFFF),
    (SpiType.I16, -0x8000, 0x7FFF),
    (SpiType.U32, 0, 0xFFFF_FFFF),
    (SpiType.I32, -0x8000_0000, 0x7FFF_FFFF),
    (SpiType.U64, 0, 0xFFFF_FFFF_FFFF_FFFF),
    (SpiType.I64, -0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF),
)
