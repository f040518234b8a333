"""Frames to write to a log, a chunk at a time: flag arrays and python-can messages.

A chunk is a slice of a ``frames`` table (:data:`canp.schema.FRAMES_SCHEMA`) as flat arrays
(:class:`canp.schema.FrameColumns`) with each frame's channel as python-can's writers take it (a
number, a name, or None). :mod:`canp.io.exporter` hands chunks to a format's writer message by
message (:meth:`FrameChunk.messages`) or, for MF4, in bulk (:mod:`canp.io.mf4`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from canp.schema import (
    CAN_EFF_FLAG,
    CAN_EFF_MASK,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FrameColumns,
)


def _bits(mask: Any) -> npt.NDArray[np.bool_]:
    out: npt.NDArray[np.bool_] = np.asarray(mask, np.bool_)
    return out


def seconds(ts_ns: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """ns → float seconds with one rounding (whole seconds plus the fraction)."""
    whole = ts_ns // 1_000_000_000
    frac = ts_ns - whole * 1_000_000_000
    out: npt.NDArray[np.float64] = whole.astype(np.float64) + frac.astype(np.float64) / 1e9
    return out


@dataclass(frozen=True)
class FrameChunk:
    """One chunk of frames as flat arrays, with each frame's channel for the writer."""

    frames: FrameColumns
    channel: list[Any]  # python-can channel per frame (int, str or None)

    @property
    def extended(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.can_id & CAN_EFF_FLAG) != 0)

    @property
    def remote(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.can_id & CAN_RTR_FLAG) != 0)

    @property
    def error(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.can_id & CAN_ERR_FLAG) != 0)

    @property
    def fd(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.flags & FLAG_FD) != 0)

    @property
    def brs(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.flags & FLAG_BRS) != 0)

    @property
    def esi(self) -> npt.NDArray[np.bool_]:
        return _bits((self.frames.flags & FLAG_ESI) != 0)

    @property
    def ids(self) -> npt.NDArray[np.uint32]:
        cid = self.frames.can_id
        out: npt.NDArray[np.uint32] = np.where(
            self.extended, cid & CAN_EFF_MASK, cid & 0x7FF
        ).astype(np.uint32)
        return out

    def messages(self) -> Iterator[can.Message]:
        """python-can messages (the per-frame part: one constructor call each)."""
        f = self.frames
        for t, i, ext, rtr, err, fd, b, e, ch, data in zip(
            seconds(f.ts).tolist(),
            self.ids.tolist(),
            self.extended.tolist(),
            self.remote.tolist(),
            self.error.tolist(),
            self.fd.tolist(),
            self.brs.tolist(),
            self.esi.tolist(),
            self.channel,
            f.data.to_pylist(),
            strict=True,
        ):
            yield can.Message(
                timestamp=t,
                arbitration_id=i,
                is_extended_id=ext,
                is_remote_frame=rtr,
                is_error_frame=err,
                is_fd=fd,
                bitrate_switch=b,
                error_state_indicator=e,
                channel=ch,
                dlc=len(data),
                data=data,
            )


def frame_chunks(table: pa.Table, channel_of: Mapping[str, Any], size: int) -> Iterator[FrameChunk]:
    """``table`` (a ``frames`` table) in chunks of ``size``; ``channel_of`` maps bus → channel."""
    for offset in range(0, table.num_rows, size):
        part = table.slice(offset, size)
        encoded = pc.dictionary_encode(part.column("bus")).combine_chunks()
        values = [channel_of[name] for name in encoded.dictionary.to_pylist()]
        channel = [values[i] for i in encoded.indices.to_numpy(zero_copy_only=False).tolist()]
        yield FrameChunk(FrameColumns.from_table(part), channel)
