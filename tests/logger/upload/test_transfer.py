"""The transfer seam: the default child process runs at lower priority, is started again when it
is killed (nothing lost, nothing doubled), ends with the service however the service ends; the
``thread`` transfer uploads the same bytes from the service's own process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from logger.core.errors import ConfigError
from logger.upload.transfer_process import ProcessTransfer
from logger.upload.uploader import Uploader
from tests.logger.upload.conftest import (
    VIN,
    downloaded,
    fill,
    listed,
    local_digests,
    new_store,
    upload_config,
)
from tests.support.s3 import MotoServer
from tests.support.service import wait_until


def transfer_pid(up: Uploader) -> int:
    assert isinstance(up.target, ProcessTransfer)
    pid = up.target.pid
    assert pid is not None
    return pid


def gone(pid: int) -> bool:
    """Whether ``pid`` ended (reaped, or a zombie nobody reaps)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def finish(up: Uploader) -> dict[str, object]:
    try:
        assert up.wait_idle(60), up.stats()
        return up.stats()
    finally:
        up.stop()


def test_the_transfer_process_runs_at_lower_priority(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    up = Uploader(upload_config(bucket, nice=7), VIN, tmp_path / "state")
    try:
        fields = Path(f"/proc/{transfer_pid(up)}/stat").read_text().rsplit(")", 1)[1].split()
        assert int(fields[16]) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    finally:
        up.stop()
    assert up.target.pid is None  # type: ignore[attr-defined]


def test_a_killed_transfer_process_is_started_again(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 30)
    up = Uploader(upload_config(bucket, max_bandwidth=100_000), VIN, tmp_path / "state")
    up.add_store("can", store)
    up.start()
    wait_until(lambda: up.stats()["files"] >= 5, what="5 files uploaded")  # type: ignore[operator]
    first = transfer_pid(up)
    os.kill(first, signal.SIGKILL)
    stats = finish(up)
    assert stats["files"] == 30
    assert isinstance(up.target, ProcessTransfer) and up.target.restarts >= 1
    failures = stats["failures"]
    assert isinstance(failures, dict) and failures["client"] >= 1
    assert gone(first)
    local = local_digests(tmp_path / "store")
    assert downloaded(bucket, tmp_path / "got") == local
    assert sorted(listed(bucket)) == sorted(local)  # each once


def test_the_thread_transfer_uploads_the_same(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    store = new_store(tmp_path / "store")
    fill(store, 6)
    up = Uploader(upload_config(bucket, transfer="thread"), VIN, tmp_path / "state")
    assert not isinstance(up.target, ProcessTransfer)
    up.add_store("can", store)
    up.start()
    assert finish(up)["files"] == 6
    local = local_digests(tmp_path / "store")
    assert downloaded(bucket, tmp_path / "got") == local
    assert sorted(listed(bucket)) == sorted(local)


def test_the_transfer_process_ends_with_the_service(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    """``kill -9`` of the process that started it: the transfer process does not live on."""
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from logger.upload.uploader import Uploader
        from tests.logger.upload.conftest import VIN, upload_config
        from tests.support.s3 import MotoServer
        server = MotoServer(Path({str(tmp_path / "m")!r}), port={bucket.port})
        up = Uploader(upload_config(server), VIN, Path({str(tmp_path / "state")!r}))
        print(up.target.pid, flush=True)
        sys.stdin.read()
        """
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert not gone(child)
    finally:
        parent.kill()
        parent.wait()
    wait_until(lambda: gone(child), what="the transfer process to end")


def test_a_missing_profile_found_by_the_transfer_process_names_the_key(
    bucket: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    cfg = upload_config(bucket, access_key_env=None, secret_key_env=None, profile="nobody")
    with pytest.raises(ConfigError, match=r"upload\.profile: no profile 'nobody'"):
        Uploader(cfg, VIN, tmp_path / "state")
