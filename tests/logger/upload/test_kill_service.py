"""``kill -9`` of ``sdvlog run`` with ``[upload]`` at seeded random points while it captures and
uploads, ten times, then ``sdvlog upload --once`` on the same ledger: every stored file is in the
bucket exactly once, byte-equal, and no key was PUT twice."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from tests.logger.upload.conftest import downloaded, local_digests
from tests.logger.upload.test_kill import config_file, put_counts
from tests.support.mqtt_clients import BrokerAddress, numbered, publish
from tests.support.ports import free_port
from tests.support.s3 import MotoServer
from tests.support.service import WAIT_S, ServiceProcess, run_cli

RUNS = 10
BATCHES = 100


def within(seconds: float, predicate: Callable[[], bool]) -> bool:
    """Whether ``predicate`` turns true within ``seconds`` (polled every 5 ms)."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def uploads_reached(server: MotoServer, proc: ServiceProcess, target: int) -> bool:
    return sum(put_counts(server).values()) >= target or proc.proc.poll() is not None


def test_kill_9_of_the_service_loses_and_doubles_nothing(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    port = free_port()
    cfg = config_file(
        tmp_path,
        bucket,
        "",
        head=(
            f'[broker]\nurl = "embedded"\nembedded_port = {port}\n'
            f'[query]\nurl = "tcp://127.0.0.1:{free_port()}"\n'
        ),
        exchange='[[exchange]]\nname = "can"\ntopic = "test/#"\n[exchange.ringbus]\nflush_ms = 50\n',
    )
    rng = random.Random(7)
    address = BrokerAddress("embedded", "127.0.0.1", port)
    for run in range(RUNS):
        proc = ServiceProcess(cfg)
        try:
            assert proc.subscribed.wait(WAIT_S), "".join(proc.log)
            target = sum(put_counts(bucket).values()) + rng.randint(1, 3)
            for batch in range(BATCHES):  # publish until the target's PUT landed: files to upload
                publish(address, "test/v/telemetry", numbered(100, f"r{run}b{batch}-"), qos=1)
                if within(1.0, partial(uploads_reached, bucket, proc, target)):
                    break
            else:
                raise AssertionError(f"run {run}: no PUT reached {target}")
        finally:
            proc.kill()
    done = run_cli("upload", "-c", str(cfg), "--once")
    assert done.returncode == 0, done.stderr
    local = local_digests(tmp_path / "store")
    counts = put_counts(bucket)
    assert len(local) >= RUNS and len(counts) == len(local)
    assert set(counts.values()) == {1}, [k for k, n in counts.items() if n > 1]
    assert downloaded(bucket, tmp_path / "got") == local
