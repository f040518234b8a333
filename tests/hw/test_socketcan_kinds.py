"""The frame-kind table (hw/socketcan_kinds.py) against the frame-by-frame rules, for every key."""

from __future__ import annotations

import can
import numpy as np

from canp.schema import FLAG_BRS, FLAG_ESI, FLAG_FD
from hw.bus import frame_bits
from hw.socketcan_kinds import KEYS, kind_keys, kinds
from hw.socketcan_socket import CAN_MTU, CANFD_MTU

EFF, RTR, ERR = 0x80000000, 0x40000000, 0x20000000
FD_LENGTHS = (*range(9), 12, 16, 20, 24, 32, 48, 64)


def test_every_header_maps_as_python_can_maps_it() -> None:
    table = kinds()
    seen = set()
    for id_bits in range(8):
        for raw_len in range(256):
            for flags in range(4):
                for size in (CAN_MTU, CANFD_MTU):
                    can_id = (id_bits << 29) | 0x1ABCDEF
                    word = can_id | raw_len << 32 | (flags | 0xF0) << 40 | 0xAB << 48
                    key = int(kind_keys(np.array([word], np.uint64), np.array([size]))[0])
                    seen.add(key)
                    kind = table[key]
                    fd = size == CANFD_MTU
                    eff = bool(id_bits & 4)
                    assert int(can_id & kind["keep"]) == can_id & (
                        0xE0000000 | (0x1FFFFFFF if eff else 0x7FF)
                    )
                    length = min(raw_len, 64 if fd else 8)
                    if fd:
                        length = next(v for v in FD_LENGTHS if v >= length)
                    if id_bits & 2:
                        length = 0
                    assert int(kind["len"]) == length
                    want = (
                        (FLAG_FD | (FLAG_BRS if flags & 1 else 0) | (FLAG_ESI if flags & 2 else 0))
                        if fd
                        else 0
                    )
                    assert int(kind["flags"]) == want
                    msg = can.Message(
                        is_extended_id=eff,
                        is_remote_frame=bool(id_bits & 2),
                        is_error_frame=bool(id_bits & 1),
                        is_fd=fd,
                        bitrate_switch=bool(fd and flags & 1),
                        data=bytes(length),
                    )
                    assert (int(kind["nominal"]), int(kind["data"])) == frame_bits(msg)
    assert len(seen) == KEYS  # every key made, each once
