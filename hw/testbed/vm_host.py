"""What this machine has for running a SocketCAN VM (:mod:`hw.testbed.vm`): the kernel to boot, the
programs (vng, QEMU, busybox) and whether KVM works.

Each ``find_*`` returns what it found or raises :class:`VmError` naming what is missing and how
to install it (``bash tools/setup.sh`` as root). :func:`choose_accel` reads ``SDVLOG_VM_ACCEL``
(``auto``, ``kvm`` or ``tcg``); ``auto`` uses KVM only when :func:`kvm_works` (a probe start of
QEMU with KVM, a fraction of a second) says it does: some machines have ``/dev/kvm`` but fail
every guest start (nested virtualisation refusing MSRs, as on the project's machines).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from logger.core.errors import SdvLoggerError

_log = logging.getLogger(__name__)

Accel = Literal["kvm", "tcg"]

ENV_ACCEL = "SDVLOG_VM_ACCEL"
ENV_KERNEL = "SDVLOG_VM_KERNEL"
SETUP = "run `bash tools/setup.sh` as root"
_KVM_PROBE_S = 20.0
_VCAN_MODULE = "kernel/drivers/net/can/vcan.ko"


class VmError(SdvLoggerError):
    """The command cannot be run in a VM: a piece is missing or unusable."""


@dataclass(frozen=True)
class Kernel:
    """A kernel image and its modules."""

    image: Path
    release: str
    modules: Path


def _release_key(release: str) -> tuple[int | str, ...]:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[.\-+~]", release))


def _has_vcan(modules: Path) -> bool:
    return any(modules.glob(f"{_VCAN_MODULE}*"))


def find_kernel(
    boot: Path = Path("/boot"),
    modules_root: Path = Path("/lib/modules"),
    image: Path | None = None,
) -> Kernel:
    """The kernel to boot: ``image`` if given, else the newest ``vmlinuz-*`` in ``boot`` whose
    modules (``modules_root/<release>``) include vcan."""
    if image is not None:
        candidates = [image]
        if not image.is_file():
            raise VmError(f"kernel image {image} ({ENV_KERNEL}) does not exist")
    else:
        candidates = sorted(
            boot.glob("vmlinuz-*"),
            key=lambda p: _release_key(p.name.removeprefix("vmlinuz-")),
            reverse=True,
        )
        if not candidates:
            raise VmError(
                f"no kernel image (vmlinuz-*) in {boot}: install linux-image-amd64 ({SETUP})"
            )
    problems = []
    for path in candidates:
        release = path.name.removeprefix("vmlinuz-")
        modules = modules_root / release
        if not os.access(path, os.R_OK):
            problems.append(f"{path} is not readable (run as root)")
        elif not modules.is_dir():
            problems.append(f"{path} has no modules ({modules} is missing)")
        elif not _has_vcan(modules):
            problems.append(f"{path}: {modules} has no vcan module")
        else:
            return Kernel(path, release, modules)
    raise VmError(
        f"no usable kernel for SocketCAN: {'; '.join(problems)}; "
        f"install linux-image-amd64 ({SETUP})"
    )


def find_tool(name: str, install: str, *, extra: Sequence[Path] = ()) -> Path:
    """Path of the program ``name``: beside this Python (the venv), on PATH, or in ``extra``."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found:
        return Path(found)
    for path in extra:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    raise VmError(f"{name} is not installed: {install}")


def find_pieces() -> tuple[Path, Path, Path]:
    """(vng, qemu, busybox), or a :class:`VmError` naming what is missing."""
    vng = find_tool("vng", f"it comes from PyPI's virtme-ng, in the dev extras ({SETUP})")
    qemu = find_tool("qemu-system-x86_64", f"install Debian's qemu-system-x86 ({SETUP})")
    busybox = find_tool(
        "busybox",
        f"install Debian's busybox-static ({SETUP})",
        extra=(Path("/bin/busybox"), Path("/usr/bin/busybox")),
    )
    return vng, qemu, busybox


def kvm_works(qemu: Path, device: Path = Path("/dev/kvm")) -> bool:
    """Whether QEMU can run a guest with KVM here: the device is usable and QEMU starts a
    (paused) machine with it. Some nested setups have the device but fail every start."""
    if not os.access(device, os.R_OK | os.W_OK):
        return False
    probe = [
        str(qemu), "-accel", "kvm", "-cpu", "host", "-nodefaults", "-display", "none",
        "-S", "-monitor", "stdio",
    ]  # fmt: skip
    try:
        done = subprocess.run(
            probe, input=b"quit\n", capture_output=True, timeout=_KVM_PROBE_S, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _log.info("KVM probe failed: %s", exc)
        return False
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        _log.info("KVM probe failed (%s): %s", done.returncode, why[0] if why else "no message")
    return done.returncode == 0


def choose_accel(qemu: Path, env: Mapping[str, str]) -> Accel:
    """``kvm`` or ``tcg`` from ``SDVLOG_VM_ACCEL`` (``auto`` probes KVM)."""
    wanted = env.get(ENV_ACCEL, "auto").strip().lower() or "auto"
    if wanted in ("kvm", "tcg"):
        return "kvm" if wanted == "kvm" else "tcg"
    if wanted != "auto":
        raise VmError(f"{ENV_ACCEL}={wanted!r}: expected auto, kvm or tcg")
    return "kvm" if kvm_works(qemu) else "tcg"
