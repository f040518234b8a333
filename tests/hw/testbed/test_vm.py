"""The VM runner (hw/testbed/vm.py, hw/testbed/vm_host.py): finding its pieces, the guest's script and vng's command line, the
errors when a piece is missing, all without booting; and one real boot whose exit status, working
directory and environment must come back."""

from __future__ import annotations

import dataclasses
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hw.testbed import vm, vm_host
from hw.testbed.vm import VmPlan
from hw.testbed.vm_host import Kernel, VmError

BOOT_TIMEOUT_S = 280.0


def fake_kernel(root: Path, release: str, *, vcan: bool = True) -> Kernel:
    boot, modules = root / "boot", root / "lib" / "modules" / release
    boot.mkdir(parents=True, exist_ok=True)
    image = boot / f"vmlinuz-{release}"
    image.write_bytes(b"kernel")
    can = modules / "kernel" / "drivers" / "net" / "can"
    can.mkdir(parents=True)
    if vcan:
        (can / "vcan.ko.xz").write_bytes(b"module")
    return Kernel(image, release, modules)


def find(root: Path) -> Kernel:
    return vm_host.find_kernel(root / "boot", root / "lib" / "modules")


def executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    path.chmod(0o755)
    return path


def test_the_newest_kernel_with_a_vcan_module_is_chosen(tmp_path: Path) -> None:
    fake_kernel(tmp_path, "6.1.0-9-amd64")
    newest = fake_kernel(tmp_path, "6.1.0-56-amd64")
    fake_kernel(tmp_path, "6.12.0-1-amd64", vcan=False)  # newer, but without vcan
    assert find(tmp_path) == newest


def test_no_kernel_is_an_error_naming_the_package_and_the_setup_script(tmp_path: Path) -> None:
    (tmp_path / "boot").mkdir()
    with pytest.raises(VmError, match=r"no kernel image.*linux-image-amd64.*tools/setup\.sh"):
        find(tmp_path)


def test_a_kernel_without_modules_or_vcan_is_an_error_saying_which(tmp_path: Path) -> None:
    fake_kernel(tmp_path, "6.1.0-1-amd64", vcan=False)
    (tmp_path / "boot" / "vmlinuz-6.2.0-1-amd64").write_bytes(b"kernel")
    with pytest.raises(VmError) as info:
        find(tmp_path)
    text = str(info.value)
    assert "6.2.0-1-amd64 is missing" in text and "has no vcan module" in text
    assert "linux-image-amd64" in text


def test_an_explicit_kernel_image_must_exist(tmp_path: Path) -> None:
    with pytest.raises(VmError, match="SDVLOG_VM_KERNEL"):
        vm_host.find_kernel(image=tmp_path / "nope")


def test_a_missing_program_is_named_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    with pytest.raises(VmError, match=r"vng is not installed.*virtme-ng.*tools/setup\.sh"):
        vm_host.find_pieces()
    executable(tmp_path / "vng")
    with pytest.raises(VmError, match=r"qemu-system-x86_64 is not installed.*qemu-system-x86"):
        vm_host.find_pieces()


def test_main_reports_a_missing_piece_with_the_runner_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    assert vm.main(["--vm", "true"]) == vm.EXIT_RUNNER
    assert any("vng is not installed" in r.getMessage() for r in caplog.records)


def test_main_needs_a_command() -> None:
    with pytest.raises(SystemExit) as info:
        vm.main([])
    assert info.value.code == 2


def test_kvm_is_used_only_when_a_probe_start_of_qemu_succeeds(tmp_path: Path) -> None:
    device = tmp_path / "kvm"
    device.write_bytes(b"")
    good = executable(tmp_path / "good-qemu", "#!/bin/sh\ncat >/dev/null\nexit 0\n")
    bad = executable(tmp_path / "bad-qemu", "#!/bin/sh\necho 'failed to set MSR' >&2\nexit 134\n")
    assert vm_host.kvm_works(good, device)
    assert not vm_host.kvm_works(bad, device)
    assert not vm_host.kvm_works(good, tmp_path / "no-kvm-here")


def test_the_accelerator_can_be_forced_and_a_wrong_value_is_an_error(tmp_path: Path) -> None:
    qemu = executable(tmp_path / "qemu", "#!/bin/sh\nexit 1\n")
    assert vm_host.choose_accel(qemu, {vm_host.ENV_ACCEL: "kvm"}) == "kvm"
    assert vm_host.choose_accel(qemu, {vm_host.ENV_ACCEL: "TCG"}) == "tcg"
    assert vm_host.choose_accel(qemu, {}) == "tcg"  # auto: this qemu's probe fails
    with pytest.raises(VmError, match="auto, kvm or tcg"):
        vm_host.choose_accel(qemu, {vm_host.ENV_ACCEL: "hvf"})


def test_the_guest_script_sets_the_environment_and_directory_and_keeps_the_status(
    tmp_path: Path,
) -> None:
    env = {"ODD": 'it\'s $HOME `x` "q"\nline2', "PWD": "/elsewhere", "BAD-NAME": "x", "N": "1"}
    script = tmp_path / "run.sh"
    script.write_text(
        vm.guest_script(
            ["sh", "-c", 'printf "%s|%s|%s" "$ODD" "$(pwd)" "$N"; exit 7'], env, tmp_path
        )
    )
    done = subprocess.run(["sh", str(script)], capture_output=True, text=True, env={}, check=False)
    assert done.returncode == 7
    assert done.stdout == f"{env['ODD']}|{tmp_path}|1"
    assert "BAD-NAME" not in script.read_text() and "/elsewhere" not in script.read_text()


def test_vng_boots_the_kernel_with_the_shared_directories_and_tcg_unless_kvm(
    tmp_path: Path,
) -> None:
    kernel = fake_kernel(tmp_path, "6.1.0-56-amd64")
    plan = VmPlan(
        vng=Path("/venv/bin/vng"),
        kernel=kernel,
        qemu=Path("/usr/bin/qemu-system-x86_64"),
        busybox=Path("/bin/busybox"),
        accel="tcg",
        cpus=2,
        memory="2G",
        rwdirs=(Path("/work/main"), Path("/data")),
        script=Path("/tmp/sdvlog-vm-x/run.sh"),
    )
    cmd = vm.vng_command(plan)
    assert cmd[:3] == ["/venv/bin/vng", "--run", str(kernel.image)]
    pairs = set(itertools.pairwise(cmd))
    assert {("--cpus", "2"), ("--memory", "2G"), ("--busybox", "/bin/busybox")} <= pairs
    assert {
        ("--rwdir", "/work/main"),
        ("--rwdir", "/data"),
        ("--rodir", "/tmp/sdvlog-vm-x"),
    } <= pairs
    assert cmd[-2:] == ["--exec", "sh /tmp/sdvlog-vm-x/run.sh"]
    assert "--disable-kvm" in cmd
    assert "--disable-kvm" not in vm.vng_command(dataclasses.replace(plan, accel="kvm"))


def test_writable_directories_are_the_work_tree_and_cwd_each_once(tmp_path: Path) -> None:
    inside = vm.WORK_TREE / "tests"
    assert vm.rw_dirs(inside) == (vm.WORK_TREE,)
    assert vm.rw_dirs(tmp_path, [tmp_path / "."]) == (vm.WORK_TREE, tmp_path.resolve())
    with pytest.raises(VmError, match="not a directory"):
        vm.rw_dirs(tmp_path, [tmp_path / "missing"])


@pytest.mark.slow
def test_a_command_in_the_vm_returns_its_status_output_directory_and_environment(
    tmp_path: Path,
) -> None:
    """One real boot (about 25 s under TCG, more on a busy machine)."""
    env = {**os.environ, "SDVLOG_VM_TEST": "from the host"}
    guest = ["sh", "-c", 'echo "$SDVLOG_VM_TEST|$(pwd)|$(cat /proc/1/comm)"; exit 3']
    done = subprocess.run(
        [sys.executable, "-m", "hw.testbed.vm", "--vm", "--timeout", str(BOOT_TIMEOUT_S), *guest],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(vm.WORK_TREE)},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BOOT_TIMEOUT_S + 30,
        check=False,
    )
    assert done.returncode == 3, done.stderr
    line = next(x for x in done.stdout.splitlines() if x.startswith("from the host|"))
    _, cwd, init = line.split("|")
    assert cwd == str(tmp_path)
    assert "virtme" in init  # the guest's init, not this machine's
