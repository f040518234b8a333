"""Virtual CAN interfaces (hw/vcan.py) and the candump log format (hw/canutils.py).

The interface tests are marked ``vcan`` (they need a kernel with SocketCAN); the rest run
anywhere."""

from __future__ import annotations

import can
import pyarrow as pa
import pytest

from hw import vcan as vcan_lib
from hw.canutils import (
    CanUtilsError,
    LoggedFrame,
    first_difference,
    parse_candump_line,
    receivers,
    same_time,
)
from hw.vcan import CanInterfaceError

# ---- anywhere -----------------------------------------------------------------------------------


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


# ---- with SocketCAN -----------------------------------------------------------------------------


@pytest.mark.vcan
def test_vcan_interfaces_are_made_changed_and_removed(vcan: str) -> None:
    info = vcan_lib.link(vcan)
    assert (info.kind, info.up, info.fd) == ("vcan", True, True)
    vcan_lib.set_down(vcan)
    assert not vcan_lib.link(vcan).up
    vcan_lib.set_up(vcan)
    with pytest.raises(CanInterfaceError) as info_exists:
        vcan_lib.create_vcan(vcan)
    assert info_exists.value.reason == "exists"
    with vcan_lib.vcan("sdvclassic0", fd=False) as classic:
        assert vcan_lib.link(classic).mtu == vcan_lib.CAN_MTU
    assert not vcan_lib.exists("sdvclassic0")
    with pytest.raises(CanInterfaceError) as info_missing:
        vcan_lib.remove("sdvclassic0")
    assert info_missing.value.reason == "missing"
    vcan_lib.remove("sdvclassic0", missing_ok=True)
    assert vcan_lib.can_support() is None


@pytest.mark.vcan
def test_a_vxcan_pair_carries_frames_from_one_end_to_the_other(
    vxcan_pair: tuple[str, str],
) -> None:
    a, b = vxcan_pair
    assert vcan_lib.link(a).kind == vcan_lib.link(b).kind == "vxcan"
    with (
        can.Bus(interface="socketcan", channel=a, fd=True) as sender,
        can.Bus(interface="socketcan", channel=b, fd=True) as receiver,
    ):
        assert receivers(b) >= 1
        sent = can.Message(
            arbitration_id=0x1ABCDE, is_extended_id=True, is_fd=True, data=bytes(range(12))
        )
        sender.send(sent)
        got = receiver.recv(10.0)
    assert got is not None and got.arbitration_id == 0x1ABCDE and got.is_fd
    assert bytes(got.data) == bytes(range(12))
    vcan_lib.remove(a)
    assert not vcan_lib.exists(b)  # one end takes the other with it


@pytest.mark.vcan
def test_a_socketcan_bus_gets_a_receive_buffer_for_bursts(vcan: str) -> None:
    import os  # noqa: PLC0415
    import socket  # noqa: PLC0415

    from hw.bus import SOCKETCAN_RCVBUF, open_bus  # noqa: PLC0415
    from logger.config import BusConfig  # noqa: PLC0415

    bus = open_bus(BusConfig(name="b", interface="socketcan", channel=vcan))
    try:
        sock = getattr(bus, "socket", None)
        assert isinstance(sock, socket.socket)
        granted = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF) // 2
        if os.getuid() == 0:
            assert granted >= SOCKETCAN_RCVBUF, granted
        else:
            assert granted > 0
    finally:
        bus.shutdown()
