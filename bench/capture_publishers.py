"""The publishing side of the capture benchmark (:mod:`bench.capture`): workloads of unique
payloads written as line files, ``mosquitto_pub -l`` lanes in parallel, and the baselines of the
publishers and the broker without the service."""

from __future__ import annotations

import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from bench.common import TOPIC_FILTER, BenchMosquitto

TOPIC = "bench/x"
PUBLISHERS = 2
# mosquitto_pub -M: measured fastest on loopback (default 20 is close; 5000 is 6x slower)
PUB_MAX_INFLIGHT = 100
# mosquitto_pub 2.0.11 -l disconnects (exit code 0) when the PUBACK of the first message whose
# 16-bit packet id equals the *last* line's arrives: past 65535 lines that is long before the
# end, and the rest is silently never sent. So no mosquitto_pub gets more lines than this.
MAX_LINES = 60_000
_ALPHABET = np.frombuffer(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/", np.uint8
)
_PREFIX = 12  # "P-NNNNNNNNN-"


@dataclass(frozen=True)
class Workload:
    """N messages of ``size`` bytes: per publisher lane, files of at most ``MAX_LINES`` lines."""

    size: int
    n: int
    lanes: tuple[tuple[Path, ...], ...]
    payloads: pa.BinaryArray  # every payload, for the loss/duplicate check

    @property
    def mb(self) -> float:
        return self.n * self.size / 1e6


def make_lines(size: int, pub: int, count: int, rng: np.random.Generator) -> npt.NDArray[np.uint8]:
    """``count`` lines of exactly ``size`` printable bytes (+ newline), unique by their prefix.

    The prefix is ``<pub>-<9-digit index>-``; the rest is random base64 characters (so zstd
    cannot compress a batch down to nothing, unlike repeated filler).
    """
    if size < _PREFIX + 1:
        raise ValueError(f"payload size {size} is below the {_PREFIX}-byte unique prefix")
    lines = _ALPHABET[rng.integers(0, len(_ALPHABET), (count, size + 1), dtype=np.uint8)]
    index = np.arange(count, dtype=np.int64)
    lines[:, 0] = ord("0") + pub
    lines[:, 1] = ord("-")
    for k in range(9):
        lines[:, 2 + k] = ord("0") + (index // 10 ** (8 - k)) % 10
    lines[:, 11] = ord("-")
    lines[:, size] = ord("\n")
    return lines


def make_workload(tmp: Path, size: int, n: int, publishers: int = PUBLISHERS) -> Workload:
    rng = np.random.default_rng(size * 1_000_003 + n)
    lanes = []
    blobs = []
    for p in range(publishers):
        count = n // publishers + (1 if p < n % publishers else 0)
        lines = make_lines(size, p, count, rng)
        files = []
        for c, first in enumerate(range(0, count, MAX_LINES)):
            path = tmp / f"lines-{size}-{n}-{p}-{c}.txt"
            path.write_bytes(lines[first : first + MAX_LINES].tobytes())
            files.append(path)
        lanes.append(tuple(files))
        blobs.append(np.ascontiguousarray(lines[:, :size]).reshape(-1))
    data = np.concatenate(blobs)
    offsets = np.arange(0, (n + 1) * size, size, dtype=np.int64)
    payloads = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )
    return Workload(size, n, tuple(lanes), payloads.cast(pa.binary()))


def _publish_lane(port: int, lane: int, files: tuple[Path, ...]) -> None:
    """One publisher lane: its files one after the other, each by a fresh ``mosquitto_pub -l``."""
    for c, path in enumerate(files):
        with path.open("rb") as stdin:
            done = subprocess.run(
                [
                    "mosquitto_pub", "-l", "-q", "1", "-M", str(PUB_MAX_INFLIGHT), "-t", TOPIC,
                    "-h", "127.0.0.1", "-p", str(port), "-i", f"bench-pub-{lane}-{c}",
                ],
                stdin=stdin,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=600,
                check=False,
            )  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(
                f"mosquitto_pub exited with {done.returncode}: {done.stderr.decode()[-500:]}"
            )


class Publishers:
    """The publisher lanes of a workload running in parallel (one thread per lane)."""

    def __init__(self, port: int, w: Workload) -> None:
        self._pool = ThreadPoolExecutor(len(w.lanes), thread_name_prefix="publisher")
        self._lanes = [
            self._pool.submit(_publish_lane, port, i, files) for i, files in enumerate(w.lanes)
        ]

    def done(self) -> bool:
        return all(f.done() for f in self._lanes)

    def wait(self) -> None:
        """Block until every lane finished; raises the first lane's failure."""
        try:
            for f in self._lanes:
                f.result()
        finally:
            self._pool.shutdown()


@dataclass
class Baseline:
    what: str
    seconds: float


def publisher_only(tmp: Path, w: Workload) -> Baseline:
    """mosquitto_pub into Mosquitto with no subscriber: until every PUBACK is in."""
    with BenchMosquitto(tmp / f"mosq-pub-{w.size}") as broker:
        t0 = time.monotonic()
        Publishers(broker.port, w).wait()
        return Baseline("publishers → Mosquitto (no subscriber)", time.monotonic() - t0)


def with_c_subscriber(tmp: Path, w: Workload) -> Baseline:
    """The same, plus a ``mosquitto_sub -q 1 -C N`` subscriber: until it received all N."""
    with BenchMosquitto(tmp / f"mosq-sub-{w.size}") as broker:
        sub = subprocess.Popen(
            [
                "mosquitto_sub", "-q", "1", "-t", TOPIC_FILTER, "-C", str(w.n),
                "-h", "127.0.0.1", "-p", str(broker.port), "-i", "bench-sub",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            broker.wait_subscribed("bench-sub", TOPIC_FILTER)
            t0 = time.monotonic()
            pubs = Publishers(broker.port, w)
            sub.wait(timeout=300)
            elapsed = time.monotonic() - t0
            pubs.wait()
        finally:
            if sub.poll() is None:
                sub.kill()
                sub.wait()
        return Baseline("… + mosquitto_sub -q 1 (C subscriber)", elapsed)
