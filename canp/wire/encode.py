"""Frames encoded as one CANP payload: from python-can messages, from frame columns, and from
fixed-width rows (what a SocketCAN reader receives)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

from canp.schema import (
    CAN_EFF_FLAG,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FrameColumns,
)
from canp.wire.format import (
    FRAME_HEAD,
    FRAME_HEAD_SIZE,
    HEAD_SIZE,
    HEADER,
    MAGIC,
    MAX_DATA,
    VERSION,
    WireError,
)

_FIELD = np.arange(8)


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
