"""vcan interfaces and vxcan pairs made, changed and removed through netlink (hw/testbed/vcan.py)."""

from __future__ import annotations

import can
import pytest

from hw.testbed import vcan as vcan_lib
from hw.testbed.canutils import receivers
from hw.testbed.vcan import CanInterfaceError

pytestmark = pytest.mark.vcan


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
