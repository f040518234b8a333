"""``sdvlog demo``: the main job on the embedded defaults, end to end in one process.

A simulated vehicle (our demo DBC) plays onto a python-can virtual bus; the gateway reads it and
publishes CANP batches to the embedded broker; a CANP exchange captures them into Parquet; a query
over the NNG channel reads them back; the HTTP API serves the dashboard over it all, and the
vehicle keeps driving until Ctrl-C.
"""

from __future__ import annotations

import socket
import threading
import time
import uuid
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import can

from hw.simulate import SimulationStats, Simulator, load_dbc
from logger.core.config import (
    BrokerConfig,
    BusConfig,
    Config,
    ExchangeConfig,
    HttpConfig,
    ParquetConfig,
    QueryConfig,
    RingbusConfig,
)
from logger.core.errors import ServiceError
from logger.query import client
from logger.service.service import Service

DEMO_DBC = "examples/demo.dbc"
ALL = "sync-0-9223372036854775807"
DEMO_HTTP_PORT = 8080


@dataclass(frozen=True)
class DemoResult:
    simulated: SimulationStats
    stored: int
    command: str
    reply: client.Reply


def demo_dbc() -> Path:
    return Path(str(resources.files("dbc").joinpath(DEMO_DBC)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        found: int = s.getsockname()[1]
        return found


def _http_port() -> int:
    """:data:`DEMO_HTTP_PORT` when it is free on loopback, else 0 (the server takes any free
    port and says which)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", DEMO_HTTP_PORT))
        except OSError:
            return 0
    return DEMO_HTTP_PORT


def demo_config(directory: Path, channel: str) -> Config:
    """The demo's service: the embedded broker, a virtual bus, a CANP exchange, the query channel
    on a free port, and the HTTP API and dashboard on loopback (port 8080 when free)."""
    return Config(
        broker=BrokerConfig(url="embedded", embedded_port=0),
        buses=(BusConfig(name="can0", interface="virtual", channel=channel),),
        exchanges=(
            ExchangeConfig(
                name="can",
                topic="vehicle/+/canp/#",
                stream="canp",
                ringbus=RingbusConfig(cap=20000, flush_ms=1000),
            ),
        ),
        parquet=ParquetConfig(dir=directory),
        query=QueryConfig(url=f"tcp://127.0.0.1:{_free_port()}"),
        http=HttpConfig(listen=f"127.0.0.1:{_http_port()}"),
    )


def _stored(url: str) -> int:
    rows: int = client.query(url, ALL).table().num_rows
    return rows


class Demo:
    """The demo's service and its simulated vehicle: :meth:`drive` for a while and report,
    then :meth:`drive_on` until asked to stop. A context manager that starts and stops it."""

    def __init__(self, directory: Path, timeout_s: float = 60.0) -> None:
        self.channel = f"sdvlog-demo-{uuid.uuid4().hex[:8]}"
        self.cfg = demo_config(directory, self.channel)
        self.service = Service(self.cfg)
        self.timeout_s = timeout_s
        self._seed = 1

    def __enter__(self) -> Demo:
        self.service.start()
        try:
            if not self.service.exchanges["can"].subscribed.wait(self.timeout_s):
                raise ServiceError("the exchange did not subscribe to the embedded broker")
        except BaseException:
            self.service.stop()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.service.stop()

    @property
    def dashboard(self) -> str:
        """The dashboard's address."""
        assert self.service.http is not None
        return f"{self.service.http.url}/"

    def _simulate(self, seconds: float | None, stop: threading.Event) -> SimulationStats:
        with can.Bus(interface="virtual", channel=self.channel) as bus:
            stats = Simulator(load_dbc(demo_dbc()), bus, seed=self._seed).run(seconds, stop)
        self._seed += 1
        return stats

    def drive(self, seconds: float) -> DemoResult:
        """Drive for ``seconds``, wait until every frame sent is stored, and query some back."""
        url = self.cfg.query.url
        before = _stored(url)
        t0_ms = int(time.time() * 1000)
        stats = self._simulate(seconds, threading.Event())
        deadline = time.monotonic() + self.timeout_s
        stored = _stored(url) - before
        while stored < stats.total and time.monotonic() < deadline:
            time.sleep(0.2)  # the last batches travel gateway → broker → exchange
            stored = _stored(url) - before
        command = f"sync-{t0_ms}-{int(time.time() * 1000)};id=0x100,0x200;limit=8"
        return DemoResult(stats, stored, command, client.query(url, command))

    def drive_on(self, stop: threading.Event) -> SimulationStats:
        """Keep driving (the dashboard's live mode follows it) until ``stop`` is set."""
        return self._simulate(None, stop)


def run_demo(directory: Path, seconds: float, timeout_s: float = 60.0) -> DemoResult:
    """Drive the demo vehicle for ``seconds`` and report what was stored."""
    with Demo(directory, timeout_s) as demo:
        return demo.drive(seconds)
