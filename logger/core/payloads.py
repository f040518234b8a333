"""Message payloads held back to back in one anonymous memory map.

The Ringbus appends each captured payload to a :class:`PayloadBuffer` instead of keeping one
``bytes`` object per message. A batch handed to the writer takes the whole map as
:class:`Payloads`, a sequence of ``bytes`` whose :meth:`Payloads.array` is an Arrow binary array
over the same memory (no copy). When the last reference to a batch goes, its map is unmapped and
the memory is back with the system at once, instead of staying in the allocator's free lists.
"""

from __future__ import annotations

import itertools
import mmap
from array import array
from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt
import pyarrow as pa

_INT32_MAX = (1 << 31) - 1
#: The smallest map a buffer starts with (pages are only resident once written).
MIN_MAP = 1 << 20
#: A map asks for transparent huge pages beyond its first HUGE_PAGE bytes once payloads reach
#: them: filling a map with 4 KiB pages cost about 1.7 us per 2 KB payload in page faults, with
#: 2 MiB pages about 0.55 us. A batch smaller than that stays in 4 KiB pages, so what it holds
#: resident stays what it counts against the memory share (one huge page each would not).
HUGE_PAGE = 2 << 20


def _round_up(n: int) -> int:
    return -(-n // mmap.PAGESIZE) * mmap.PAGESIZE


class Payloads(Sequence[bytes]):
    """Payloads ``i`` = ``data[offsets[i]:offsets[i + 1]]``; immutable."""

    __slots__ = ("_data", "_offsets")

    def __init__(self, data: pa.Buffer, offsets: npt.NDArray[np.int64]) -> None:
        if offsets.size < 1:
            raise ValueError("offsets need at least one entry")
        self._data = data
        self._offsets = offsets

    @classmethod
    def empty(cls) -> Payloads:
        return cls(pa.py_buffer(b""), np.zeros(1, np.int64))

    def __len__(self) -> int:
        return int(self._offsets.size - 1)

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | Sequence[bytes]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return [self[i] for i in range(start, stop, step)]
            return Payloads(self._data, self._offsets[start : max(start, stop) + 1])
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError("payload index out of range")
        begin, end = int(self._offsets[index]), int(self._offsets[index + 1])
        return bytes(memoryview(self._data)[begin:end])

    def __iter__(self) -> Iterator[bytes]:
        view = memoryview(self._data)
        bounds = self._offsets.tolist()
        for begin, end in itertools.pairwise(bounds):
            yield bytes(view[begin:end])

    @property
    def nbytes(self) -> int:
        return int(self._offsets[-1] - self._offsets[0])

    def array(self) -> pa.BinaryArray:
        """The payloads as an Arrow ``binary`` array over the same memory."""
        first = int(self._offsets[0])
        if self.nbytes > _INT32_MAX:
            raise ValueError(f"{self.nbytes} payload bytes do not fit one Arrow binary array")
        offsets = (self._offsets - first).astype(np.int32)
        data = self._data.slice(first, self.nbytes)
        out: pa.BinaryArray = pa.Array.from_buffers(
            pa.binary(), len(self), [None, pa.py_buffer(offsets), data]
        )
        return out


def binary_array(payloads: Sequence[bytes]) -> pa.BinaryArray:
    """``payloads`` as an Arrow ``binary`` array: no copy for :class:`Payloads`."""
    if isinstance(payloads, Payloads):
        return payloads.array()
    out: pa.BinaryArray = pa.array(payloads, pa.binary())
    return out


class PayloadBuffer:
    """Payloads appended back to back into an anonymous map of at least ``capacity`` bytes.

    The map only reserves address space: pages become resident as payloads are written. It grows
    (a new map, the old one copied) when a payload does not fit.
    """

    def __init__(self, capacity: int = MIN_MAP) -> None:
        self._capacity = _round_up(max(capacity, MIN_MAP))
        self._map: mmap.mmap | None = None
        self._room = 0  # the map's length (0 without a map)
        self._huge_at = 0  # where the map's huge pages start once written up to (0: none)
        self._size = 0
        self._ends = array("q")

    def __len__(self) -> int:
        return len(self._ends)

    @property
    def nbytes(self) -> int:
        return self._size

    def append(self, payload: bytes) -> None:
        end = self._size + len(payload)
        if end > self._room or self._map is None:
            self._grow(end)
        if self._huge_at and end > self._huge_at:
            self._map.madvise(mmap.MADV_HUGEPAGE, self._huge_at, self._room - self._huge_at)  # type: ignore[union-attr]
            self._huge_at = 0
        self._map[self._size : end] = payload  # type: ignore[index]  # _grow made it
        self._size = end
        self._ends.append(end)

    def _grow(self, need: int) -> None:
        old = self._map
        size = _round_up(max(need, self._capacity, 2 * len(old) if old is not None else 0))
        new = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        start = max(HUGE_PAGE, _round_up(self._size))
        self._huge_at = start if size - start >= HUGE_PAGE else 0
        if old is not None and self._size:
            new[: self._size] = old[: self._size]
        self._room = size
        self._map = new  # the old map goes with its last reference (a snapshot may hold one)

    def view(self) -> Payloads:
        """What is buffered now; appends that follow do not change it."""
        if self._map is None or not self._ends:
            return Payloads.empty()
        offsets = np.empty(len(self._ends) + 1, np.int64)
        offsets[0] = 0
        offsets[1:] = np.frombuffer(self._ends, np.int64)
        return Payloads(pa.py_buffer(self._map), offsets)

    def take(self) -> Payloads:
        """Everything buffered; the buffer starts again empty, with a new map."""
        out = self.view()
        self._map = None
        self._room = 0
        self._size = 0
        self._ends = array("q")
        return out
