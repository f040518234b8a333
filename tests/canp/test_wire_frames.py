"""``encode_frames`` (frames with their data as rows of a 2-D array, as the bulk SocketCAN reader
holds them) gives exactly the payload ``encode_columns`` gives for the same frames."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canp.schema import FrameColumns
from canp.wire import MAX_DATA, WireError, encode_columns, encode_frames

LENGTHS = st.sampled_from([0, 1, 3, 8, 12, 16, 20, 48, 64])


def rows(
    n: int, lengths: list[int], seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ts = rng.integers(0, 2**62, n, dtype=np.int64)
    can_id = rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    flags = rng.integers(0, 8, n, dtype=np.uint8)
    data = rng.integers(0, 256, (n, MAX_DATA), dtype=np.uint8)
    return ts, can_id, flags, np.array(lengths, np.int64), data


def columns(
    ts: np.ndarray, can_id: np.ndarray, flags: np.ndarray, lengths: np.ndarray, data: np.ndarray
) -> FrameColumns:
    payloads = [bytes(row[:n]) for row, n in zip(data, lengths.tolist(), strict=True)]
    return FrameColumns(ts, can_id, flags, pa.array(payloads, pa.binary()))


@settings(max_examples=60, deadline=None)
@given(st.lists(LENGTHS, max_size=40), st.integers(0, 2**32))
def test_mixed_lengths_encode_as_encode_columns_does(lengths: list[int], seed: int) -> None:
    cols = rows(len(lengths), lengths, seed)
    assert encode_frames(*cols) == encode_columns(columns(*cols))


@pytest.mark.parametrize("length", [0, 8, 64])
def test_one_length_for_every_frame_encodes_as_encode_columns_does(length: int) -> None:
    cols = rows(300, [length] * 300, length)
    assert encode_frames(*cols) == encode_columns(columns(*cols))


def test_rows_narrower_than_a_length_or_longer_than_can_fd_are_refused() -> None:
    ts, can_id, flags, _lengths, data = rows(2, [8, 8], 1)
    with pytest.raises(WireError):
        encode_frames(ts, can_id, flags, np.array([8, 9]), data[:, :8])
    with pytest.raises(WireError):
        encode_frames(ts, can_id, flags, np.array([8, 65]), np.zeros((2, 72), np.uint8))
