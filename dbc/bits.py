"""Vectorised bit extraction from CAN payloads (no per-frame Python).

Payloads of one message are gathered into a zero-padded ``(n, 8 * words)`` uint8 matrix, read as
64-bit words: little-endian words for Intel signals, big-endian words for Motorola signals. A signal
is then one shift and one mask of one word, or of two neighbouring words when it straddles a word
boundary (only possible in CAN FD payloads longer than 8 bytes).

Bit numbering follows the DBC: an Intel signal's ``start`` is its least significant bit, counted
from bit 0 of byte 0 upwards; a Motorola signal's ``start`` is its most significant bit in the
"sawtooth" numbering, turned into a sequential MSB-first bit index as cantools does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

__all__ = ["BitField", "Words", "binary_parts", "bit_field", "gather_rows", "matrix_rows"]

U8 = npt.NDArray[np.uint8]
U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]


@dataclass(frozen=True)
class BitField:
    """Where a signal's raw bits are: ``(word[w] >> shift) | (word[w2] << shift2)``, masked."""

    big_endian: bool
    word: int
    shift: np.uint64
    word2: int  # -1 when the signal lies inside one word
    shift2: np.uint64
    mask: np.uint64


def bit_field(start: int, length: int, big_endian: bool) -> BitField:
    """The extraction recipe for a signal at DBC ``start`` bit with ``length`` bits."""
    mask = np.uint64((1 << length) - 1)
    if not big_endian:
        word, rest = divmod(start, 64)
        if rest + length > 64:
            return BitField(False, word, np.uint64(rest), word + 1, np.uint64(64 - rest), mask)
        return BitField(False, word, np.uint64(rest), -1, np.uint64(0), mask)
    msb = 8 * (start // 8) + 7 - start % 8  # sequential, MSB-first
    end = msb + length
    word = (end - 1) // 64
    shift = 64 * word + 64 - end
    if msb < 64 * word:
        return BitField(True, word, np.uint64(shift), word - 1, np.uint64(64 - shift), mask)
    return BitField(True, word, np.uint64(shift), -1, np.uint64(0), mask)


class Words:
    """The 64-bit words of a padded payload matrix, converted lazily and cached per column."""

    def __init__(self, rows: U8) -> None:
        self._le = rows.view("<u8")
        self._be = rows.view(">u8")
        self._cache: dict[tuple[bool, int], U64] = {}

    def get(self, big_endian: bool, word: int) -> U64:
        key = (big_endian, word)
        got = self._cache.get(key)
        if got is None:
            src = self._be if big_endian else self._le
            got = src[:, word].astype(np.uint64)
            self._cache[key] = got
        return got

    def extract(self, field: BitField) -> U64:
        raw = self.get(field.big_endian, field.word) >> field.shift
        if field.word2 >= 0:
            raw |= self.get(field.big_endian, field.word2) << field.shift2
        raw &= field.mask
        return raw


def binary_parts(data: pa.Array | pa.ChunkedArray) -> tuple[U8, I64, I64]:
    """``(values, starts, lengths)`` of a binary array, zero-copy where pyarrow allows."""
    if isinstance(data, pa.ChunkedArray):
        data = data.combine_chunks() if data.num_chunks != 1 else data.chunk(0)
    if pa.types.is_large_binary(data.type):
        off_type: type[np.generic] = np.int64
    elif pa.types.is_binary(data.type):
        off_type = np.int32
    else:
        data = data.cast(pa.binary())
        off_type = np.int32
    n = len(data)
    buffers = data.buffers()
    width = np.dtype(off_type).itemsize
    offsets = np.frombuffer(buffers[1], off_type, n + 1, data.offset * width).astype(np.int64)
    values = (
        np.frombuffer(buffers[2], np.uint8) if buffers[2] is not None else np.zeros(0, np.uint8)
    )
    return values, offsets[:-1], np.diff(offsets)


def gather_rows(values: U8, starts: I64, nbytes: int) -> U8:
    """``(len(starts), nbytes)`` matrix of the bytes from each start (beyond the end: zero)."""
    n = len(starts)
    if values.size == 0 or n == 0:
        return np.zeros((n, nbytes), np.uint8)
    padded = values
    last = int(starts.max()) + nbytes
    if last > values.size:
        padded = np.zeros(last, np.uint8)
        padded[: values.size] = values
    idx = starts[:, None] + np.arange(nbytes, dtype=np.int64)
    rows: U8 = padded[idx]
    return rows


def matrix_rows(data: npt.NDArray[np.uint8], nbytes: int) -> U8:
    """A 2-D uint8 payload matrix cut or zero-padded to ``nbytes`` columns, C-contiguous."""
    n, width = data.shape
    if width == nbytes and data.flags.c_contiguous:
        return data
    out = np.zeros((n, nbytes), np.uint8)
    keep = min(width, nbytes)
    out[:, :keep] = data[:, :keep]
    return out
