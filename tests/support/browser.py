"""The dashboard in a real browser: a service on the demo vehicle (Mosquitto, a gateway on a
python-can virtual bus, a CANP exchange with the demo DBC, the HTTP API) with a stretch of
simulated history, and headless Debian chromium driven by Playwright."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import can
import pytest

from hw.simulate import Simulator, load_dbc
from logger.core.config import BusConfig, ExchangeConfig, HttpConfig, RingbusConfig
from logger.service.service import Service
from tests.support.mosquitto import MosquittoProcess
from tests.support.service import WAIT_S, running, service_config, wait_until
from tests.support.simulation import DEMO

CHROMIUM = Path("/usr/bin/chromium")
HISTORY_S = 60.0


def chromium_or_skip() -> Path:
    """Debian's chromium, or skip the test saying how to get it."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (bash tools/setup.sh installs it)")
    return CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))


@dataclass
class DemoService:
    service: Service
    channel: str
    url: str
    history: tuple[float, float]  # seconds since the epoch: the simulated history's span
    stop_live: threading.Event = field(default_factory=threading.Event)

    @contextlib.contextmanager
    def driving(self, seconds: float) -> Iterator[None]:
        """The simulated vehicle sending in real time (at most ``seconds``) while inside."""
        stop = threading.Event()
        with can.Bus(interface="virtual", channel=self.channel) as bus:
            sim = Simulator(load_dbc(DEMO), bus, seed=7)
            thread = threading.Thread(target=sim.run, args=(seconds, stop), daemon=True)
            thread.start()
            try:
                yield
            finally:
                stop.set()
                thread.join(WAIT_S)


@contextlib.contextmanager
def demo_service(tmp: Path, token_env: str | None = None) -> Iterator[DemoService]:
    """The service on the demo vehicle with ``HISTORY_S`` of simulated frames stored."""
    channel = f"dash-{uuid.uuid4().hex[:8]}"
    with MosquittoProcess(tmp / "mosquitto") as mosquitto:
        exchange = ExchangeConfig(
            name="can",
            topic="vehicle/+/canp/#",
            stream="canp",
            dbc=DEMO,
            qos=1,
            ringbus=RingbusConfig(cap=5000, flush_ms=200),
        )
        cfg = dataclasses.replace(
            service_config(tmp, mosquitto.address, exchange=exchange),
            http=HttpConfig(listen="127.0.0.1:0", token_env=token_env),
            buses=(BusConfig(name="can0", interface="virtual", channel=channel),),
        )
        with running(cfg) as service:
            start = time.time() - HISTORY_S - 5
            frames = list(Simulator(load_dbc(DEMO), None, seed=1).frames(HISTORY_S, start=start))
            with can.Bus(interface="virtual", channel=channel, preserve_timestamps=True) as bus:
                for frame in frames:
                    bus.send(frame)
            ring = service.exchanges["can"].ring
            wait_until(lambda: ring.counters.accepted > 0, what="the history captured")
            writer = service.exchanges["can"]

            def stored() -> bool:
                stats = writer.stats()
                return bool(stats["ring_size"] == 0 and stats["unwritten_batches"] == 0)

            gateway = service.gateway
            assert gateway is not None
            wait_until(
                lambda: gateway.stats().buses["can0"].published >= len(frames),
                what="the history published",
            )
            wait_until(stored, what="the history stored")
            assert service.http is not None
            yield DemoService(service, channel, service.http.url, (start, start + HISTORY_S))
