"""Many SPI payloads decoded at once into record columns and per-type values; malformed
payloads refused whole and malformed records dropped alone, with reasons (see :mod:`spi.wire`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from spi.types import SpiType
from spi.wire.format import MAX_ID, RECORD_HEAD_SIZE, SYNC, Record, Value
from spi.wire.locate import locate_records, read_headers

#: Value size per 4-bit type code: -1 variable (utf8), -2 undefined code.
_SIZE_BY_CODE = np.full(16, -2, np.int16)
for _t in SpiType:
    _SIZE_BY_CODE[_t] = -1 if _t.size is None else _t.size
_FIELD = np.arange(8)


@dataclass(frozen=True)
class TypedValues:
    """The values of the records of one type: ``index`` into the record columns, ``values`` parallel.

    ``values`` is a numpy array (``bool`` for BOOL, else the type's dtype in native order) or, for
    UTF8, a pyarrow string array.
    """

    index: npt.NDArray[np.int64]
    values: npt.NDArray[np.generic] | pa.StringArray


@dataclass(frozen=True)
class Decoded:
    """Records of many payloads as columns, in payload order then record order.

    ``source`` is the index of the payload each record came from, ``ts`` its batch time.
    ``rejected``: payloads refused whole, ``(payload index, reason)``. ``dropped``: records refused
    alone, ``(payload index, reason)``; the rest of those payloads is in the columns.
    """

    ts: npt.NDArray[np.int64]
    source: npt.NDArray[np.int64]
    id: npt.NDArray[np.uint16]
    type: npt.NDArray[np.uint8]
    update: npt.NDArray[np.bool_]
    values: dict[SpiType, TypedValues]
    rejected: list[tuple[int, str]]
    dropped: list[tuple[int, str]]

    def __len__(self) -> int:
        return len(self.ts)

    def value_list(self) -> list[Value]:
        """Every record's value as a Python object, in record order (for tests and small batches)."""
        out: list[Value] = [False] * len(self)
        for typed in self.values.values():
            items = (
                typed.values.to_pylist()
                if isinstance(typed.values, pa.Array)
                else typed.values.tolist()
            )
            for i, v in zip(typed.index.tolist(), items, strict=True):
                out[i] = v
        return out

    def records(self) -> list[tuple[int, Record]]:
        """``(payload index, Record)`` per record (for tests and small batches)."""
        return [
            (s, Record(i, SpiType(t), v, u))
            for s, i, t, v, u in zip(
                self.source.tolist(),
                self.id.tolist(),
                self.type.tolist(),
                self.value_list(),
                self.update.tolist(),
                strict=True,
            )
        ]


def _gather(
    arr: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], width: int
) -> npt.NDArray[np.uint8]:
    out: npt.NDArray[np.uint8] = arr[(at[:, None] + _FIELD[:width]).ravel()]
    return out


def decode_payloads(payloads: Sequence[bytes]) -> Decoded:
    """Decode many SPI payloads at once; malformed payloads and records are refused with reasons."""
    buf = b"".join(payloads)
    arr = np.frombuffer(buf, np.uint8)
    rejected: list[tuple[int, str]] = []
    dropped: list[tuple[int, str]] = []
    heads, origins = read_headers(buf, payloads, rejected)
    offsets, owner, unfit = locate_records(buf, arr, heads, origins)
    bad_payload = np.zeros(len(heads.index), np.bool_)
    for h, reason in unfit:
        bad_payload[h] = True
        rejected.append((heads.index[h], reason))

    # record number within its payload
    counts = np.array(heads.count, np.int64)
    first = np.zeros(counts.size + 1, np.int64)
    np.cumsum(np.where(bad_payload, 0, counts), out=first[1:])
    number = np.arange(offsets.size, dtype=np.int64) - first[owner]

    unsynced = arr[offsets] != SYNC
    if unsynced.any():
        for k in np.flatnonzero(unsynced).tolist():
            h = int(owner[k])
            if not bad_payload[h]:
                bad_payload[h] = True
                rejected.append(
                    (
                        heads.index[h],
                        f"record {int(number[k])}: sync byte 0x{int(arr[offsets[k]]):02X} is not 0x55",
                    )
                )
        keep = ~bad_payload[owner]
        offsets, owner, number = offsets[keep], owner[keep], number[keep]

    word = (arr[offsets + 1].astype(np.uint16) << 8) | arr[offsets + 2]
    type_code = (word >> 12).astype(np.uint8)
    rec_id = (word & MAX_ID).astype(np.uint16)
    ul = arr[offsets + 3]
    update = (ul & 0x80) != 0
    length = (ul & 0x7F).astype(np.int16)
    value_at = offsets + RECORD_HEAD_SIZE

    expected = _SIZE_BY_CODE[type_code]
    valid = (expected == -1) | (expected == length)
    is_bool = valid & (type_code == SpiType.BOOL)
    if is_bool.any():
        valid[is_bool] = arr[value_at[is_bool]] <= 1
    utf8 = np.flatnonzero(valid & (type_code == SpiType.UTF8))
    strings: list[str] = []
    for k in utf8.tolist():
        start = int(value_at[k])
        try:
            strings.append(buf[start : start + int(length[k])].decode("utf-8"))
        except UnicodeDecodeError:
            strings.append("")
            valid[k] = False
    if not valid.all():
        for k in np.flatnonzero(~valid).tolist():
            dropped.append(
                (
                    heads.index[int(owner[k])],
                    _record_problem(
                        int(number[k]),
                        int(rec_id[k]),
                        int(type_code[k]),
                        int(length[k]),
                        arr[value_at[k]] if length[k] else 0,
                    ),
                )
            )
        dropped.sort(key=lambda item: item[0])
        strings = [s for s, ok in zip(strings, valid[utf8].tolist(), strict=True) if ok]
        utf8 = utf8[valid[utf8]]
        new_index = np.cumsum(valid) - 1
        keep = valid
        offsets, owner = offsets[keep], owner[keep]
        type_code, rec_id, update = type_code[keep], rec_id[keep], update[keep]
        length, value_at = length[keep], value_at[keep]
        utf8 = new_index[utf8]

    values: dict[SpiType, TypedValues] = {}
    for code in np.unique(type_code).tolist():
        type_ = SpiType(code)
        if type_ is SpiType.UTF8:
            values[type_] = TypedValues(utf8, pa.array(strings, pa.string()))
            continue
        index = np.flatnonzero(type_code == code)
        width = int(_SIZE_BY_CODE[code])
        raw = _gather(arr, value_at[index], width)
        vals: npt.NDArray[np.generic] = (
            raw != 0
            if type_ is SpiType.BOOL
            else raw.view(type_.dtype).astype(type_.dtype.newbyteorder("="))
        )
        values[type_] = TypedValues(index.astype(np.int64), vals)

    heads_ts = np.array(heads.ts, np.int64)
    heads_index = np.array(heads.index, np.int64)
    return Decoded(
        ts=heads_ts[owner] if owner.size else np.empty(0, np.int64),
        source=heads_index[owner] if owner.size else np.empty(0, np.int64),
        id=rec_id,
        type=type_code,
        update=update,
        values=values,
        rejected=sorted(rejected),
        dropped=dropped,
    )


def _record_problem(number: int, rec_id: int, code: int, length: int, first: int) -> str:
    where = f"record {number} (id 0x{rec_id:03X})"
    if code > max(SpiType):
        return f"{where}: type code {code} is not defined (0..{int(max(SpiType))})"
    type_ = SpiType(code)
    if type_ is SpiType.UTF8:
        return f"{where}: utf8 value is not valid UTF-8"
    if type_.size != length:
        return f"{where}: {type_.label} needs {type_.size} value bytes, has {length}"
    return f"{where}: bool value 0x{first:02X} is not 0 or 1"
