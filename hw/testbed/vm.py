"""``python -m hw.testbed.vm [options] COMMAND...``: run a command where SocketCAN works.

When this kernel can make vcan interfaces (:func:`hw.testbed.vcan.can_support`), the command runs here,
directly. Otherwise it runs inside a virtual machine booted with virtme-ng (``vng``) on the
Debian kernel (``linux-image-amd64``: ``/boot/vmlinuz-*`` and its ``/lib/modules``), which has
SocketCAN, vcan and vxcan as modules. The guest sees the host's own filesystem (read-only, with
copy-on-write overlays such as ``/tmp``), so the venv, can-utils and Mosquitto are the host's;
the project's work tree and the current directory are shared read-write; the command runs as
the same user, in the same directory, with the same environment variables. The exit status is
the command's.

Options (before the command): ``--vm`` boots even when this kernel has CAN; ``--cpus``
(default 2), ``--memory`` (default 2G), ``--rwdir DIR`` (more directories the guest may write
to), ``--timeout S`` (kill the VM or the command after S seconds: exit status 124), ``-v``
(show the guest's boot console), ``-q`` (say nothing but errors).

Acceleration (:mod:`hw.testbed.vm_host`): ``SDVLOG_VM_ACCEL`` = ``auto`` (default: KVM when a probe
start of QEMU with KVM succeeds, else TCG), ``kvm`` or ``tcg``. Where ``/dev/kvm`` exists but
cannot run a guest (as on the project's machines) TCG is used: slower (a boot takes about 25 s,
Python runs several times slower) but reliable. ``SDVLOG_VM_KERNEL`` picks a kernel image
instead of the newest ``/boot/vmlinuz-*`` with a vcan module.

A missing piece (vng, QEMU, the kernel or its modules, busybox) is a
:class:`~hw.testbed.vm_host.VmError` naming it and how to install it (``bash tools/setup.sh`` as root);
:func:`main` prints it and exits with :data:`EXIT_RUNNER` (125), never mistaken for a skipped
test run. Output: unless stdout and stderr are terminals, the guest's output is copied through
pipes (QEMU would otherwise write over a redirected file from its start).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from hw.testbed.vm_host import (
    ENV_KERNEL,
    Accel,
    Kernel,
    VmError,
    choose_accel,
    find_kernel,
    find_pieces,
)

_log = logging.getLogger(__name__)

DEFAULT_CPUS = 2
DEFAULT_MEMORY = "2G"
EXIT_RUNNER = 125
"""Exit status when the runner itself fails (a missing piece), as ``env`` and ``docker`` do."""
EXIT_TIMEOUT = 124
"""Exit status when ``--timeout`` ran out, as ``timeout(1)`` does."""
WORK_TREE = Path(__file__).resolve().parents[2]
_KILL_WAIT_S = 10.0
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# Not forwarded: the shell's own bookkeeping, and what only means something on this side.
_NOT_FORWARDED = frozenset({"_", "PWD", "OLDPWD", "SHLVL", "TERMCAP"})


@dataclass(frozen=True)
class VmPlan:
    """Everything a guest run needs (:func:`vng_command` turns it into a command line)."""

    vng: Path
    kernel: Kernel
    qemu: Path
    busybox: Path
    accel: Accel
    cpus: int
    memory: str
    rwdirs: tuple[Path, ...]
    script: Path
    verbose: bool = False


# ---- the guest's command line -------------------------------------------------------------------
def forwarded_env(env: Mapping[str, str]) -> dict[str, str]:
    """The environment variables the guest command gets (all but the shell's bookkeeping)."""
    return {k: v for k, v in env.items() if _NAME.match(k) and k not in _NOT_FORWARDED}


def guest_script(command: Sequence[str], env: Mapping[str, str], cwd: Path) -> str:
    """The shell script the guest runs: the environment, the directory, then the command."""
    if not command:
        raise VmError("no command to run")
    lines = ["#!/bin/sh", "# written by hw.testbed.vm: runs one command in the guest"]
    lines += [f"export {k}={shlex.quote(v)}" for k, v in sorted(forwarded_env(env).items())]
    lines.append(f"cd {shlex.quote(str(cwd))} || exit {EXIT_RUNNER}")
    lines.append(f"exec {shlex.join(command)}")
    return "\n".join(lines) + "\n"


def vng_command(plan: VmPlan) -> list[str]:
    """The ``vng`` command line that boots ``plan.kernel`` and runs ``plan.script``."""
    cmd = [
        str(plan.vng),
        "--run", str(plan.kernel.image),
        "--qemu", str(plan.qemu),
        "--busybox", str(plan.busybox),
        "--cpus", str(plan.cpus),
        "--memory", plan.memory,
        "--rodir", str(plan.script.parent),
    ]  # fmt: skip
    for directory in plan.rwdirs:
        cmd += ["--rwdir", str(directory)]
    if plan.accel == "tcg":
        cmd.append("--disable-kvm")
    if plan.verbose:
        cmd.append("--verbose")
    cmd += ["--exec", f"sh {shlex.quote(str(plan.script))}"]
    return cmd


def rw_dirs(cwd: Path, extra: Sequence[Path] = ()) -> tuple[Path, ...]:
    """The work tree, ``cwd`` unless it is inside it, and ``extra``: each once, outermost first."""
    dirs: list[Path] = []
    for directory in (WORK_TREE, cwd.resolve(), *(d.resolve() for d in extra)):
        if not directory.is_dir():
            raise VmError(f"--rwdir {directory}: not a directory")
        if not any(directory == d or directory.is_relative_to(d) for d in dirs):
            dirs = [d for d in dirs if not d.is_relative_to(directory)] + [directory]
    return tuple(dirs)


# ---- running ----------------------------------------------------------------------------------
def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End ``proc`` and its process group (vng → virtme-run → qemu)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(_KILL_WAIT_S)
            return
        except subprocess.TimeoutExpired:
            continue


def _stdin() -> int | None:
    """Our stdin for the child when it is open, else /dev/null (QEMU needs a readable fd 0)."""
    try:
        os.fstat(0)
    except OSError:
        return subprocess.DEVNULL
    return None


def _relay(source: IO[bytes], fd: int) -> None:
    """Copy ``source`` to our descriptor ``fd`` as it comes."""
    while chunk := os.read(source.fileno(), 65536):
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]


def _run(
    cmd: Sequence[str], env: Mapping[str, str] | None, cwd: Path, timeout: float | None
) -> int:
    """Run ``cmd`` in its own process group; its exit status.

    Unless our stdout and stderr are terminals, the child writes into pipes that we copy out:
    QEMU opens ``/proc/self/fd/1`` anew, which on a regular file starts writing at offset 0
    over what is there, and it leaves the descriptors it was given non-blocking.
    """
    relay = not (os.isatty(1) and os.isatty(2))
    pipe = subprocess.PIPE if relay else None
    try:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            env=env,
            stdin=_stdin(),
            stdout=pipe,
            stderr=pipe,
            start_new_session=True,
        )
    except FileNotFoundError as exc:
        raise VmError(f"{cmd[0]}: command not found") from exc
    copiers = []
    if relay:
        assert proc.stdout is not None and proc.stderr is not None
        sys.stdout.flush()
        sys.stderr.flush()
        copiers = [
            threading.Thread(target=_relay, args=(proc.stdout, 1), daemon=True),
            threading.Thread(target=_relay, args=(proc.stderr, 2), daemon=True),
        ]
        for thread in copiers:
            thread.start()
    try:
        status = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        _log.error("timed out after %g s: stopping %s", timeout, cmd[0])
        _stop(proc)
        status = EXIT_TIMEOUT
    except BaseException:  # Ctrl-C: take the VM down with us
        _stop(proc)
        raise
    for thread in copiers:
        thread.join(_KILL_WAIT_S)
    if not relay:
        for fd in (0, 1, 2):  # QEMU leaves our terminal's descriptors non-blocking
            with contextlib.suppress(OSError):
                os.set_blocking(fd, True)
    return status


def run_in_vm(
    command: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    cpus: int = DEFAULT_CPUS,
    memory: str = DEFAULT_MEMORY,
    extra_rwdirs: Sequence[Path] = (),
    timeout: float | None = None,
    verbose: bool = False,
) -> int:
    """Boot a VM, run ``command`` in it (in ``cwd`` with ``env``); its exit status."""
    vng, qemu, busybox = find_pieces()
    kernel_env = env.get(ENV_KERNEL)
    kernel = find_kernel(image=Path(kernel_env) if kernel_env else None)
    accel = choose_accel(qemu, env)
    with tempfile.TemporaryDirectory(prefix="sdvlog-vm-") as tmp:
        script = Path(tmp) / "run.sh"
        script.write_text(guest_script(command, env, cwd), encoding="utf-8")
        plan = VmPlan(
            vng=vng,
            kernel=kernel,
            qemu=qemu,
            busybox=busybox,
            accel=accel,
            cpus=cpus,
            memory=memory,
            rwdirs=rw_dirs(cwd, extra_rwdirs),
            script=script,
            verbose=verbose,
        )
        cmd = vng_command(plan)
        _log.info(
            "booting %s (%s, %d CPUs, %s) to run: %s",
            kernel.image,
            accel.upper(),
            cpus,
            memory,
            shlex.join(command),
        )
        _log.debug("%s", shlex.join(cmd))
        vng_env = dict(env)  # vng runs virtme-run, which sits beside it
        vng_env["PATH"] = os.pathsep.join([str(vng.parent), env.get("PATH", os.defpath)])
        started = time.monotonic()
        status = _run(cmd, vng_env, cwd, timeout)
    _log.info("VM done in %.1f s: exit status %d", time.monotonic() - started, status)
    return status


def run_here(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float | None = None
) -> int:
    """Run ``command`` directly; its exit status."""
    if not command:
        raise VmError("no command to run")
    return _run(command, dict(env), cwd, timeout)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m hw.testbed.vm",
        description="Run COMMAND where SocketCAN works: here if this kernel can make vcan "
        "interfaces, else in a virtme-ng VM on the Debian kernel sharing the work tree, the "
        "current directory and the environment. Exits with the command's status "
        f"({EXIT_RUNNER}: the runner failed, {EXIT_TIMEOUT}: --timeout ran out).",
    )
    p.add_argument("--vm", action="store_true", help="boot a VM even if this kernel has CAN")
    p.add_argument("--cpus", type=int, default=DEFAULT_CPUS, help="guest CPUs (default 2)")
    p.add_argument("--memory", default=DEFAULT_MEMORY, help="guest memory (default 2G)")
    p.add_argument(
        "--rwdir", type=Path, action="append", default=[], help="another writable directory"
    )
    p.add_argument("--timeout", type=float, default=None, metavar="S", help="give up after S s")
    p.add_argument("-v", "--verbose", action="store_true", help="show the guest's boot console")
    p.add_argument("-q", "--quiet", action="store_true", help="log errors only")
    p.add_argument("command", nargs=argparse.REMAINDER, help="the command and its arguments")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO,
        format="hw.testbed.vm: %(message)s",
        stream=sys.stderr,
    )
    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        _parser().error("no COMMAND given")
    cwd, env = Path.cwd(), dict(os.environ)
    try:
        if not args.vm:
            from hw.testbed.vcan import can_support  # noqa: PLC0415 - pyroute2 only when needed

            why_not = can_support()
            if why_not is None:
                _log.info("this kernel has SocketCAN: running %s here", shlex.join(command))
                return run_here(command, cwd=cwd, env=env, timeout=args.timeout)
            _log.info("no SocketCAN here (%s): booting a VM", why_not)
        return run_in_vm(
            command,
            cwd=cwd,
            env=env,
            cpus=args.cpus,
            memory=args.memory,
            extra_rwdirs=args.rwdir,
            timeout=args.timeout,
            verbose=args.verbose,
        )
    except VmError as exc:
        _log.error("error: %s", exc)
        return EXIT_RUNNER


if __name__ == "__main__":
    sys.exit(main())
