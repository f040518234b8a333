"""``python -m bench upload``: the uploader against ``aws s3 cp --recursive`` on the same files,
capture while uploading against capture alone, and the catch-up time of one simulated hour.

- Data: one simulated hour (``--quick``: 5 minutes) of the demo DBC's CAN traffic, written as the
  live path writes it (gateway payloads → 1 s ring batches → ``CanpPlugin.encode`` → store).
- Upload MB/s to moto's S3 server (``python -m moto.server`` on loopback): ``aws s3 cp
  --recursive`` of the exchange's directory into one bucket, our :class:`Uploader` (the default
  ``[upload]``, then ``concurrency = 10`` as the CLI's default, then ``mode = "aggregate"``: the
  files of each hour compacted into objects sent by multipart upload, as ``--once`` flushes) into
  others; the peer runs first. MB/s are of the local files' bytes for every client. Our time is
  the catch-up time: start to an empty backlog, every object verified and in the ledger.
- Capture: the same live path on another hour, alone and while the uploader drains the first
  store to a fresh bucket (the uploader in the same process, as in ``sdvlog run``; its requests
  from the transfer process by default, or from its own threads with ``transfer = "thread"``).

moto is a Python server on the same machine: its CPU (reported) competes with both clients and
with the capture, which a remote endpoint would not; during the capture comparison it runs at
``nice 19``.
"""

from __future__ import annotations

import logging
import os
import resource
import shutil
import statistics
import subprocess
import time
from dataclasses import replace
from pathlib import Path

from bench.common import scratch_dir
from bench.report import Report
from bench.storage_formats import live_parquet
from bench.traffic import Traffic, simulated
from logger.core.config import ParquetConfig
from logger.core.config_upload import UploadConfig
from logger.store import ParquetStore
from logger.upload.aggregate import make_uploader
from logger.upload.uploader import Uploader
from tests.support.s3 import ACCESS_KEY, REGION, SECRET_KEY, MotoServer, s3_client

log = logging.getLogger(__name__)

EXCHANGE = "can"
SECONDS = 3600.0
QUICK_SECONDS = 300.0
FLUSH_S = 1.0
TARGET_VS_AWS = 0.8
TARGET_CAPTURE = 0.9
VIN = "BENCH000000000001"
CAPPED = 250_000  # bytes/s: about 40x the rate the simulated vehicle's CANP files are written


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    """CPU seconds of this process's ended children (the aws CLI, the transfer process)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _bucket(server: MotoServer, name: str) -> None:
    s3_client(server).create_bucket(
        Bucket=name,
        CreateBucketConfiguration={"LocationConstraint": REGION},  # type: ignore[typeddict-item]
    )


def _aws_cp(server: MotoServer, source: Path, bucket: str) -> float:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
           "AWS_DEFAULT_REGION": REGION}  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(
        ["aws", "--endpoint-url", server.endpoint, "s3", "cp", "--recursive", "--only-show-errors",
         str(source), f"s3://{bucket}/"],
        env=env, check=True, timeout=3600,
    )  # fmt: skip
    return time.perf_counter() - t0


def _uploader(
    server: MotoServer, bucket: str, state: Path, directory: Path, **kw: object
) -> Uploader:
    os.environ["SDVLOG_BENCH_KEY"], os.environ["SDVLOG_BENCH_SECRET"] = ACCESS_KEY, SECRET_KEY
    cfg = UploadConfig(bucket=bucket, endpoint=server.endpoint, region=REGION,
                       access_key_env="SDVLOG_BENCH_KEY", secret_key_env="SDVLOG_BENCH_SECRET")  # fmt: skip
    up = make_uploader(replace(cfg, **kw), VIN, state, flush=True)  # type: ignore[arg-type]
    store = ParquetStore(ParquetConfig(dir=directory), EXCHANGE, {})
    store.recover(read_only=True)
    up.add_store(EXCHANGE, store)
    return up


def _objects(server: MotoServer, bucket: str, up: Uploader) -> str:
    listed = s3_client(server).list_objects_v2(Bucket=bucket).get("Contents", [])
    size = sum(o["Size"] for o in listed)
    return (f"aggregate: {len(listed)} object(s), {size / 1e6:.1f} MB compacted, "
            f"{up.stats()['aggregate']}")  # fmt: skip


def _drain(up: Uploader) -> float:
    t0 = time.perf_counter()
    up.start()
    try:
        if not up.wait_idle(3600):
            raise RuntimeError(f"the uploader did not drain: {up.stats()}")
        return time.perf_counter() - t0
    finally:
        up.stop()


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("upload", quick)
    seconds = QUICK_SECONDS if quick else SECONDS
    with scratch_dir(keep) as tmp, MotoServer(tmp / "moto") as server:
        traffic = simulated(seconds)
        written = live_parquet(traffic, tmp / "store", FLUSH_S)
        files = sorted((tmp / "store" / EXCHANGE).rglob("*.parquet"))
        size = sum(p.stat().st_size for p in files)
        mb = size / 1e6
        report.context.update({"frames": len(traffic), "files": len(files), "bytes": size,
                               "simulated_s": seconds, "nproc": os.cpu_count()})  # fmt: skip
        t = report.table(
            f"upload of {len(files):,} files, {mb:.1f} MB ({seconds:g} s of CANP) to moto",
            "client", "seconds", "MB/s", "files/s", "moto CPU s", "service CPU s",
            "child CPU s", "vs aws",
        )  # fmt: skip
        runs: list[tuple[str, float, float, float, float]] = []
        _bucket(server, "peer")
        assert server._proc is not None
        cpu0, kids0 = _cpu_s(server._proc.pid), _children_cpu_s()
        aws_s = _aws_cp(server, tmp / "store" / EXCHANGE, "peer")
        runs.append(("aws s3 cp --recursive (10 at once)", aws_s,
                     _cpu_s(server._proc.pid) - cpu0, 0.0, _children_cpu_s() - kids0))  # fmt: skip
        for name, kw in (
            ("ours, concurrency 8 (default)", {}),
            ("ours, concurrency 10", {"concurrency": 10}),
            ("ours, aggregate (hour windows)", {"mode": "aggregate"}),
            ('ours, transfer = "thread"', {"transfer": "thread"}),
        ):
            bucket = f"ours{len(runs)}"
            _bucket(server, bucket)
            cpu0, own0, kids0 = _cpu_s(server._proc.pid), time.process_time(), _children_cpu_s()
            up = _uploader(server, bucket, tmp / f"state{len(runs)}", tmp / "store", **kw)
            drained = _drain(up)
            runs.append((name, drained, _cpu_s(server._proc.pid) - cpu0,
                         time.process_time() - own0, _children_cpu_s() - kids0))  # fmt: skip
            if kw.get("mode") == "aggregate":
                report.notes.append(_objects(server, bucket, up))
        for name, s, cpu, own, kids in runs:
            t.add(name, s, mb / s, len(files) / s, cpu, own, kids, aws_s / s)
        report.notes.append(
            "service CPU s: this process (the uploader's threads; with transfer = thread also "
            "boto3's work); child CPU s: the aws CLI, or our transfer process (nice 10). Per file, "
            f"the service process spent {runs[1][3] / len(files) * 1000:.2f} ms with the transfer "
            f"process and {runs[4][3] / len(files) * 1000:.2f} ms with transfer = thread "
            f"({runs[4][3] / max(runs[1][3], 1e-9):.1f}x)"
        )
        best = max(aws_s / s for _, s, *_ in runs[1:3])
        report.target(
            "upload MB/s, ours / aws s3 cp (best of ours)", best, ">=", TARGET_VS_AWS, "x"
        )
        report.target(
            "upload MB/s, ours (default) / aws s3 cp", aws_s / runs[1][1], ">=", TARGET_VS_AWS, "x"
        )
        report.target(
            "upload MB/s, ours (aggregate) / aws s3 cp",
            aws_s / runs[3][1],
            ">=",
            TARGET_VS_AWS,
            "x",
        )
        report.notes.append(
            f"catch-up: one simulated {seconds:g} s of CANP ({len(files):,} files) drained in "
            f"{runs[1][1]:.1f} s with the default [upload]"
        )
        _capture(report, tmp, server, traffic, 2 if quick else 3)
        report.notes.append(f"store written by the live path in {written.seconds:.1f} s")
    return report


def _capture(report: Report, tmp: Path, server: MotoServer, traffic: Traffic, rounds: int) -> None:
    """The live path alone and while the uploader drains the first store (to a fresh bucket each
    time): by default (the transfer process), with ``transfer = "thread"``, and capped at
    :data:`CAPPED`; ``rounds`` rounds of the four, alternated, compared by their medians."""
    t = report.table(
        f"capture (live path: encode + durable write), median of {rounds} alternated rounds",
        "while", "median s", "min s", "max s", "frames/s", "vs alone",
    )  # fmt: skip
    assert server._proc is not None  # a remote endpoint takes no CPU here: moto yields to capture
    os.setpriority(os.PRIO_PROCESS, server._proc.pid, 19)
    variants: list[tuple[str, dict[str, object] | None]] = [
        ("nothing else", None),
        ("uploading, default [upload] (transfer process)", {}),
        ('uploading, transfer = "thread"', {"transfer": "thread"}),
        (f"uploading, max_bandwidth {CAPPED // 1000} kB/s", {"max_bandwidth": CAPPED}),
    ]
    times: dict[str, list[float]] = {name: [] for name, _ in variants}
    ended_first: set[str] = set()
    for r in range(rounds):
        for i, (name, kw) in enumerate(variants):
            target = tmp / f"capture-{r}-{i}"
            up = None
            if kw is not None:
                bucket = f"during-{r}-{i}"
                _bucket(server, bucket)
                up = _uploader(server, bucket, tmp / f"state-{bucket}", tmp / "store", **kw)
                up.start()
            times[name].append(live_parquet(traffic, target, FLUSH_S).seconds)
            if up is not None:
                if up.wait_idle(0):
                    ended_first.add(name)
                up.stop()  # the capture is measured: the rest of the backlog is not needed
            shutil.rmtree(target)
    alone = statistics.median(times["nothing else"])
    for name, _ in variants:
        during = statistics.median(times[name])
        label = name + (" (upload ended first once)" if name in ended_first else "")
        t.add(label, during, min(times[name]), max(times[name]), len(traffic) / during,
              alone / during)  # fmt: skip
        if name != "nothing else":
            report.target(
                f"capture while {name} / alone", alone / during, ">=", TARGET_CAPTURE, "x"
            )
