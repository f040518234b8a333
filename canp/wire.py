"""The CANP wire format (DESIGN.md, "Wire formats on MQTT"), encoded and decoded in bulk.

``b"CP" | version u8 (=1) | reserved u8 | count u32`` then per frame
``ts_ns u64 | can_id u32 | flags u8 | len u8 | data[len]``, all little-endian.

Decoding is vectorised across payloads: header fields and checks are gathered for every payload
at once; frame offsets come from arithmetic when every frame of a payload has the same length
(the common case), else from walking every payload's frame chain in lockstep (one numpy step per
frame index, over the payloads that still have frames; the last few chains, where a numpy step
costs more than a Python one per frame, in Python); then every field of every frame of every
payload is gathered at once. Only rejected payloads (rare) get Python work, for their reason; a
single payload (the gateway's own batches) has its header read in Python, cheaper than arrays.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

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
    """Encode python-can ``Message`` objects (duck-typed) as one CANP payload.

    python-can hands frames over one by one, so this is a loop over the messages; packing each
    with ``struct`` costs less than collecting columns for :func:`encode_columns` (whose numpy
    set-up alone outweighs it below a few hundred frames).
    """
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


#: A frame header as it is on the wire (packed, little-endian).
_HEAD_RECORD = np.dtype([("ts", "<u8"), ("can_id", "<u4"), ("flags", "u1"), ("len", "u1")])
_COLUMN = np.arange(FRAME_HEAD_SIZE + MAX_DATA)
#: Row n: which bytes of a full-width record (head and MAX_DATA data bytes) a frame of n data
#: bytes keeps.
_KEEP_BYTES = _COLUMN[None, :] < (FRAME_HEAD_SIZE + np.arange(MAX_DATA + 1))[:, None]


def encode_frames(
    ts: npt.NDArray[np.int64],
    can_id: npt.NDArray[np.uint32],
    flags: npt.NDArray[np.uint8],
    lengths: npt.NDArray[np.int64],
    data: npt.NDArray[np.uint8],
) -> bytes:
    """Encode frames given as columns, with their data as the rows of a 2-D array (frame ``i``'s
    data is ``data[i, :lengths[i]]``), as one CANP payload (vectorised).

    What a reader that receives frames into fixed-size slots has (:mod:`hw.socketcan_reader`):
    when every frame has the same length the records are written in place, else full-width
    records are built and cut to their lengths in one pass.
    """
    n = ts.size
    width = data.shape[1] if data.ndim == 2 else 0
    longest = int(lengths.max()) if n else 0
    if longest > min(width, MAX_DATA):
        raise WireError(
            f"a frame has {longest} data bytes; CAN FD carries at most {MAX_DATA}"
            + (f" and the rows hold {width}" if width < MAX_DATA else "")
        )
    head = np.empty(n, _HEAD_RECORD)
    head["ts"] = ts
    head["can_id"] = can_id
    head["flags"] = flags
    head["len"] = lengths
    heads = head.view(np.uint8).reshape(n, FRAME_HEAD_SIZE)
    out = np.empty(HEAD_SIZE + n * FRAME_HEAD_SIZE + int(lengths.sum()), np.uint8)
    out[:HEAD_SIZE] = np.frombuffer(HEADER.pack(MAGIC, VERSION, 0, n), np.uint8)
    if n and int(lengths.min()) == longest:  # one length: records of one size, in place
        records = out[HEAD_SIZE:].reshape(n, FRAME_HEAD_SIZE + longest)
        records[:, :FRAME_HEAD_SIZE] = heads
        records[:, FRAME_HEAD_SIZE:] = data[:, :longest]
    elif n:
        full = np.empty((n, FRAME_HEAD_SIZE + longest), np.uint8)
        full[:, :FRAME_HEAD_SIZE] = heads
        full[:, FRAME_HEAD_SIZE:] = data[:, :longest]
        out[HEAD_SIZE:] = full[_KEEP_BYTES.take(lengths, axis=0)[:, : FRAME_HEAD_SIZE + longest]]
    return out.tobytes()


def _scatter(
    out: npt.NDArray[np.uint8], base: npt.NDArray[np.int64], cols: npt.NDArray[np.uint8]
) -> None:
    width = cols.shape[1]
    out[(base[:, None] + _FIELD[:width]).ravel()] = cols.ravel()


def _at_every_byte(buf: bytes, dtype: str) -> npt.NDArray[Any]:
    """``buf`` read as ``dtype`` at every byte: element ``i`` is made of bytes ``i, i + 1, ...``."""
    width = np.dtype(dtype).itemsize
    return np.ndarray((max(0, len(buf) - width + 1),), dtype, buf, 0, (1,))


def _group_starts(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Where each group of ``sizes`` starts when the groups are laid end to end, plus the total."""
    first = np.zeros(sizes.size + 1, np.int64)
    np.cumsum(sizes, out=first[1:])
    return first


def _uniform(
    arr: npt.NDArray[np.uint8],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]:
    """Which payloads hold ``count`` frames of their first frame's length exactly up to ``end``,
    and the offsets of those frames (back to back, only for those payloads)."""
    first_len = arr[start + 13]
    step = first_len + np.int64(FRAME_HEAD_SIZE)
    uniform = start + count * step == end
    if not uniform.any():
        return uniform, np.empty(0, np.int64)
    which = None if uniform.all() else np.flatnonzero(uniform)
    if which is not None:
        start, count, step, first_len = start[which], count[which], step[which], first_len[which]
    if count.size == 1:
        offsets = start[0] + np.arange(count[0], dtype=np.int64) * step[0]
        same = arr[offsets + 13] == first_len[0]
    else:
        index = np.arange(int(count.sum()), dtype=np.int64)
        index -= np.repeat(_group_starts(count)[:-1], count)
        offsets = np.repeat(start, count) + index * np.repeat(step, count)
        same = arr[offsets + 13] == np.repeat(first_len, count)
    if not same.all():  # the sizes add up, yet the lengths differ: walk these payloads instead
        which = np.flatnonzero(uniform) if which is None else which
        uniform[which[np.repeat(np.arange(which.size), count)[~same]]] = False
        offsets = offsets[np.repeat(uniform[which], count)]
    return uniform, offsets


#: Below this many payloads still walking, a Python loop per frame (~80 ns) beats a numpy step
#: per frame index (~3.3 us however many payloads it moves).
_FEW = 40


def _lockstep(
    buf: bytes,
    out: npt.NDArray[np.int64],
    dest: npt.NDArray[np.int64],
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
) -> npt.NDArray[np.bool_]:
    """Walk the frame chains of many payloads together, writing payload ``j``'s ``count[j]`` frame
    offsets to ``out[dest[j]:]``; which chains end exactly at their payload's ``end``. A chain cut
    short (no room for a frame header) reads no further: its offsets keep growing past ``end``."""
    k, n, order = 0, count.size, np.arange(count.size)
    pos, last = start.copy(), end - 1
    if n >= _FEW:
        arr = np.frombuffer(buf, np.uint8)
        order = np.argsort(-count, kind="stable")  # the payloads still walking form a prefix
        dest, pos, count, last = dest[order], start[order], count[order], last[order]
        done = np.searchsorted(count[::-1], np.arange(int(count[0])), side="right")
        for k, n in enumerate((count.size - done).tolist()):
            if n < _FEW:
                break
            here = pos[:n]
            out[dest[:n] + k] = here
            read = here + 13
            np.minimum(read, last[:n], out=read)  # never past the payload's last byte
            here += arr[read]
            here += FRAME_HEAD_SIZE
        else:
            n = 0
    for j, (p, stop, d, c) in enumerate(
        zip(
            pos[:n].tolist(),
            (last[:n] - 13).tolist(),
            dest[:n].tolist(),
            count[:n].tolist(),
            strict=True,
        )
    ):
        pos[j] = _walk(buf, out[d : d + c], k, p, stop)
    exact = np.empty(order.size, np.bool_)
    exact[order] = pos == last + 1
    return exact


def _walk(buf: bytes, out: npt.NDArray[np.int64], k: int, pos: int, stop: int) -> int:
    """Walk one chain in Python from frame ``k`` at ``pos``, writing the offsets of frames ``k..``
    to ``out``; where the last frame ends, or -1 when a frame header starts beyond ``stop``."""
    found: list[int] = []
    for _ in range(k, out.size):
        if pos > stop:  # no room for this frame's header: the chain is cut here
            out[k + len(found) :] = pos
            pos = -1
            break
        found.append(pos)
        pos += FRAME_HEAD_SIZE + buf[pos + 13]
    out[k : k + len(found)] = found
    return pos


def _chains(
    buf: bytes,
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_] | None]:
    """Offsets of the first ``count[j]`` frames of every payload ``j`` (each with room for its
    first frame header), back to back, and which payloads' chains end exactly at their ``end``
    (None: all of them)."""
    arr = np.frombuffer(buf, np.uint8)
    first = _group_starts(count)
    uniform, offsets = _uniform(arr, start, end, count)
    if uniform.all():
        return offsets, None
    out = np.empty(int(first[-1]), np.int64)
    if offsets.size:
        out[np.repeat(uniform, count)] = offsets
    rest = np.flatnonzero(~uniform)
    uniform[rest] = _lockstep(buf, out, first[rest], start[rest], end[rest], count[rest])
    return out, uniform


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


_HEAD_OK = int.from_bytes(MAGIC + bytes([VERSION]), "little")  # magic and version, as read


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
    header = (size >= HEAD_SIZE) & ((word & 0xFFFFFF) == _HEAD_OK)
    walk = header & (count > 0) & (start + FRAME_HEAD_SIZE <= end)
    index: npt.NDArray[np.int64] | None = None  # which payloads have frames (None: all)
    bad: list[int] = []
    if not walk.all():
        bad = np.flatnonzero(~walk & ~(header & (count == 0) & (start == end))).tolist()
        index = np.flatnonzero(walk)
        start, end, count = start[index], end[index], count[index]
    # a chain is walked no further than one frame past what could fit in its payload
    steps = np.minimum(count, (end - start) // FRAME_HEAD_SIZE + 1)
    offsets, exact = _chains(buf, start, end, steps)
    if exact is not None and not exact.all():
        index = np.arange(size.size) if index is None else index
        bad += index[~exact].tolist()
        offsets, index, steps = offsets[np.repeat(exact, steps)], index[exact], steps[exact]
    lens = arr[offsets + 13]
    if lens.size and int(lens.max()) > MAX_DATA:
        index = np.arange(size.size) if index is None else index
        long = np.maximum.reduceat(lens, _group_starts(steps)[:-1]) > MAX_DATA
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
            exact = _walk(buf, offsets, 0, HEAD_SIZE, size - FRAME_HEAD_SIZE) == size
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
