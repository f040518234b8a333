"""The SocketCAN test bench: vcan and vxcan interfaces, can-utils, and the VM runner."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from hw.testbed.canutils import CanUtilsError
    from hw.testbed.vcan import CanInterfaceError
    from hw.testbed.vm_host import VmError

__all__ = ["CanInterfaceError", "CanUtilsError", "VmError"]

__getattr__ = lazy_exports(
    __name__,
    {
        "CanInterfaceError": "hw.testbed.vcan",
        "CanUtilsError": "hw.testbed.canutils",
        "VmError": "hw.testbed.vm_host",
    },
)
