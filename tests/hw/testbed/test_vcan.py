"""Virtual CAN interfaces (hw/testbed/vcan.py) and the candump log format (hw/testbed/canutils.py), where no
kernel CAN is needed; the interface tests themselves are in tests/hw/vcan/test_links.py."""

from __future__ import annotations

import pyarrow as pa
import pytest

from hw.testbed import vcan as vcan_lib
from hw.testbed.canutils import (
    CanUtilsError,
    LoggedFrame,
    first_difference,
    parse_candump_line,
    same_time,
)
from hw.testbed.vcan import CanInterfaceError


@pytest.mark.parametrize("name", ["", "x" * 16, "a/b", "a b", "vcan:0", ".."])
def test_a_bad_interface_name_is_refused_before_the_kernel_sees_it(name: str) -> None:
    with pytest.raises(CanInterfaceError) as info:
        vcan_lib.create_vcan(name)
    assert info.value.reason == "invalid"


def test_candump_log_lines_of_every_kind_are_parsed() -> None:
    line = parse_candump_line("(1700000000.000123) vcan0 123#DEADBEEF")
    assert line == LoggedFrame(
        1_700_000_000_000_123, "vcan0", 0x123, False, False, False, 4, b"\xde\xad\xbe\xef"
    )
    ext = parse_candump_line("(1700000000.000001) can1 1F334455#")
    assert ext.extended and ext.arbitration_id == 0x1F334455 and ext.data == b""
    rtr = parse_candump_line("(1700000000.000001) can1 00000123#R3")
    assert rtr.remote and rtr.extended and rtr.length == 3 and rtr.data == b""
    assert parse_candump_line("(1700000000.000001) can1 7FF#R").length == 0
    err = parse_candump_line("(1700000000.000001) can1 20000080#0000000000000000")
    assert err.error and not err.extended and err.arbitration_id == 0x80
    fd = parse_candump_line("(1700000000.000001) can1 213##71122")
    assert (fd.fd, fd.brs, fd.esi, fd.data) == (True, True, True, b"\x11\x22")
    assert parse_candump_line("(1700000000.000001) can0 594#3421 R").data == b"\x34\x21"
    for bad in ("", "(1.5) can0 123#00", "(1700000000.000001) can0 12#00", "x can0 123#00"):
        with pytest.raises(CanUtilsError):
            parse_candump_line(bad)


def test_kernel_times_match_within_candump_resolution() -> None:
    us = 1_700_000_000_000_123
    assert same_time(us * 1000, us) and same_time(us * 1000 + 999, us)
    assert same_time(us * 1000 - 240, us)  # python-can's float seconds rounded it down
    assert not same_time(us * 1000 + 2000, us) and not same_time(us * 1000 - 1000, us)


def test_the_first_difference_between_stored_and_logged_frames_is_named() -> None:
    logged = [
        parse_candump_line("(1700000000.000001) vcan0 123#0102"),
        parse_candump_line("(1700000000.000002) vcan0 1F334455#R"),
    ]
    stored = {
        "ts": [1_700_000_000_000_001_100, 1_700_000_000_000_002_000],
        "bus": ["vcan0", "vcan0"],
        "id": [0x123, 0x1F334455],
        "extended": [False, True],
        "remote": [False, True],
        "error": [False, False],
        "fd": [False, False],
        "brs": [False, False],
        "esi": [False, False],
        "data": [b"\x01\x02", b""],
    }
    assert first_difference(pa.table(stored), logged) is None
    changed = pa.table({**stored, "data": [b"\x01\x03", b""]})
    assert "frame 0" in (first_difference(changed, logged) or "")
    late = pa.table({**stored, "ts": [1_700_000_000_000_009_000, 1_700_000_000_000_010_000]})
    assert "stored at" in (first_difference(late, logged) or "")
    assert first_difference(late, logged, times=False) is None
    short = pa.table(stored).slice(0, 1)
    assert first_difference(short, logged) == "1 frames stored, 2 logged"
