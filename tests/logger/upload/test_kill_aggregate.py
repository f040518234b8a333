"""``kill -9`` of ``sdvlog upload`` in aggregate mode, at seeded points mid-multipart (each time as
the k-th part of the aggregate lands, seen in moto's access log), then ``--once``: one object whose
rows are the files' rows exactly once, made by the one multipart upload created in the first run
and resumed by every later run (parts that landed are not sent again), no incomplete upload left."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

from tests.logger.upload.agg_support import (
    big_files,
    creates,
    incomplete,
    objects,
    part_puts,
    rows_of,
    stored,
)
from tests.logger.upload.conftest import BUCKET, new_store
from tests.logger.upload.test_kill import config_file
from tests.support.s3 import MotoServer, s3_client
from tests.support.service import run_cli, wait_until

RUNS = 5
FILES = 20  # 2 MB each, incompressible: 8 parts of 5 MB (the last shorter)


def landed(server: MotoServer, proc: subprocess.Popen[bytes], target: int) -> bool:
    return len(set(part_puts(server))) >= target or proc.poll() is not None


def test_kill_9_mid_multipart_resumes_the_same_upload(
    bucket: MotoServer, credentials: None, tmp_path: Path
) -> None:
    big_files(new_store(tmp_path / "store"), FILES)
    extra = 'mode = "aggregate"\npart_size = "5MB"\nmax_bandwidth = "4MB/s"\n'
    cfg = config_file(tmp_path, bucket, extra)
    rng = random.Random(12)
    points = sorted(rng.sample(range(1, 8), RUNS))
    for point in points:
        target = max(point, len(set(part_puts(bucket))) + 1)
        assert target < 8, "the runs landed all the parts before they were killed"
        proc = subprocess.Popen(
            [sys.executable, "-m", "logger.cli.app", "upload", "-c", str(cfg)],
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(partial(landed, bucket, proc, target), 120, what=f"part {target}")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(30)
        assert proc.returncode == -signal.SIGKILL  # killed mid-multipart, not finished
        assert not objects(bucket)
    done = run_cli("upload", "-c", str(cfg), "--once")
    assert done.returncode == 0, done.stderr
    got = objects(bucket)
    assert len(got) == 1
    ((rows, meta_sha, body_sha),) = got.values()
    assert meta_sha == body_sha
    assert rows.sort_by("ts").equals(rows_of(stored(tmp_path / "store")))  # each row once
    (key,) = got
    etag = s3_client(bucket).head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    parts = int(etag.rsplit("-", 1)[1])
    assert parts == 8
    assert creates(bucket) == 1  # the one upload, resumed by every run
    sent = part_puts(bucket)
    # at most the part in flight at each kill is sent twice; a restart each time would send
    # every landed part again: the sum of the kill points
    assert len(sent) <= parts + RUNS < parts + sum(points)
    assert incomplete(bucket) == []
    status = run_cli("upload", "status", "-c", str(cfg))
    assert status.returncode == 0, status.stderr
    assert f"can: 0 of {FILES} stored file(s) not uploaded" in status.stdout
