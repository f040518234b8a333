"""``decode_payloads`` vectorised across payloads gives exactly what the per-payload decoder gave.

The reference below is the decoder as it was before (a Python loop per payload, a Python walk per
frame when the lengths differ), kept verbatim but for its names; random lists of valid and broken
payloads must decode to the same frames, sources and rejection reasons, through the lockstep walk,
the Python walk of the last few chains and the single-payload path alike.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from random import Random

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import canp.wire.locate
from canp.schema import FrameColumns
from canp.wire import (
    FRAME_HEAD,
    FRAME_HEAD_SIZE,
    HEAD_SIZE,
    HEADER,
    MAGIC,
    MAX_DATA,
    VERSION,
    Decoded,
    WireError,
    decode_payloads,
)

_FIELD = np.arange(8)


def _old_offsets(
    buf: bytes, start: int, count: int, end: int, origin: int
) -> npt.NDArray[np.int64]:
    if count == 0:
        if start != end:
            raise WireError(f"{end - start} bytes after 0 frames")
        return np.empty(0, np.int64)
    if start + FRAME_HEAD_SIZE > end:
        raise WireError("truncated: no room for the first frame header")
    first_len = buf[start + 13]
    step = FRAME_HEAD_SIZE + first_len
    if start + count * step == end:
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


def old_decode_payloads(payloads: Sequence[bytes]) -> Decoded:
    """The decoder before vectorisation across payloads: the reference."""
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
            offsets = _old_offsets(buf, start + HEAD_SIZE, count, end, start)
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


def assert_same(got: Decoded, want: Decoded) -> None:
    for name in ("ts", "can_id", "flags"):
        a, b = getattr(got.frames, name), getattr(want.frames, name)
        assert a.dtype == b.dtype, name
        assert np.array_equal(a, b), name
    assert got.frames.data.type == want.frames.data.type
    assert got.frames.data.equals(want.frames.data)
    assert got.source.dtype == want.source.dtype
    assert got.source.tolist() == want.source.tolist()
    assert got.rejected == want.rejected


@contextmanager
def few(n: int) -> Iterator[None]:
    """Hand the chains over to the Python walk below ``n`` payloads instead of the default."""
    saved = canp.wire.locate.FEW
    canp.wire.locate.FEW = n
    try:
        yield
    finally:
        canp.wire.locate.FEW = saved


def check(payloads: list[bytes]) -> None:
    want = old_decode_payloads(payloads)
    for threshold in (
        1,
        2,
        5,
        canp.wire.locate.FEW,
    ):  # lockstep all the way, or Python for the tail
        with few(threshold):
            assert_same(decode_payloads(payloads), want)
    for i, p in enumerate(payloads):  # the single-payload path
        one = old_decode_payloads([p])
        assert_same(decode_payloads([p]), one)
        if one.rejected:
            assert [(i, one.rejected[0][1])] == [r for r in want.rejected if r[0] == i]


def build(frames: Sequence[tuple[int, int, int, bytes]], count: int | None = None) -> bytes:
    body = b"".join(FRAME_HEAD.pack(t, c, f, len(d)) + d for t, c, f, d in frames)
    return HEADER.pack(MAGIC, VERSION, 0, len(frames) if count is None else count) + body


LENGTHS = st.one_of(
    st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 12, 16, 20, 24, 32, 48, 64]),
    st.integers(0, 64),
)
frame_st = st.tuples(
    st.integers(0, (1 << 64) - 1),
    st.integers(0, (1 << 32) - 1),
    st.integers(0, 255),
    LENGTHS.flatmap(lambda n: st.binary(min_size=n, max_size=n)),
)


@st.composite
def payload_st(draw: st.DrawFn) -> bytes:
    """A valid payload, often uniform, then maybe broken in one of the ways the decoder checks."""
    if draw(st.booleans()):
        frames = draw(st.lists(frame_st, max_size=12))
    else:  # every frame the same length: the arithmetic fast path
        n, length = draw(st.integers(0, 12)), draw(LENGTHS)
        frames = [
            (*draw(frame_st)[:3], draw(st.binary(min_size=length, max_size=length)))
            for _ in range(n)
        ]
    wire = build(frames)
    how = draw(
        st.sampled_from(
            ["none"] * 6
            + ["cut", "trailing", "count", "magic", "version", "long", "length byte", "random"]
        )
    )
    if how == "cut":
        wire = wire[: draw(st.integers(0, max(0, len(wire) - 1)))]
    elif how == "trailing":
        wire += draw(st.binary(min_size=1, max_size=40))
    elif how == "count":
        count = draw(st.one_of(st.integers(0, len(frames) + 5), st.integers(0, 10_000)))
        wire = HEADER.pack(MAGIC, VERSION, 0, count) + wire[HEAD_SIZE:]
    elif how == "magic":
        wire = draw(st.binary(min_size=2, max_size=2).filter(lambda m: m != MAGIC)) + wire[2:]
    elif how == "version":
        wire = (
            wire[:2] + bytes([draw(st.integers(0, 255).filter(lambda v: v != VERSION))]) + wire[3:]
        )
    elif how == "long":  # a frame of more than 64 bytes, the chain otherwise sound
        extra = draw(st.integers(MAX_DATA + 1, 255))
        at = draw(st.integers(0, len(frames)))
        frames = [*frames[:at], (1, 2, 3, bytes(extra)), *frames[at:]]
        wire = build(frames)
    elif how == "length byte" and frames:  # one frame's length byte changed: the chain breaks
        at, pos = draw(st.integers(0, len(frames) - 1)), HEAD_SIZE
        for _, _, _, d in frames[:at]:
            pos += FRAME_HEAD_SIZE + len(d)
        wire = wire[: pos + 13] + bytes([draw(st.integers(0, 255))]) + wire[pos + 14 :]
    elif how == "random":
        wire = draw(st.binary(max_size=60))
    return wire


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.lists(payload_st(), max_size=12))
def test_matches_the_per_payload_decoder(payloads: list[bytes]) -> None:
    check(payloads)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(st.lists(payload_st(), min_size=1, max_size=8), st.randoms(use_true_random=False))
def test_matches_with_enough_payloads_for_the_lockstep_walk(
    payloads: list[bytes], rnd: Random
) -> None:
    many = payloads * (canp.wire.locate.FEW // len(payloads) + 2)  # enough to walk in lockstep
    rnd.shuffle(many)
    check(many)


def random_batch(rng: np.random.Generator, n: int, frames: tuple[int, int]) -> list[bytes]:
    """``n`` payloads of mixed-length frames, about one in five broken somehow."""
    out = []
    for _ in range(n):
        lens = rng.choice([0, 3, 8, 8, 8, 12, 64], int(rng.integers(*frames)))
        wire = build([(1, 2, 3, bytes(rng.integers(0, 256, k, np.uint8))) for k in lens])
        kind = int(rng.integers(0, 10))
        if kind == 0 and len(wire) > HEAD_SIZE:
            wire = wire[: int(rng.integers(HEAD_SIZE, len(wire)))]
        elif kind == 1:
            wire = (
                HEADER.pack(MAGIC, VERSION, 0, max(0, len(lens) + int(rng.integers(-2, 3))))
                + wire[8:]
            )
        elif kind == 2:
            wire += b"\x00"
        out.append(wire)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_matches_on_large_random_batches(seed: int) -> None:
    rng = np.random.default_rng(seed)
    payloads = random_batch(rng, 300, (0, 12))
    payloads += random_batch(rng, 3, (100, 400))  # stragglers: the walk ends in Python
    payloads = [payloads[i] for i in rng.permutation(len(payloads))]
    want = old_decode_payloads(payloads)
    assert want.rejected, "the batch should hold broken payloads"
    assert_same(decode_payloads(payloads), want)


def test_a_huge_count_is_cut_at_the_first_frame_that_does_not_fit() -> None:
    # the count claims 2**32 - 1 frames; only the frames present are walked (no huge allocation)
    wire = build([(1, 1, 0, b"\x00" * 8)], count=(1 << 32) - 1)
    good = build([(1, 1, 0, b"\x00" * 3)] * 2)
    for payloads in ([wire], [good, wire, good], [good, wire] * 30):
        decoded = decode_payloads(payloads)
        assert [r for r in decoded.rejected if r[0] == payloads.index(wire)] == [
            (payloads.index(wire), "truncated: frame 1 of 4294967295 starts at byte 30 of 30")
        ]
        assert len(decoded.frames) == 2 * payloads.count(good)


def test_header_bytes_are_read_little_endian() -> None:
    wire = build([(0x0102030405060708, 0x0A0B0C0D, 5, b"\x01\x02")] * 3)
    decoded = decode_payloads([wire, wire])
    assert decoded.frames.ts.tolist() == [0x0102030405060708] * 6
    assert decoded.frames.can_id.tolist() == [0x0A0B0C0D] * 6
    assert struct.unpack_from("<I", wire, 4) == (3,)
