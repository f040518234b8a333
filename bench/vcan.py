"""``python -m hw.vm .venv/bin/python -m bench vcan [--quick]``: the highest ``cangen`` rate the
logger captures with no loss on real SocketCAN (run where the kernel has CAN: ``hw.vm`` boots a
VM when this one has none).

For each pacing (``cangen -g GAP``, fastest last) it makes a fresh vcan interface, store and
service (socketcan bus → gateway → Mosquitto → CANP exchange → Parquet) and starts ``candump -l``
on the same bus as the reference; ``cangen`` sends :data:`FRAMES` frames (``-m``: classic and FD,
11- and 29-bit ids, remote frames, random lengths). A run is lossless when candump got every
frame (else the reference itself lost some: the run says nothing about the logger) and the
store, read back from Parquet once the service has stopped, holds exactly candump's frames in
candump's order at candump's timestamps (:func:`hw.canutils.first_difference`). The ``read``
column is what the gateway read from its socket: fewer than candump means the kernel dropped
frames because the gateway's socket buffer was full (it read too slowly), not a loss further on.

The rate is what ``cangen`` achieved (frames / its run time), not what it was asked for: under
TCG its sleeps overshoot, and an emulated guest makes the figure a floor, not one for hardware.
Not part of ``all`` (it needs SocketCAN).
"""

from __future__ import annotations

import logging
import platform
import time
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from bench.common import scratch_dir
from bench.report import Report
from hw import vcan as vcan_lib
from hw.canutils import Candump, cangen, first_difference
from logger import cli
from logger.config import (
    BrokerConfig,
    BusConfig,
    Config,
    ExchangeConfig,
    ParquetConfig,
    QueryConfig,
    RingbusConfig,
)
from logger.service import Service
from tests.brokers import MosquittoProcess, free_port
from tests.logger.service_util import ALL, running

_log = logging.getLogger(__name__)

IFACE = "vcanrate0"
GAPS_MS = (2.0, 1.0, 0.5, 0.4, 0.3, 0.2, 0.1, 0.0)
FRAMES = 5000
SETTLE_S = 15.0
"""A run's frames count as lost when the store gains none for this long."""
QUICK_GAPS_MS = (1.0, 0.3)


@dataclass(frozen=True)
class Run:
    gap_ms: float
    frames: int
    cangen_s: float
    rate_fps: float  # frames / cangen's run time
    candump: int  # frames the reference got
    read: int  # frames the gateway read from its socket (fewer: the kernel dropped them)
    stored: int  # frames in the Parquet store
    identical: bool  # the store equals candump's log (ids, flags, data, order, timestamps)
    difference: str | None

    @property
    def lossless(self) -> bool:
        return self.candump == self.frames and self.identical


def config(work: Path, broker: MosquittoProcess) -> Config:
    exchange = ExchangeConfig(
        name="can",
        topic="vehicle/+/canp/#",
        stream="canp",
        ringbus=RingbusConfig(cap=20_000, flush_ms=2_000),
    )
    return Config(
        broker=BrokerConfig(url=broker.url),
        exchanges=(exchange,),
        parquet=ParquetConfig(dir=work / "store"),
        query=QueryConfig(url=f"tcp://127.0.0.1:{free_port()}"),
        buses=(BusConfig(name=IFACE, interface="socketcan", channel=IFACE, options={"fd": True}),),
    )


def wait_published(service: Service, frames: int) -> None:
    """Until the gateway has published ``frames`` frames, or read none for :data:`SETTLE_S`."""
    gateway = service.gateway
    assert gateway is not None
    seen, since = -1, time.monotonic()
    while time.monotonic() - since < SETTLE_S:
        stats = gateway.stats().buses[IFACE]
        if stats.published >= frames:
            return
        if stats.frames + stats.published != seen:
            seen, since = stats.frames + stats.published, time.monotonic()
        gateway.wait_until(lambda s: s.buses[IFACE].published >= frames, 1.0)


def read_store(work: Path) -> pa.Table:
    """Every stored frame, read back from the Parquet files by ``sdvlog query --dir``."""
    out = work / "stored.arrow"
    args = ["query", ALL, "--dir", str(work / "store"), "--exchange", "can"]
    if cli.main([*args, "--format", "arrow", "--out", str(out)]) != 0:
        raise RuntimeError("sdvlog query of the store failed")
    with pa.ipc.open_stream(out) as reader:
        return reader.read_all()


def measure(gap_ms: float, frames: int, broker: MosquittoProcess, work: Path) -> Run:
    work.mkdir(parents=True)
    with (
        vcan_lib.vcan(IFACE),
        running(config(work, broker)) as service,
        Candump(IFACE, work / "candump", count=frames) as dump,
    ):
        started = time.monotonic()
        cangen(IFACE, frames, gap_ms=gap_ms, options=["-m"])
        took = time.monotonic() - started
        dump.wait(SETTLE_S)
        wait_published(service, frames)
        assert service.gateway is not None
        read = service.gateway.stats().buses[IFACE].frames
    logged = dump.frames
    stored = read_store(work)
    difference = first_difference(stored, logged)
    return Run(
        gap_ms=gap_ms,
        frames=frames,
        cangen_s=round(took, 3),
        rate_fps=round(frames / took, 1),
        candump=len(logged),
        read=read,
        stored=stored.num_rows,
        identical=difference is None,
        difference=difference,
    )


def _result(r: Run) -> str:
    if r.candump < r.frames:
        return "reference lost frames"
    return "lossless" if r.identical else f"LOSS: {r.difference}"


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("vcan", quick, profiled=profile)
    why = vcan_lib.can_support()
    if why is not None:
        report.failures.append(
            f"this kernel has no SocketCAN ({why}): run python -m hw.vm .venv/bin/python -m bench vcan"
        )
        return report
    gaps = QUICK_GAPS_MS if quick else GAPS_MS
    report.context.update(
        {"kernel": platform.release(), "frames_per_run": FRAMES, "cangen": "-m -g GAP -n FRAMES"}
    )
    rows = report.table(
        "cangen on vcan → gateway → Mosquitto → exchange → Parquet, against candump -l",
        "gap ms", "frames", "cangen s", "frames/s", "candump", "read", "stored", "result",
    )  # fmt: skip
    runs: list[Run] = []
    with scratch_dir(keep) as tmp, MosquittoProcess(tmp / "mosquitto") as broker:
        for n, gap in enumerate(gaps):
            r = measure(gap, FRAMES, broker, tmp / f"run{n}")
            runs.append(r)
            rows.add(r.gap_ms, r.frames, r.cangen_s, r.rate_fps, r.candump, r.read, r.stored, _result(r))  # fmt: skip
            _log.info("cangen -g %g: %.0f frames/s, %s", gap, r.rate_fps, _result(r))
    best = max((r.rate_fps for r in runs if r.lossless), default=None)
    if best is None:
        report.failures.append("no run was lossless")
    else:
        report.notes.append(f"highest cangen rate captured with no loss: {best:.0f} frames/s")
    return report
