"""``kill -9`` of ``sdvlog upload`` at seeded random points (each time as the k-th PUT of the run
lands, so mostly mid-upload), ten times, then ``--once``: every file in the bucket exactly once,
byte-equal, and no key PUT twice (moto's access log)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from collections import Counter
from functools import partial
from pathlib import Path

from tests.logger.upload.conftest import (
    BUCKET,
    KEY_ENV,
    SECRET_ENV,
    VIN,
    downloaded,
    fill,
    local_digests,
    new_store,
)
from tests.support.s3 import REGION, MotoServer
from tests.support.service import run_cli, wait_until

RUNS = 10
FILES = 60


def config_file(
    tmp_path: Path,
    server: MotoServer,
    extra: str = "",
    head: str = "",
    exchange: str = '[[exchange]]\nname = "can"\ntopic = "x/#"\n',
) -> Path:
    path = tmp_path / "upload.toml"
    path.write_text(
        f'vin = "{VIN}"\n'
        + head
        + f'[parquet]\ndir = "{tmp_path / "store"}"\n'
        + exchange
        + f'[upload]\nendpoint = "{server.endpoint}"\nbucket = "{BUCKET}"\nregion = "{REGION}"\n'
        f'access_key_env = "{KEY_ENV}"\nsecret_key_env = "{SECRET_ENV}"\nretry_max = "0.5s"\n'
        + extra
    )
    return path


def put_counts(server: MotoServer) -> Counter[str]:
    lines = server.log_path.read_text().splitlines()
    return Counter(
        line.split('"')[1].split()[1]
        for line in lines
        if '"PUT /' in line and '" 200' in line and f'"PUT /{BUCKET}/' in line
    )


def landed(server: MotoServer, proc: subprocess.Popen[bytes], target: int) -> bool:
    return sum(put_counts(server).values()) >= min(target, FILES) or proc.poll() is not None


def test_kill_9_at_random_points_loses_and_doubles_nothing(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    fill(new_store(tmp_path / "store"), FILES)
    cfg = config_file(tmp_path, bucket, 'max_bandwidth = "40KB/s"\nconcurrency = 2\n')
    rng = random.Random(12)
    killed_mid = 0
    for _ in range(RUNS):
        before = sum(put_counts(bucket).values())
        if before >= FILES:
            break
        target = before + rng.randint(1, 5)
        proc = subprocess.Popen(
            [sys.executable, "-m", "logger.cli.app", "upload", "-c", str(cfg)],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(partial(landed, bucket, proc, target), what="the run's PUTs")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        killed_mid += proc.returncode == -signal.SIGKILL
    assert killed_mid == RUNS
    done = run_cli("upload", "-c", str(cfg), "--once")
    assert done.returncode == 0, done.stderr
    counts = put_counts(bucket)
    assert len(counts) == FILES
    assert set(counts.values()) == {1}, [k for k, n in counts.items() if n > 1]
    assert downloaded(bucket, tmp_path / "got") == local_digests(tmp_path / "store")
    status = run_cli("upload", "status", "-c", str(cfg))
    assert status.returncode == 0, status.stderr
    assert f"can: 0 of {FILES} stored file(s) not uploaded" in status.stdout
