"""Many CANP payloads decoded at once into frame columns, malformed payloads rejected whole with
the reason (see :mod:`canp.wire` for how)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from canp.schema import FrameColumns
from canp.wire.format import FRAME_HEAD_SIZE, HEAD_OK, HEAD_SIZE, HEADER, MAGIC, MAX_DATA, VERSION
from canp.wire.locate import frame_offsets, group_starts, walk


@dataclass(frozen=True)
class Decoded:
    """Frames of many payloads, plus which payload each came from and the payloads rejected."""

    frames: FrameColumns
    source: npt.NDArray[np.int64]  # index of the payload each frame came from
    rejected: list[tuple[int, str]]  # (payload index, reason)


def _at_every_byte(buf: bytes, dtype: str) -> npt.NDArray[Any]:
    """``buf`` read as ``dtype`` at every byte: element ``i`` is made of bytes ``i, i + 1, ...``."""
    width = np.dtype(dtype).itemsize
    return np.ndarray((max(0, len(buf) - width + 1),), dtype, buf, 0, (1,))


def _reason(payload: bytes) -> str:
    """Why a payload is malformed (the first problem found); only for payloads found malformed."""
    if len(payload) < HEAD_SIZE:
        return f"{len(payload)} bytes: shorter than the 8-byte header"
    magic, version, _, count = HEADER.unpack_from(payload)
    if magic != MAGIC:
        return f"magic {magic!r} is not b'CP'"
    if version != VERSION:
        return f"version {version} is not supported (expected {VERSION})"
    end = len(payload)
    if count == 0:
        return f"{end - HEAD_SIZE} bytes after 0 frames"
    if end < HEAD_SIZE + FRAME_HEAD_SIZE:
        return "truncated: no room for the first frame header"
    pos, longest = HEAD_SIZE, 0
    for i in range(count):
        if pos + FRAME_HEAD_SIZE > end:
            return f"truncated: frame {i} of {count} starts at byte {pos} of {end}"
        longest = max(longest, payload[pos + 13])
        pos += FRAME_HEAD_SIZE + payload[pos + 13]
    if pos > end:
        return f"frame {count - 1} ends at byte {pos}, payload has {end}"
    if pos < end:
        return f"{end - pos} bytes after {count} frames"
    return f"a frame claims {longest} data bytes; at most {MAX_DATA}"


def decode_payloads(payloads: Sequence[bytes]) -> Decoded:
    """Decode many CANP payloads at once; a malformed payload is rejected whole, with the reason."""
    if len(payloads) == 1:
        return _decode_one(bytes(payloads[0]))
    buf = b"".join(payloads)
    arr = np.frombuffer(buf, np.uint8)
    size = np.fromiter(map(len, payloads), np.int64, len(payloads))
    end = np.cumsum(size)
    start = end - size + HEAD_SIZE
    if arr.size >= HEAD_SIZE:
        word = _at_every_byte(buf, "<u8")[np.minimum(start - HEAD_SIZE, arr.size - HEAD_SIZE)]
    else:
        word = np.zeros(size.size, np.uint64)
    count = (word >> 32).astype(np.int64)
    header = (size >= HEAD_SIZE) & ((word & 0xFFFFFF) == HEAD_OK)
    walk = header & (count > 0) & (start + FRAME_HEAD_SIZE <= end)
    index: npt.NDArray[np.int64] | None = None  # which payloads have frames (None: all)
    bad: list[int] = []
    if not walk.all():
        bad = np.flatnonzero(~walk & ~(header & (count == 0) & (start == end))).tolist()
        index = np.flatnonzero(walk)
        start, end, count = start[index], end[index], count[index]
    # a chain is walked no further than one frame past what could fit in its payload
    steps = np.minimum(count, (end - start) // FRAME_HEAD_SIZE + 1)
    offsets, exact = frame_offsets(buf, start, end, steps)
    if exact is not None and not exact.all():
        index = np.arange(size.size) if index is None else index
        bad += index[~exact].tolist()
        offsets, index, steps = offsets[np.repeat(exact, steps)], index[exact], steps[exact]
    lens = arr[offsets + 13]
    if lens.size and int(lens.max()) > MAX_DATA:
        index = np.arange(size.size) if index is None else index
        long = np.maximum.reduceat(lens, group_starts(steps)[:-1]) > MAX_DATA
        bad += index[long].tolist()
        keep = np.repeat(~long, steps)
        offsets, lens, index, steps = offsets[keep], lens[keep], index[~long], steps[~long]
    source = np.repeat(np.arange(size.size) if index is None else index, steps)
    rejected = [(i, _reason(payloads[i])) for i in sorted(bad)]  # rare: Python is fine
    return Decoded(_columns(buf, offsets, lens), source, rejected)


def _decode_one(buf: bytes) -> Decoded:
    """One payload (the gateway decodes its batches one by one): Python for its header and, when
    its frames differ in length, its chain costs less than setting up arrays for them."""
    size = len(buf)
    magic, version, _, count = HEADER.unpack_from(buf) if size >= HEAD_SIZE else (b"", 0, 0, 0)
    header = magic == MAGIC and version == VERSION
    offsets, lens = np.empty(0, np.int64), np.empty(0, np.uint8)
    if header and count == 0 and size == HEAD_SIZE:
        return Decoded(_columns(buf, offsets, lens), offsets, [])
    if header and count and size >= HEAD_SIZE + FRAME_HEAD_SIZE:
        arr = np.frombuffer(buf, np.uint8)
        steps = min(count, (size - HEAD_SIZE) // FRAME_HEAD_SIZE + 1)
        step = FRAME_HEAD_SIZE + buf[HEAD_SIZE + 13]
        exact = HEAD_SIZE + steps * step == size
        if exact:
            offsets = np.arange(HEAD_SIZE, size, step, dtype=np.int64)
            lens = arr[offsets + 13]
            exact = bool((lens == step - FRAME_HEAD_SIZE).all())
        if not exact:
            offsets = np.empty(steps, np.int64)
            exact = walk(buf, offsets, 0, HEAD_SIZE, size - FRAME_HEAD_SIZE) == size
            lens = arr[offsets + 13] if exact else lens
        if exact and int(lens.max()) <= MAX_DATA:
            return Decoded(_columns(buf, offsets, lens), np.zeros(steps, np.int64), [])
    nothing = np.empty(0, np.int64)
    return Decoded(_columns(buf, nothing, np.empty(0, np.uint8)), nothing, [(0, _reason(buf))])


def _columns(
    buf: bytes, offsets: npt.NDArray[np.int64], lens: npt.NDArray[np.uint8]
) -> FrameColumns:
    """The frames at ``offsets`` of ``buf``, every field gathered at once."""
    arr = np.frombuffer(buf, np.uint8)
    n = offsets.size
    ts = _at_every_byte(buf, "<i8")[offsets].astype(np.int64)
    can_id = _at_every_byte(buf, "<u4")[offsets + 8].astype(np.uint32)
    value_offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lens, dtype=np.int32, out=value_offsets[1:])
    total = int(value_offsets[-1])
    if total:
        gather = np.repeat(offsets + FRAME_HEAD_SIZE - value_offsets[:-1], lens)
        gather += np.arange(total)
        values = arr[gather]
    else:
        values = np.empty(0, np.uint8)
    data = pa.BinaryArray.from_buffers(
        pa.binary(), n, [None, pa.py_buffer(value_offsets), pa.py_buffer(values)]
    )
    return FrameColumns(ts, can_id, arr[offsets + 12], data)
