"""Where the records of many SPI payloads start: headers read per payload, then every record's
offset found at once by pointer doubling over the chain of length bytes, in groups of payloads;
payloads whose records do not end exactly at their end are explained."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from spi.wire.format import HEAD_SIZE, HEADER, INT64_MAX, MAGIC, RECORD_HEAD_SIZE, VERSION

#: Payloads are located in groups of about this many bytes (bounds the doubling tables' memory).
GROUP_BYTES = 8 << 20


@dataclass
class Heads:
    index: list[int]
    start: list[int]  # first record (absolute offset in the joined buffer)
    end: list[int]
    count: list[int]
    ts: list[int]


def read_headers(
    buf: bytes, payloads: Sequence[bytes], rejected: list[tuple[int, str]]
) -> tuple[Heads, list[int]]:
    heads = Heads([], [], [], [], [])
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


def locate_records(
    buf: bytes, arr: npt.NDArray[np.uint8], heads: Heads, origins: list[int]
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
