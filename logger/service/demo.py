"""``sdvlog demo``: the main job on the embedded defaults, end to end in one process.

A simulated vehicle (our demo DBC) plays onto a python-can virtual bus; the gateway reads it and
publishes CANP batches to the embedded broker; a CANP exchange captures them into Parquet; a query
over the NNG channel reads them back.
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
    ParquetConfig,
    QueryConfig,
    RingbusConfig,
)
from logger.core.errors import ServiceError
from logger.query import client
from logger.service.service import Service

DEMO_DBC = "examples/demo.dbc"
ALL = "sync-0-9223372036854775807"


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
        port: int = s.getsockname()[1]
        return port


def demo_config(directory: Path, channel: str) -> Config:
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
    )


def _stored(url: str) -> int:
    rows: int = client.query(url, ALL).table().num_rows
    return rows


def run_demo(directory: Path, seconds: float, timeout_s: float = 60.0) -> DemoResult:
    channel = f"sdvlog-demo-{uuid.uuid4().hex[:8]}"
    cfg = demo_config(directory, channel)
    service = Service(cfg)
    service.start()
    try:
        exchange = service.exchanges["can"]
        if not exchange.subscribed.wait(timeout_s):
            raise ServiceError("the exchange did not subscribe to the embedded broker")
        before = _stored(cfg.query.url)
        t0_ms = int(time.time() * 1000)
        with can.Bus(interface="virtual", channel=channel) as bus:
            stats = Simulator(load_dbc(demo_dbc()), bus, seed=1).run(seconds, threading.Event())
        deadline = time.monotonic() + timeout_s
        stored = _stored(cfg.query.url) - before
        while stored < stats.total and time.monotonic() < deadline:
            time.sleep(0.2)  # the last batches travel gateway → broker → exchange
            stored = _stored(cfg.query.url) - before
        command = f"sync-{t0_ms}-{int(time.time() * 1000)};id=0x100,0x200;limit=8"
        return DemoResult(stats, stored, command, client.query(cfg.query.url, command))
    finally:
        service.stop()
