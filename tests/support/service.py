"""Running the service in-process for integration tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from logger.core.config import (
    BrokerConfig,
    Config,
    ExchangeConfig,
    ParquetConfig,
    QueryConfig,
    RingbusConfig,
)
from logger.core.errors import QueryError
from logger.query import client
from logger.query.client import Reply
from logger.service.service import Service
from logger.streams.registry import PluginRegistry
from tests.support.mqtt_clients import BrokerAddress
from tests.support.ports import free_port

WAIT_S = 60.0
ALL = "sync-0-9223372036854775807"


def service_config(
    tmp_path: Path,
    broker: BrokerAddress | None,
    *,
    exchange: ExchangeConfig | None = None,
    parquet: ParquetConfig | None = None,
) -> Config:
    """A config on ``broker`` (None: the embedded one on a free port), storing under tmp_path."""
    bcfg = (
        BrokerConfig(url="embedded", embedded_port=0)
        if broker is None or broker.kind == "embedded"
        else broker.broker_config()
    )
    ex = exchange or ExchangeConfig(
        name="raw", topic="test/#", ringbus=RingbusConfig(cap=1000, flush_ms=100)
    )
    return Config(
        broker=bcfg,
        exchanges=(ex,),
        parquet=parquet or ParquetConfig(dir=tmp_path / "store"),
        query=QueryConfig(url=f"tcp://127.0.0.1:{free_port()}"),
    )


@contextlib.contextmanager
def running(cfg: Config, registry: PluginRegistry | None = None) -> Iterator[Service]:
    """A started service whose exchanges are subscribed; stopped on exit."""
    service = Service(cfg, registry)
    service.start()
    try:
        for ex in service.exchanges.values():
            assert ex.subscribed.wait(WAIT_S), f"exchange {ex.name} did not subscribe"
        yield service
    finally:
        service.stop()


def broker_port(service: Service, broker: BrokerAddress | None) -> tuple[str, int]:
    if service.broker is not None:
        return "127.0.0.1", service.broker.port
    assert broker is not None
    return broker.host, broker.port


def ask(service: Service, command: str = ALL) -> Reply:
    return client.query(service.cfg.query.url, command)


def wait_until(
    predicate: Callable[[], bool], timeout: float = WAIT_S, what: str = "condition"
) -> None:
    """Poll ``predicate`` (every 5 ms) until true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.005)


def captured(service: Service, count: int, exchange: str = "raw") -> None:
    ring = service.exchanges[exchange].ring
    wait_until(lambda: ring.counters.accepted >= count, what=f"{count} messages captured")


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """``sdvlog ARGS...`` in a child process (text output captured; 120 s at most)."""
    return subprocess.run(
        [sys.executable, "-m", "logger.cli.app", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class ServiceProcess:
    """``sdvlog run -c FILE`` (or ``serve``; without ``-c`` when ``config`` is None) as a child
    process in ``cwd``; ``subscribed`` and ``serving`` are set when its log says so."""

    def __init__(self, config: Path | None, command: str = "run", cwd: Path | None = None) -> None:
        self.subscribed = threading.Event()
        self.serving = threading.Event()
        self.log: list[str] = []
        options = [] if config is None else ["-c", str(config)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logger.cli.app", command, *options],
            stderr=subprocess.PIPE,
            text=True,
            cwd=cwd,
        )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.log.append(line)
            if "subscribed to" in line:
                self.subscribed.set()
            if "HTTP API on" in line:
                self.serving.set()

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(WAIT_S)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(WAIT_S)


def count_rows(url: str) -> int:
    try:
        rows: int = client.query(url, ALL, timeout_ms=10000).table().num_rows
        return rows
    except QueryError:
        return -1
