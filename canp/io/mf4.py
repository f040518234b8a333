"""Frames written to MF4 in bulk: numpy records straight into python-can's MF4 writer's groups.

python-can's per-message MF4 path costs ~30 µs a frame; this fills the writer's three channel
groups (data, error and remote frames) with whole record arrays instead, through
:func:`logger.core.compat.mf4_extend`. Time 0 of the file is the first frame (the writer would
take "now").
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import can.util
import numpy as np
import numpy.typing as npt

from canp.io.chunks import FrameChunk
from canp.schema import FrameColumns
from dbc.bits import binary_parts
from logger.core.compat import mf4_extend, mf4_set_start

_DLC_OF_LENGTH = np.array(
    [can.util.len2dlc(n) for n in range(65)], np.uint8
)  # FD lengths → DLC codes


def _data_matrix(frames: FrameColumns) -> npt.NDArray[np.uint8]:
    """Payloads as an (n, 64) byte matrix (zero padded), without a per-frame loop."""
    values, starts, lengths = binary_parts(frames.data)
    n = len(lengths)
    matrix = np.zeros((n, 64), np.uint8)
    total = int(lengths.sum())
    if not total:
        return matrix
    first = int(starts[0])
    rows = np.repeat(np.arange(n), lengths)
    cols = np.arange(total) - np.repeat(starts - first, lengths)
    matrix[rows, cols] = values[first : first + total]
    return matrix


def write_mf4(path: Path, chunks: Iterator[FrameChunk], first_ns: int | None) -> None:
    """Write ``chunks`` to ``path``; ImportError when asammdf is missing."""
    from can.io.mf4 import ERR_DTYPE, RTR_DTYPE, STD_DTYPE, MF4Writer  # noqa: PLC0415

    writer = MF4Writer(path)
    try:
        start_ns = 0
        if first_ns is not None:
            start_ns = first_ns // 1000 * 1000
            mf4_set_start(writer, datetime.fromtimestamp(start_ns // 1000 / 1e6, UTC))
        for chunk in chunks:
            frames = chunk.frames
            offsets = (frames.ts - start_ns).astype(np.float64) / 1e9
            channel = np.array([c if c is not None else 0 for c in chunk.channel], np.uint8)
            lengths = frames.lengths
            data = _data_matrix(frames)
            remote, error, fd = chunk.remote, chunk.error, chunk.fd
            ids, ext = chunk.ids, chunk.extended.astype(np.uint8)
            brs, esi = chunk.brs.astype(np.uint8), chunk.esi.astype(np.uint8)
            dlc = np.where(fd, _DLC_OF_LENGTH[np.minimum(lengths, 64)], lengths).astype(np.uint8)
            groups = (
                (0, "CAN_DataFrame", STD_DTYPE, ~remote & ~error),
                (1, "CAN_ErrorFrame", ERR_DTYPE, error),
                (2, "CAN_RemoteFrame", RTR_DTYPE, remote & ~error),
            )
            for index, name, dtype, rows in groups:
                if not rows.any():
                    continue
                rec = np.zeros(int(rows.sum()), dtype=dtype)
                rec[f"{name}.BusChannel"] = channel[rows]
                rec[f"{name}.ID"] = ids[rows]
                rec[f"{name}.IDE"] = ext[rows]
                rec[f"{name}.DLC"] = dlc[rows]
                if name != "CAN_RemoteFrame":
                    rec[f"{name}.DataLength"] = lengths[rows]
                    rec[f"{name}.DataBytes"] = data[rows]
                    rec[f"{name}.EDL"] = fd[rows]
                    rec[f"{name}.BRS"] = brs[rows]
                    rec[f"{name}.ESI"] = esi[rows]
                mf4_extend(writer, index, offsets[rows], rec)
    finally:
        writer.stop()
