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
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from spi.types import INTEGER_RANGES, MAX_LEN, SpiType

MAGIC = b"SP"
VERSION = 1
SYNC = 0x55
HEADER = struct.Struct("<2sBBQH")
HEAD_SIZE = HEADER.size  # 14
RECORD_HEAD_SIZE = 4
MAX_ID = 0xFFF
MAX_RECORDS = 0xFFFF
INT64_MAX = (1 << 63) - 1
#: Payloads are located in groups of about this many bytes (bounds the doubling tables' memory).
GROUP_BYTES = 8 << 20

Value = bool | int | float | str

#: Value size per 4-bit type code: -1 variable (utf8), -2 undefined code.
_SIZE_BY_CODE = np.full(16, -2, np.int16)
for _t in SpiType:
    _SIZE_BY_CODE[_t] = -1 if _t.size is None else _t.size
_FIELD = np.arange(8)
_INT_RANGE = {t: (low, high) for t, low, high in INTEGER_RANGES}


class WireError(ValueError):
    """An SPI payload or record that does not follow the format; the message says where."""


class Record(NamedTuple):
    """One signal value as the publisher sends it."""

    id: int
    type: SpiType
    value: Value
    update: bool = True


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


@dataclass
class _Heads:
    index: list[int]
    start: list[int]  # first record (absolute offset in the joined buffer)
    end: list[int]
    count: list[int]
    ts: list[int]


def _read_headers(
    buf: bytes, payloads: Sequence[bytes], rejected: list[tuple[int, str]]
) -> tuple[_Heads, list[int]]:
    heads = _Heads([], [], [], [], [])
    origins: list[int] = []
    pos = 0
    for index, payload in enumerate(payloads):
        start, end = pos, pos + len(payload)
        origins.append(start)
        pos = end
        if len(payload) < HEAD_SIZE:
            rejected.append((index, f"{len(payload)} bytes: shorter than the 14-byte header"))
            continue
        magic, version, _, ts, count = HEADER.unpack_from(buf, start)
        if magic != MAGIC:
            rejected.append((index, f"magic {magic!r} is not b'SP'"))
        elif version != VERSION:
            rejected.append((index, f"version {version} is not supported (expected {VERSION})"))
        elif ts > INT64_MAX:
            rejected.append((index, f"ts_ns {ts} does not fit int64 nanoseconds"))
        else:
            heads.index.append(index)
            heads.start.append(start + HEAD_SIZE)
            heads.end.append(end)
            heads.count.append(count)
            heads.ts.append(ts)
    return heads, origins


def _chain(
    arr: npt.NDArray[np.uint8],
    starts: npt.NDArray[np.int64],
    ends: npt.NDArray[np.int64],
    counts: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_]]:
    """Record offsets of each payload (payload-major, ``counts[j]`` each) and whether it fits.

    A payload fits when its ``counts[j]`` records end exactly at ``ends[j]``; the offsets of a
    payload that does not fit are meaningless.
    """
    size = arr.size
    beyond = size + 1
    nxt = np.full(size + 2, beyond, np.int64)
    if size >= RECORD_HEAD_SIZE:
        nxt[: size - 3] = np.arange(size - 3) + RECORD_HEAD_SIZE + (arr[3:] & 0x7F)
        np.minimum(nxt, beyond, out=nxt)
    steps = counts + 1  # the position after the last record too
    first = np.zeros(steps.size + 1, np.int64)
    np.cumsum(steps, out=first[1:])
    step = np.arange(int(first[-1]), dtype=np.int64) - np.repeat(first[:-1], steps)
    pos = np.repeat(starts, steps)
    jump = nxt
    levels = int(counts.max()).bit_length() if counts.size else 0
    for k in range(levels):
        sel = ((step >> k) & 1).astype(np.bool_)
        pos[sel] = jump[pos[sel]]
        if k + 1 < levels:
            jump = jump[jump]
    fits = pos[first[1:] - 1] == ends
    is_record = np.ones(pos.size, np.bool_)
    is_record[first[1:] - 1] = False
    return pos[is_record], fits


def _explain(buf: bytes, start: int, end: int, count: int, origin: int) -> str:
    """Why ``count`` records from ``start`` do not end exactly at ``end`` (error path only)."""
    pos = start
    for i in range(count):
        if pos + RECORD_HEAD_SIZE > end:
            return (
                f"truncated: record {i} of {count} starts at byte {pos - origin} of {end - origin}"
            )
        pos += RECORD_HEAD_SIZE + (buf[pos + 3] & 0x7F)
    if pos > end:
        return f"record {count - 1} ends at byte {pos - origin}, payload has {end - origin}"
    return f"{end - pos} bytes after {count} records"


def _locate(
    buf: bytes, arr: npt.NDArray[np.uint8], heads: _Heads, origins: list[int]
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[tuple[int, str]]]:
    """Record offsets and their payload's index in ``heads``; payloads that do not fit, explained."""
    offsets: list[npt.NDArray[np.int64]] = []
    owners: list[npt.NDArray[np.int64]] = []
    bad: list[tuple[int, str]] = []
    n = len(heads.index)
    lo = 0
    while lo < n:
        hi, base = lo + 1, origins[heads.index[lo]]
        while hi < n and heads.end[hi] - base <= GROUP_BYTES:
            hi += 1
        top = heads.end[hi - 1]
        starts = np.array(heads.start[lo:hi], np.int64) - base
        ends = np.array(heads.end[lo:hi], np.int64) - base
        counts = np.array(heads.count[lo:hi], np.int64)
        pos, fits = _chain(arr[base:top], starts, ends, counts)
        owner = np.repeat(np.arange(lo, hi, dtype=np.int64), counts)
        ok = fits[owner - lo]
        offsets.append(pos[ok] + base)
        owners.append(owner[ok])
        for j in np.flatnonzero(~fits).tolist():
            h = lo + j
            index = heads.index[h]
            reason = _explain(buf, heads.start[h], heads.end[h], heads.count[h], origins[index])
            bad.append((h, reason))
        lo = hi
    if not offsets:
        return np.empty(0, np.int64), np.empty(0, np.int64), bad
    return np.concatenate(offsets), np.concatenate(owners), bad


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
    heads, origins = _read_headers(buf, payloads, rejected)
    offsets, owner, unfit = _locate(buf, arr, heads, origins)
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
