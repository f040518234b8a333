"""Arrow schemas for decoded CAN messages: one table per message, one column per signal.

Every message table starts with ``ts`` (int64 ns, the frame's timestamp) and ``bus`` (string); a
J1939 message adds ``source_address`` (uint8, the low byte of the 29-bit id). Then one column per
signal, typed the way cantools decodes it (``decode_choices=False, scaling=True``):

* integer signals (identity conversion, or integer scale and integer offset) stay integers: the
  smallest int type that holds every physical value the raw bits can produce, unsigned when none
  is negative; if no 64-bit type holds them, float64;
* 1-bit unsigned signals with scale 1 and offset 0 are booleans;
* IEEE float signals (``SIG_VALTYPE_``) are float32 / float64 when unscaled, else float64;
* everything else is float64.

Field metadata carries unit, minimum, maximum, comment, scale, offset and the value table
(``choices``, JSON ``{"raw": "label"}``). Multiplexed signals are nullable: null in rows whose
multiplexer does not select them; all other fields are not nullable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from cantools.database.can import Message, Signal

from logger.store.split import time_metadata

__all__ = [
    "BUS_COLUMN",
    "SOURCE_ADDRESS_COLUMN",
    "TS_COLUMN",
    "SignalType",
    "is_j1939",
    "message_schema",
    "signal_field",
    "signal_type",
]

TS_COLUMN = "ts"
BUS_COLUMN = "bus"
SOURCE_ADDRESS_COLUMN = "source_address"

_UNSIGNED = (
    (np.uint8, pa.uint8()),
    (np.uint16, pa.uint16()),
    (np.uint32, pa.uint32()),
    (np.uint64, pa.uint64()),
)
_SIGNED = (
    (np.int8, pa.int8()),
    (np.int16, pa.int16()),
    (np.int32, pa.int32()),
    (np.int64, pa.int64()),
)


@dataclass(frozen=True)
class SignalType:
    """How one signal is decoded and stored.

    ``kind`` is ``"bool"``, ``"int"`` (exact integer arithmetic) or ``"float"``; ``identity`` is
    true when scale is 1 and offset 0 (cantools then returns the raw value unchanged).
    """

    kind: str
    dtype: np.dtype[np.generic]
    arrow: pa.DataType
    identity: bool


def _is_integer(value: float) -> bool:
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def raw_range(signal: Signal) -> tuple[int, int]:
    """The smallest and largest raw value the signal's bits can hold."""
    if signal.is_signed:
        return -(1 << (signal.length - 1)), (1 << (signal.length - 1)) - 1
    return 0, (1 << signal.length) - 1


def _smallest_int(lo: int, hi: int) -> tuple[np.dtype[np.generic], pa.DataType] | None:
    for np_type, arrow in _UNSIGNED if lo >= 0 else _SIGNED:
        info = np.iinfo(np_type)
        if info.min <= lo and hi <= info.max:
            return np.dtype(np_type), arrow
    return None


def signal_type(signal: Signal) -> SignalType:
    """The decoded type of ``signal``, following cantools' conversion rules."""
    scale, offset = signal.scale, signal.offset
    identity = scale == 1 and offset == 0
    if signal.is_float:
        if identity and signal.length == 32:
            return SignalType("float", np.dtype(np.float32), pa.float32(), True)
        return SignalType("float", np.dtype(np.float64), pa.float64(), identity)
    if identity and signal.length == 1 and not signal.is_signed:
        return SignalType("bool", np.dtype(np.bool_), pa.bool_(), True)
    if identity or (_is_integer(scale) and _is_integer(offset)):
        lo, hi = raw_range(signal)
        ends = (int(lo * scale + offset), int(hi * scale + offset))
        fit = _smallest_int(min(ends), max(ends))
        if fit is not None:
            return SignalType("int", fit[0], fit[1], identity)
    return SignalType("float", np.dtype(np.float64), pa.float64(), identity)


def _number(value: float | None) -> str:
    return "" if value is None else repr(value)


def signal_field(signal: Signal, nullable: bool) -> pa.Field:
    """The Arrow field of one signal, with its DBC description in the metadata."""
    meta = {
        "unit": signal.unit or "",
        "minimum": _number(signal.minimum),
        "maximum": _number(signal.maximum),
        "scale": repr(signal.scale),
        "offset": repr(signal.offset),
        "comment": signal.comment or "",
    }
    if signal.choices:
        meta["choices"] = json.dumps({str(k): str(v) for k, v in signal.choices.items()})
    return pa.field(signal.name, signal_type(signal).arrow, nullable=nullable, metadata=meta)


def is_j1939(message: Message) -> bool:
    """Whether frames match ``message`` by PGN (cantools says J1939, or ``VFrameFormat J1939PG``)."""
    if message.protocol == "j1939":
        return True
    if message.dbc is not None:
        attr = message.dbc.attributes.get("VFrameFormat")
        if attr is not None:
            value = attr.value
            choices = getattr(attr.definition, "choices", None)
            if isinstance(value, int) and choices and 0 <= value < len(choices):
                value = choices[value]
            return "J1939" in str(value)
    return False


def is_multiplexed_signal(signal: Signal) -> bool:
    """Whether the signal exists only for some values of a multiplexer."""
    return signal.multiplexer_ids is not None or signal.multiplexer_signal is not None


def message_schema(message: Message) -> pa.Schema:
    """``ts``, ``bus``, [``source_address`` for J1939], then one field per signal."""
    fields = [
        pa.field(TS_COLUMN, pa.int64(), nullable=False, metadata=time_metadata(doc="frame time")),
        pa.field(BUS_COLUMN, pa.string(), nullable=False),
    ]
    if is_j1939(message):
        fields.append(pa.field(SOURCE_ADDRESS_COLUMN, pa.uint8(), nullable=False))
    fields += [signal_field(s, is_multiplexed_signal(s)) for s in message.signals]
    meta = {
        "message": message.name,
        "frame_id": hex(message.frame_id),
        "extended": str(message.is_extended_frame).lower(),
        "length": str(message.length),
        "comment": message.comment or "",
    }
    return pa.schema(fields, metadata=meta)
