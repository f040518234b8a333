"""Where the frames of many CANP payloads start: by arithmetic when a payload's frames all have
the same length, else by walking the payloads' frame chains in lockstep (one numpy step per frame
index), the last few chains in Python."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from canp.wire.format import FRAME_HEAD_SIZE


def group_starts(sizes: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
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
        index -= np.repeat(group_starts(count)[:-1], count)
        offsets = np.repeat(start, count) + index * np.repeat(step, count)
        same = arr[offsets + 13] == np.repeat(first_len, count)
    if not same.all():  # the sizes add up, yet the lengths differ: walk these payloads instead
        which = np.flatnonzero(uniform) if which is None else which
        uniform[which[np.repeat(np.arange(which.size), count)[~same]]] = False
        offsets = offsets[np.repeat(uniform[which], count)]
    return uniform, offsets


#: Below this many payloads still walking, a Python loop per frame (~80 ns) beats a numpy step
#: per frame index (~3.3 us however many payloads it moves).
FEW = 40


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
    if n >= FEW:
        arr = np.frombuffer(buf, np.uint8)
        order = np.argsort(-count, kind="stable")  # the payloads still walking form a prefix
        dest, pos, count, last = dest[order], start[order], count[order], last[order]
        done = np.searchsorted(count[::-1], np.arange(int(count[0])), side="right")
        for k, n in enumerate((count.size - done).tolist()):
            if n < FEW:
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
        pos[j] = walk(buf, out[d : d + c], k, p, stop)
    exact = np.empty(order.size, np.bool_)
    exact[order] = pos == last + 1
    return exact


def walk(buf: bytes, out: npt.NDArray[np.int64], k: int, pos: int, stop: int) -> int:
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


def frame_offsets(
    buf: bytes,
    start: npt.NDArray[np.int64],
    end: npt.NDArray[np.int64],
    count: npt.NDArray[np.int64],
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bool_] | None]:
    """Offsets of the first ``count[j]`` frames of every payload ``j`` (each with room for its
    first frame header), back to back, and which payloads' chains end exactly at their ``end``
    (None: all of them)."""
    arr = np.frombuffer(buf, np.uint8)
    first = group_starts(count)
    uniform, offsets = _uniform(arr, start, end, count)
    if uniform.all():
        return offsets, None
    out = np.empty(int(first[-1]), np.int64)
    if offsets.size:
        out[np.repeat(uniform, count)] = offsets
    rest = np.flatnonzero(~uniform)
    uniform[rest] = _lockstep(buf, out, first[rest], start[rest], end[rest], count[rest])
    return out, uniform
