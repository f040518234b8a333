"""The CANP wire format (DESIGN.md, "Wire formats on MQTT"), encoded and decoded in bulk.

``b"CP" | version u8 (=1) | reserved u8 | count u32`` then per frame
``ts_ns u64 | can_id u32 | flags u8 | len u8 | data[len]``, all little-endian.

Decoding is vectorised: frame offsets come from one pass over the length bytes (or from
arithmetic when every frame of a message has the same length, the common case), then every field
of every frame of every message is gathered with numpy at once.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from canp.schema import (
    CAN_EFF_FLAG,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FrameColumns,
)

MAGIC = b"CP"
VERSION = 1
HEADER = struct.Struct("<2sBBI")
FRAME_HEAD = struct.Struct("<QIBB")
HEAD_SIZE = HEADER.size  # 8
FRAME_HEAD_SIZE = FRAME_HEAD.size  # 14
MAX_DATA = 64
_FIELD = np.arange(8)


class WireError(ValueError):
    """A CANP payload that does not follow the format; the message says where."""


@dataclass(frozen=True)
class Decoded:
    """Frames of many payloads, plus which payload each came from and the payloads rejected."""

    frames: FrameColumns
    source: npt.NDArray[np.int64]  # index of the payload each frame came from
    rejected: list[tuple[int, str]]  # (payload index, reason)


def encode_messages(messages: Iterable[object]) -> bytes:
    """Encode python-can ``Message`` objects (duck-typed) as one CANP payload."""
    parts: list[bytes] = []
    pack = FRAME_HEAD.pack
    for msg in messages:
        data = bytes(msg.data)  # type: ignore[attr-defined]
        can_id = msg.arbitration_id  # type: ignore[attr-defined]
        if msg.is_extended_id:  # type: ignore[attr-defined]
            can_id |= CAN_EFF_FLAG
        if msg.is_remote_frame:  # type: ignore[attr-defined]
            can_id |= CAN_RTR_FLAG
        if msg.is_error_frame:  # type: ignore[attr-defined]
            can_id |= CAN_ERR_FLAG
        flags = (
            (FLAG_FD if msg.is_fd else 0)  # type: ignore[attr-defined]
            | (FLAG_BRS if msg.bitrate_switch else 0)  # type: ignore[attr-defined]
            | (FLAG_ESI if msg.error_state_indicator else 0)  # type: ignore[attr-defined]
        )
        parts.append(pack(round(msg.timestamp * 1e9), can_id, flags, len(data)))  # type: ignore[attr-defined]
        parts.append(data)
    return HEADER.pack(MAGIC, VERSION, 0, len(parts) // 2) + b"".join(parts)


def encode_columns(frames: FrameColumns) -> bytes:
    """Encode frame columns as one CANP payload (vectorised)."""
    n = len(frames)
    lengths = frames.lengths
    if n and np.any(lengths > MAX_DATA):
        raise WireError(
            f"a frame has {int(lengths.max())} data bytes; CAN FD carries at most {MAX_DATA}"
        )
    record = FRAME_HEAD_SIZE + lengths
    starts = np.zeros(n + 1, np.int64)
    np.cumsum(record, out=starts[1:])
    out = np.zeros(HEAD_SIZE + int(starts[-1]), np.uint8)
    out[:HEAD_SIZE] = np.frombuffer(HEADER.pack(MAGIC, VERSION, 0, n), np.uint8)
    base = HEAD_SIZE + starts[:-1]
    _scatter(out, base, frames.ts.astype("<u8").view(np.uint8).reshape(n, 8))
    _scatter(out, base + 8, frames.can_id.astype("<u4").view(np.uint8).reshape(n, 4))
    out[base + 12] = frames.flags
    out[base + 13] = lengths.astype(np.uint8)
    total = int(lengths.sum())
    if total:
        data_start = np.frombuffer(
            frames.data.buffers()[1], np.int32, n + 1, frames.data.offset * 4
        )
        values = np.frombuffer(frames.data.buffers()[2], np.uint8)[data_start[0] : data_start[-1]]
        dest = np.repeat(
            base + FRAME_HEAD_SIZE - (data_start[:-1] - data_start[0]), lengths
        ) + np.arange(total)
        out[dest] = values
    return out.tobytes()


def _scatter(
    out: npt.NDArray[np.uint8], base: npt.NDArray[np.int64], cols: npt.NDArray[np.uint8]
) -> None:
    width = cols.shape[1]
    out[(base[:, None] + _FIELD[:width]).ravel()] = cols.ravel()


def _offsets(buf: bytes, start: int, count: int, end: int, origin: int) -> npt.NDArray[np.int64]:
    """Offsets of ``count`` frames from ``start``; raises WireError when they do not fit ``end``."""
    if count == 0:
        if start != end:
            raise WireError(f"{end - start} bytes after 0 frames")
        return np.empty(0, np.int64)
    if start + FRAME_HEAD_SIZE > end:
        raise WireError("truncated: no room for the first frame header")
    first_len = buf[start + 13]
    step = FRAME_HEAD_SIZE + first_len
    if start + count * step == end:  # the common case: every frame has the same length
        offsets = start + np.arange(count, dtype=np.int64) * step
        lens = np.frombuffer(buf, np.uint8)[offsets + 13]
        if np.all(lens == first_len):
            return offsets
    out = np.empty(count, np.int64)
    pos = start
    for i in range(count):
        if pos + FRAME_HEAD_SIZE > end:
            raise WireError(
                f"truncated: frame {i} of {count} starts at byte {pos - origin} of {end - origin}"
            )
        out[i] = pos
        pos += FRAME_HEAD_SIZE + buf[pos + 13]
    if pos != end:
        raise WireError(
            f"frame {count - 1} ends at byte {pos - origin}, payload has {end - origin}"
            if pos > end
            else f"{end - pos} bytes after {count} frames"
        )
    return out


def decode_payloads(payloads: Sequence[bytes]) -> Decoded:
    """Decode many CANP payloads at once; a malformed payload is rejected whole, with the reason."""
    buf = b"".join(payloads)
    arr = np.frombuffer(buf, np.uint8)
    all_offsets: list[npt.NDArray[np.int64]] = []
    sources: list[npt.NDArray[np.int64]] = []
    rejected: list[tuple[int, str]] = []
    pos = 0
    for index, payload in enumerate(payloads):
        start, end = pos, pos + len(payload)
        pos = end
        try:
            if len(payload) < HEAD_SIZE:
                raise WireError(f"{len(payload)} bytes: shorter than the 8-byte header")
            magic, version, _, count = HEADER.unpack_from(buf, start)
            if magic != MAGIC:
                raise WireError(f"magic {magic!r} is not b'CP'")
            if version != VERSION:
                raise WireError(f"version {version} is not supported (expected {VERSION})")
            offsets = _offsets(buf, start + HEAD_SIZE, count, end, start)
            lens = arr[offsets + 13]
            if offsets.size and int(lens.max()) > MAX_DATA:
                raise WireError(f"a frame claims {int(lens.max())} data bytes; at most {MAX_DATA}")
        except WireError as exc:
            rejected.append((index, str(exc)))
            continue
        all_offsets.append(offsets)
        sources.append(np.full(offsets.size, index, np.int64))
    offsets = np.concatenate(all_offsets) if all_offsets else np.empty(0, np.int64)
    n = offsets.size
    ts = (
        arr[(offsets[:, None] + _FIELD).ravel()].view("<u8").astype(np.int64)
        if n
        else np.empty(0, np.int64)
    )
    can_id = (
        arr[(offsets[:, None] + 8 + _FIELD[:4]).ravel()].view("<u4").astype(np.uint32)
        if n
        else np.empty(0, np.uint32)
    )
    flags = arr[offsets + 12] if n else np.empty(0, np.uint8)
    lens = arr[offsets + 13].astype(np.int32) if n else np.empty(0, np.int32)
    value_offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lens, out=value_offsets[1:])
    total = int(value_offsets[-1])
    if total:
        gather = np.repeat(offsets + FRAME_HEAD_SIZE - value_offsets[:-1], lens) + np.arange(total)
        values = arr[gather]
    else:
        values = np.empty(0, np.uint8)
    data = pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(value_offsets), pa.py_buffer(values)]
    )
    source = np.concatenate(sources) if sources else np.empty(0, np.int64)
    return Decoded(FrameColumns(ts, can_id, flags.astype(np.uint8), data), source, rejected)
