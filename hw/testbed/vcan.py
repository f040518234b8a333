"""Virtual SocketCAN interfaces: ``vcan`` buses and ``vxcan`` pairs, made with pyroute2 (netlink).

What ``ip link add vcan0 type vcan`` / ``ip link set vcan0 up`` / ``ip link del vcan0`` do, as
typed calls, for tests and tools that need a real SocketCAN bus:

- :func:`create_vcan` (CAN FD capable unless ``fd=False``), :func:`create_vxcan` (a tunnel pair:
  what one end sends the other receives), :func:`remove`, :func:`set_up`, :func:`set_down`,
  :func:`link` (state of one interface), and the context managers :func:`vcan` and
  :func:`vxcan_pair` that remove what they made.
- :func:`can_support` answers whether this kernel and this process can make vcan interfaces at
  all (by making and removing one), with the reason when not.

Every failure is a :class:`CanInterfaceError` whose ``reason`` says what to do about it:
``unsupported`` (the kernel has no CAN or no vcan/vxcan module: run under ``python -m hw.testbed.vm``),
``permission`` (needs root or CAP_NET_ADMIN), ``exists``, ``missing``, ``invalid`` (a bad name),
``failed`` (anything else). When the kernel says the link kind is unknown, ``modprobe KIND`` is
tried once (the kernel's own autoloading needs a working ``modprobe`` too).

pyroute2 0.9 knows no ``vxcan`` link data: :func:`create_vxcan` registers it once
(``VXCAN_INFO_PEER`` carries the peer's ``ifinfomsg``, as ``VETH_INFO_PEER`` does for veth).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pyroute2 import IPRoute
from pyroute2.netlink import nla
from pyroute2.netlink.exceptions import NetlinkError
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg, ifinfveth

from logger.core.errors import SdvLoggerError

_log = logging.getLogger(__name__)

Reason = Literal["unsupported", "permission", "exists", "missing", "invalid", "failed"]

IFNAMSIZ = 16
CAN_MTU = 16
"""MTU of a classic-CAN-only interface (``struct can_frame``)."""
CANFD_MTU = 72
"""MTU of a CAN FD capable interface (``struct canfd_frame``)."""
_MODPROBE_S = 30.0
_PROBE_NAME = "sdvprobe"


class CanInterfaceError(SdvLoggerError):
    """A virtual CAN interface cannot be made, changed or removed; ``reason`` says why."""

    def __init__(self, message: str, *, reason: Reason) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class LinkInfo:
    """One network interface as the kernel reports it."""

    name: str
    index: int
    kind: str | None  # "vcan", "vxcan", ... (None: a device without link info)
    up: bool  # administratively up (IFF_UP)
    mtu: int

    @property
    def fd(self) -> bool:
        """Whether the interface carries CAN FD frames."""
        return self.mtu >= CANFD_MTU


class _VxcanData(nla):  # type: ignore[misc]  # pyroute2 is untyped
    """``IFLA_INFO_DATA`` of a vxcan link (linux/can/vxcan.h)."""

    prefix = "VXCAN_INFO_"
    nla_map = (("VXCAN_INFO_UNSPEC", "none"), ("VXCAN_INFO_PEER", "info_peer"))

    @staticmethod
    def info_peer(*_argv: Any, **_kwarg: Any) -> type:
        return ifinfveth  # type: ignore[no-any-return]


_vxcan_lock = threading.Lock()


def _register_vxcan() -> None:
    with _vxcan_lock:
        if "vxcan" not in ifinfmsg.ifinfo.data_map:
            ifinfmsg.ifinfo.register_link_kind(module={"vxcan": _VxcanData})


def _check_name(name: str) -> None:
    if (
        not name
        or len(name) >= IFNAMSIZ
        or any(c in name for c in "/: \t\n")
        or name in (".", "..")
    ):
        raise CanInterfaceError(
            f"{name!r} is not an interface name (1 to {IFNAMSIZ - 1} characters, no '/', ':' or spaces)",
            reason="invalid",
        )


def _error(what: str, exc: NetlinkError) -> CanInterfaceError:
    code = exc.code
    if code in (errno.EPERM, errno.EACCES):
        return CanInterfaceError(
            f"{what}: not permitted (needs root or CAP_NET_ADMIN)", reason="permission"
        )
    if code == errno.EOPNOTSUPP:
        return CanInterfaceError(
            f"{what}: the kernel has no support for it (no CAN, or the module is missing); "
            "run the command under `python -m hw.testbed.vm`",
            reason="unsupported",
        )
    if code == errno.EEXIST:
        return CanInterfaceError(f"{what}: the interface exists already", reason="exists")
    if code == errno.ENODEV:
        return CanInterfaceError(f"{what}: no such interface", reason="missing")
    return CanInterfaceError(f"{what}: {os.strerror(code)} (errno {code})", reason="failed")


def _modprobe(module: str) -> bool:
    """``modprobe MODULE``; whether it succeeded (False when there is no modprobe)."""
    binary = shutil.which("modprobe") or next(
        (p for p in ("/sbin/modprobe", "/usr/sbin/modprobe") if os.access(p, os.X_OK)), None
    )
    if binary is None:
        return False
    try:
        done = subprocess.run(
            [binary, "-q", module], capture_output=True, timeout=_MODPROBE_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _log.debug("modprobe %s failed: %s", module, exc)
        return False
    _log.debug("modprobe %s: exit status %d", module, done.returncode)
    return done.returncode == 0


def _add(what: str, kind: str, **attrs: Any) -> None:
    with IPRoute() as ipr:
        try:
            ipr.link("add", kind=kind, **attrs)
            return
        except NetlinkError as exc:
            if exc.code != errno.EOPNOTSUPP or not _modprobe(kind):
                raise _error(what, exc) from exc
        _log.info("loaded the %s kernel module", kind)
        try:
            ipr.link("add", kind=kind, **attrs)
        except NetlinkError as exc:
            raise _error(what, exc) from exc


def _index(ipr: IPRoute, name: str) -> int:
    found = ipr.link_lookup(ifname=name)
    if not found:
        raise CanInterfaceError(f"{name}: no such interface", reason="missing")
    return int(found[0])


def _set(name: str, what: str, **attrs: Any) -> None:
    _check_name(name)
    with IPRoute() as ipr:
        index = _index(ipr, name)
        try:
            ipr.link("set", index=index, **attrs)
        except NetlinkError as exc:
            raise _error(f"{what} {name}", exc) from exc


def create_vcan(name: str, *, fd: bool = True, up: bool = True) -> None:
    """Make the vcan interface ``name`` (MTU 72 with ``fd``, else 16) and bring it up."""
    _check_name(name)
    _add(f"creating vcan {name}", "vcan", ifname=name)
    _log.info("created vcan %s", name)
    try:
        _set(name, "setting the MTU of", mtu=CANFD_MTU if fd else CAN_MTU)
        if up:
            set_up(name)
    except CanInterfaceError:
        remove(name, missing_ok=True)
        raise


def create_vxcan(name: str, peer: str, *, up: bool = True) -> None:
    """Make the vxcan pair ``name`` ↔ ``peer`` (CAN FD capable) and bring both ends up."""
    _check_name(name)
    _check_name(peer)
    _register_vxcan()
    _add(
        f"creating vxcan {name} (peer {peer})",
        "vxcan",
        ifname=name,
        peer={"attrs": [["IFLA_IFNAME", peer]]},
    )
    _log.info("created vxcan %s ↔ %s", name, peer)
    if up:
        try:
            set_up(name)
            set_up(peer)
        except CanInterfaceError:
            remove(name, missing_ok=True)  # takes the peer with it
            raise


def remove(name: str, *, missing_ok: bool = False) -> None:
    """Delete the interface ``name`` (a vxcan end takes its peer with it)."""
    _check_name(name)
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=name)
        if not found:
            if missing_ok:
                return
            raise CanInterfaceError(f"removing {name}: no such interface", reason="missing")
        try:
            ipr.link("del", index=found[0])
        except NetlinkError as exc:
            if missing_ok and exc.code == errno.ENODEV:
                return
            raise _error(f"removing {name}", exc) from exc
    _log.info("removed %s", name)


def set_up(name: str) -> None:
    """Bring the interface ``name`` up."""
    _set(name, "bringing up", state="up")


def set_down(name: str) -> None:
    """Take the interface ``name`` down (open sockets see ENETDOWN)."""
    _set(name, "taking down", state="down")


def link(name: str) -> LinkInfo:
    """The interface ``name`` as the kernel reports it now."""
    _check_name(name)
    with IPRoute() as ipr:
        index = _index(ipr, name)
        try:
            msg = ipr.link("get", index=index)[0]
        except NetlinkError as exc:
            raise _error(f"reading {name}", exc) from exc
    info = msg.get_attr("IFLA_LINKINFO")
    kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
    return LinkInfo(
        name=name,
        index=index,
        kind=kind,
        up=bool(msg["flags"] & 1),  # IFF_UP
        mtu=int(msg.get_attr("IFLA_MTU")),
    )


def exists(name: str) -> bool:
    """Whether an interface called ``name`` exists."""
    _check_name(name)
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


@contextlib.contextmanager
def vcan(name: str, *, fd: bool = True) -> Iterator[str]:
    """A vcan interface that is up for the ``with`` block, removed afterwards."""
    create_vcan(name, fd=fd)
    try:
        yield name
    finally:
        remove(name, missing_ok=True)


@contextlib.contextmanager
def vxcan_pair(name: str, peer: str) -> Iterator[tuple[str, str]]:
    """A vxcan pair that is up for the ``with`` block, removed afterwards."""
    create_vxcan(name, peer)
    try:
        yield name, peer
    finally:
        remove(name, missing_ok=True)


def can_support() -> str | None:
    """None when this process can make vcan interfaces here; else why not (one line).

    Makes and removes a vcan interface to find out (no other test is as honest).
    """
    name = f"{_PROBE_NAME}{os.getpid() % 10_000_000}"
    try:
        create_vcan(name, up=False)
    except CanInterfaceError as exc:
        return str(exc)
    except OSError as exc:  # no netlink socket at all (a very restricted sandbox)
        return f"no netlink: {exc}"
    remove(name, missing_ok=True)
    return None
