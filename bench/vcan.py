"""``python -m hw.testbed.vm .venv/bin/python -m bench vcan [--quick]``: the highest ``cangen`` rate each
of three SocketCAN readers captures with no loss, side by side in one run on the same kernel:
ours (gateway → Mosquitto → CANP exchange → Parquet), ``candump -l`` (C) and python-can's own
``can.Notifier`` + ``can.Logger`` to BLF (:mod:`bench.vcan_peers`). Run where the kernel has
CAN: ``hw.testbed.vm`` boots a VM when this one has none. Not part of ``all``.

Every reader's socket gets the same receive buffer, :data:`RCVBUF` (the kernel's usual
``rmem_default``), so the figure is how fast each one reads, not how much its buffer hides (our
default ``rcvbuf`` holds a second of a saturated 1 Mbit/s bus, far more than a run). Each run
makes a fresh vcan interface and reader and sends ``cangen -m`` frames (classic and FD, 11- and
29-bit ids, remote frames, random lengths) ``-g GAP -c BURST``: BURST frames every GAP ms, or as
fast as cangen can with ``-g 0``. A run is lossless when the reader kept every frame sent and its
socket dropped none. For each reader the rate climbs the ladder (:data:`LADDER`) from 1 kHz
until a run loses frames (or falls from there when the first one does), then halves the step
between the last lossless and the first lossy burst twice; the readers take turns, run by run.
The rate is what ``cangen`` achieved (frames / its run time). Under TCG every figure is a floor, not one for hardware.

Also measured: what the kernel charges a socket's receive queue per frame waiting (``truesize``,
``SO_MEMINFO``), classic and FD, which sizes the default ``rcvbuf``.
"""

from __future__ import annotations

import logging
import math
import platform
import socket
import time
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

from bench.common import scratch_dir
from bench.report import Report
from bench.vcan_peers import CandumpPeer, Got, Ours, Peer, PythonCan
from hw.socketcan_socket import DEFAULT_RCVBUF, configure, queued_bytes
from hw.testbed import vcan as vcan_lib
from hw.testbed.canutils import cangen
from tests.support.mosquitto import MosquittoProcess

_log = logging.getLogger(__name__)

IFACE = "vcanbench0"
RCVBUF = 212_992
"""Every reader's receive buffer in bytes (as ``SO_RCVBUF`` reports it): Debian's
``net.core.rmem_default``, what python-can and candump get unless told otherwise."""
LADDER = (
    *((4.0, 1), (2.0, 1), (1.0, 1), (1.0, 2), (1.0, 4), (1.0, 8)),
    *((1.0, 16), (1.0, 32), (1.0, 64), (1.0, 128), (1.0, 256), (1.0, 512)),
)
"""(``-g`` ms, ``-c`` burst) steps, slowest first; after the last comes ``-g 0``."""
START = 2  # 1 kHz asked
RUN_S = 3.0
"""Frames per run: about this many seconds at the asked rate, within FRAMES_MIN..FRAMES_MAX."""
FRAMES_MIN, FRAMES_MAX = 3_000, 20_000
QUICK_LADDER = ((1.0, 1), (1.0, 4))


@dataclass(frozen=True)
class Run:
    peer: str
    gap_ms: float
    burst: int
    sent: int
    rate_fps: float  # frames / cangen's run time
    got: Got

    @property
    def lossless(self) -> bool:
        return self.got.kept == self.sent and self.got.kernel_dropped == 0


def frames_for(gap_ms: float, burst: int) -> int:
    asked = burst * 1000 / gap_ms if gap_ms else math.inf
    return int(min(FRAMES_MAX, max(FRAMES_MIN, asked * RUN_S)))


def measure(peer: Peer, gap_ms: float, burst: int, work: Path) -> Run:
    sent = frames_for(gap_ms, burst)
    iface = IFACE  # made and removed per run; channel 0 in python-can's BLF
    work.mkdir(parents=True)
    with vcan_lib.vcan(iface):
        peer.start(iface, work, sent)
        started = time.monotonic()
        cangen(iface, sent, gap_ms=gap_ms, options=["-m", "-c", str(burst)])
        took = time.monotonic() - started
        got = peer.finish(sent)
    run = Run(peer.name, gap_ms, burst, sent, round(sent / took, 1), got)
    _log.info("%s: -g %g -c %d: %.0f frames/s, %s", peer.name, gap_ms, burst, run.rate_fps, got)
    return run


def search(ladder: tuple[tuple[float, int], ...]) -> Generator[tuple[float, int], bool, None]:
    """The steps that find a reader's highest lossless rate on ``ladder`` (then ``-g 0``): each
    step yielded is run, and whether it was lossless sent back."""
    steps = [*ladder, (0.0, 1)]
    i = min(START, len(steps) - 1)
    if (yield steps[i]):
        while i + 1 < len(steps) and (yield steps[i + 1]):
            i += 1
        if i + 1 == len(steps):
            return  # lossless as fast as cangen sends
        low, high = steps[i], steps[i + 1]
    else:
        while i > 0 and not (yield steps[i - 1]):
            i -= 1
        if i == 0:
            return  # lossy even at the slowest step
        low, high = steps[i - 1], steps[i]
    if low[0] == high[0] == 1.0:  # bursts at 1 ms: halve the step between them twice
        a, b = low[1], high[1]
        for _ in range(2):
            mid = round(math.sqrt(a * b))
            if mid in (a, b):
                break
            if (yield (1.0, mid)):
                a = mid
            else:
                b = mid


def climb(
    peers: list[Peer], ladder: tuple[tuple[float, int], ...], work: Path
) -> dict[str, list[Run]]:
    """Every reader's :func:`search`, one run of each in turn, so that the machine's load
    (shared, under emulation) falls on all of them alike."""
    runs: dict[str, list[Run]] = {p.name: [] for p in peers}
    searches = {p.name: search(ladder) for p in peers}
    pending = {name: next(s) for name, s in searches.items()}
    while pending:
        for peer in peers:
            step = pending.get(peer.name)
            if step is None:
                continue
            r = measure(peer, *step, work / f"run{sum(map(len, runs.values()))}")
            runs[peer.name].append(r)
            try:
                pending[peer.name] = searches[peer.name].send(r.lossless)
            except StopIteration:
                del pending[peer.name]
    return runs


def truesize(iface: str, frames: int = 200) -> dict[str, float]:
    """Bytes the kernel charges a socket that reads nothing per frame waiting."""
    charged = {}
    for kind, options in (("classic", ["-L", "8"]), ("fd", ["-f", "-L", "64"])):
        with socket.socket(socket.PF_CAN, socket.SOCK_RAW, socket.CAN_RAW) as sock:
            sock.setsockopt(socket.SOL_CAN_RAW, socket.CAN_RAW_FD_FRAMES, 1)
            configure(sock, 4 << 20)
            sock.bind((iface,))
            cangen(iface, frames, gap_ms=0, options=options)
            charged[kind] = queued_bytes(sock) / frames
    return charged


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("vcan", quick, profiled=profile)
    why = vcan_lib.can_support()
    if why is not None:
        report.failures.append(
            f"this kernel has no SocketCAN ({why}): run python -m hw.testbed.vm .venv/bin/python -m bench vcan"
        )
        return report
    ladder = QUICK_LADDER if quick else LADDER
    with vcan_lib.vcan("vcantrue0") as iface:
        charged = truesize(iface)
    report.context.update(
        {
            "kernel": platform.release(),
            "rcvbuf_bytes": RCVBUF,
            "cangen": "-m -g GAP -c BURST -n FRAMES",
            "truesize_classic_bytes": charged["classic"],
            "truesize_fd_bytes": charged["fd"],
            "default_rcvbuf_bytes": DEFAULT_RCVBUF,
        }
    )
    report.notes.append(
        f"the kernel charges {charged['classic']:.0f} bytes per classic frame waiting and "
        f"{charged['fd']:.0f} per FD frame; the default rcvbuf {DEFAULT_RCVBUF:,} bytes holds "
        f"{DEFAULT_RCVBUF / max(charged.values()):,.0f} frames"
    )
    runs_table = report.table(
        f"cangen -m on vcan, every reader's socket rcvbuf {RCVBUF:,} bytes",
        "reader", "-g ms", "-c", "sent", "frames/s", "kept", "kernel-dropped", "rcvbuf", "result",
    )  # fmt: skip
    best: dict[str, float | None] = {}
    with scratch_dir(keep) as tmp, MosquittoProcess(tmp / "mosquitto") as broker:
        peers: list[Peer] = [Ours(broker, RCVBUF), CandumpPeer(RCVBUF), PythonCan(RCVBUF)]
        climbed = climb(peers, ladder, tmp)
        for peer in peers:
            runs = climbed[peer.name]
            for r in runs:
                runs_table.add(
                    r.peer, r.gap_ms, r.burst, r.sent, r.rate_fps, r.got.kept,
                    r.got.kernel_dropped, r.got.rcvbuf, "lossless" if r.lossless else "LOSS",
                )  # fmt: skip
            best[peer.name] = max((r.rate_fps for r in runs if r.lossless), default=None)
        # Ours as configured by default: a burst as long as the longest run, at cangen's top speed.
        r = measure(Ours(broker, DEFAULT_RCVBUF), 0.0, 1, tmp / "default")
        runs_table.add(
            "ours, default rcvbuf", r.gap_ms, r.burst, r.sent, r.rate_fps, r.got.kept,
            r.got.kernel_dropped, r.got.rcvbuf, "lossless" if r.lossless else "LOSS",
        )  # fmt: skip
        report.notes.append(
            f"ours with its default rcvbuf ({r.got.rcvbuf:,} bytes granted): a {r.sent:,}-frame "
            f"burst at {r.rate_fps:,.0f} frames/s, {r.got.kept:,} stored, "
            f"{r.got.kernel_dropped:,} kernel-dropped"
        )
    _compare(report, peers, best)
    return report


def _compare(report: Report, peers: list[Peer], best: dict[str, float | None]) -> None:
    ours, candump, pycan = (best[p.name] for p in peers)
    table = report.table(
        "highest lossless cangen rate, side by side", "reader", "rcvbuf", "frames/s", "ours ÷ it"
    )
    for peer in peers:
        rate = best[peer.name]
        ratio = round(ours / rate, 2) if ours and rate else None
        table.add(peer.name, RCVBUF, rate, ratio)
    if ours is None:
        report.failures.append("ours lost frames at every rate tried")
        return
    if candump:
        report.target("ours ÷ candump -l, highest lossless rate", ours / candump, ">=", 1.0, "x")
    if pycan:
        report.target("ours ÷ python-can, highest lossless rate", ours / pycan, ">=", 5.0, "x")
