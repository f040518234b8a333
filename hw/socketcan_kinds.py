"""Every kind of SocketCAN frame header, looked up in one step.

A frame's kind is what its header and read size say about it: the id's EFF / RTR / ERR flag
bits, whether it was read as CAN FD (a 72-byte read), its BRS / ESI flags and its length byte.
:func:`kind_keys` makes one key per frame from the first 8 bytes of its ``struct can_frame`` /
``struct canfd_frame`` (read as one little-endian word) and its read size; :func:`kinds` holds
what each key means for CANP, mapped as python-can's socketcan interface maps frames: the id mask
(29 bits for an extended id, 11 otherwise, the flag bits kept), CANP's flags (FD, BRS, ESI; none
for a classic frame), the data length (rounded up to a valid FD length; 0 for a remote frame) and
the frame's bits on the wire (:func:`hw.bus.frame_bits`). Mapping a batch is then one table
lookup instead of a pass per column.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from canp.schema import CAN_EFF_MASK, FLAG_FD
from canp.wire import MAX_DATA
from hw.bus import bits_table
from hw.socketcan_socket import CAN_ID_FLAGS, CAN_SFF_MASK

_ID_SHIFT = 29  # the id's EFF / RTR / ERR flag bits → key bits 2 / 1 / 0
_LEN_AT = 3  # the length byte (the word's byte 4) → key bits 3..10
_FLAGS_MASK = 0x1FFF  # the frame's BRS / ESI flag bits (its byte 5) → key bits 11, 12
_FD_SIZE_BIT, _FD_SHIFT = 64, 7  # a 72-byte read (bit 6 of the size; 16 has none) → key bit 13
KEYS = 1 << 14

#: What a key means: id mask, CANP flags, data length, bits at the nominal and data bit rates.
KIND = np.dtype(
    [("keep", "<u4"), ("flags", "u1"), ("len", "<i8"), ("nominal", "<i8"), ("data", "<i8")]
)

#: CAN FD: the data length a frame of n bytes (0..64) is read with (rounded up to a valid length).
_PADDED = np.array(
    [next(v for v in (*range(9), 12, 16, 20, 24, 32, 48, 64) if v >= n) for n in range(65)]
)


def kind_keys(words: npt.NDArray[np.uint64], sizes: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """The key of each frame: ``words`` its first 8 bytes as a little-endian word, ``sizes`` the
    bytes read (16 classic, 72 FD)."""
    keys = (words >> np.uint64(_ID_SHIFT)) & np.uint64(_FLAGS_MASK)
    keys |= (sizes & _FD_SIZE_BIT).astype(np.uint64) << np.uint64(_FD_SHIFT)
    return keys


@functools.cache
def kinds() -> npt.NDArray[Any]:
    """What every key means (:data:`KIND`), indexed by :func:`kind_keys` (built once)."""
    key = np.arange(KEYS)
    id_bits = key & 7
    raw_len = (key >> _LEN_AT) & 0xFF
    fd = ((key >> (_FD_SHIFT + 6)) & 1).astype(bool)
    table = np.zeros(KEYS, KIND)
    table["keep"] = np.where(id_bits & 4, CAN_ID_FLAGS | CAN_EFF_MASK, CAN_ID_FLAGS | CAN_SFF_MASK)
    flags = np.where(fd, FLAG_FD | (((key >> 11) & 3) << 1), 0)
    table["flags"] = flags
    length = _PADDED[np.minimum(raw_len, np.where(fd, MAX_DATA, 8))]
    length[(id_bits & 2) != 0] = 0  # a remote frame carries no data
    table["len"] = length
    nominal, data = bits_table()
    bits_key = id_bits | ((flags & 3) << 3) | (length << 5)
    table["nominal"] = nominal[bits_key]
    table["data"] = data[bits_key]
    return table
