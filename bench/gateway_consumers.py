"""The consumers the gateway benchmark (:mod:`bench.gateway`) compares on one virtual channel:
A, our Gateway publishing to Mosquitto with a subscriber process counting; B, python-can's
``can.Notifier`` + ``can.Logger`` writing a BLF; 0, a bare ``bus.recv`` loop."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import can
from paho.mqtt.enums import MQTTProtocolVersion

from bench.common import REPO, VIN, BenchMosquitto, cpu_seconds
from bench.gateway_sender import TIMEOUT_S, Frames
from bench.traffic import can_id_with_flags
from logger.core.config import BrokerConfig, BusConfig, Config, GatewayConfig
from logger.gateway.gateway import Gateway

TOPIC_FILTER = "vehicle/+/canp/#"
BUS = "can0"
#: can.Notifier's recv timeout (python-can's default is 1 s): how long its stop() may wait for
#: the reader thread once the bus is quiet; not part of the logger's throughput.
NOTIFIER_TIMEOUT_S = 0.01
A, B, BARE = "A gateway", "B can.Logger", "0 bare recv"


@dataclass
class Result:
    """One consumer in one run; times in seconds from the first frame sent."""

    consumer: str
    done_s: float | None  # A: the subscriber had every frame; B: the BLF closed; 0: last recv
    aux_s: float | None = None  # A: the broker confirmed every frame; B: the writer had the last
    frames: int = 0
    messages: int | None = None  # A: MQTT messages
    dropped: int | None = None  # A: frames the gateway dropped (backlog bound)
    broker_cpu_s: float | None = None
    problems: list[str] = field(default_factory=list)


class Consumer(Protocol):
    def start(self) -> None: ...

    def poll(self, now: float) -> bool:
        """True once the consumer has every frame (raises when it failed)."""
        ...

    def finish(self, t0: float) -> Result: ...

    def close(self) -> None: ...


# -- A: the gateway


class GatewayConsumer:
    """Mosquitto, the subscriber process and the gateway on ``channel``."""

    def __init__(self, tmp: Path, channel: str, frames: Frames, buffer_frames: int) -> None:
        self.frames = frames
        self.broker = BenchMosquitto(tmp / "mosquitto")
        self.channel = channel
        self.buffer_frames = buffer_frames
        self.sub: subprocess.Popen[str] | None = None
        self.gateway: Gateway | None = None
        self.confirmed_at: float | None = None
        self._sub_err: IO[bytes] | None = None
        self._err_path = tmp / "subscriber.stderr"
        self._broker_cpu0 = 0.0

    def start(self) -> None:
        self.broker.start()
        self._sub_err = self._err_path.open("wb")
        self.sub = subprocess.Popen(
            [
                sys.executable, "-m", "bench.canp_sub", "--port", str(self.broker.port),
                "--topic", TOPIC_FILTER, "--frames", str(self.frames.n),
                "--timeout", str(TIMEOUT_S), "--client-id", "bench-canp-sub",
            ],
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._sub_err,
            text=True,
        )  # fmt: skip
        assert self.sub.stdout is not None
        if self.sub.stdout.readline().strip() != "ready":
            raise RuntimeError(f"the subscriber did not start: {self._stderr()}")
        cfg = Config(
            vin=VIN,
            broker=BrokerConfig(url=self.broker.url),
            buses=(
                BusConfig(
                    name=BUS, interface="virtual", channel=self.channel, options={"fd": True}
                ),
            ),
            gateway=GatewayConfig(buffer_frames=self.buffer_frames),
        )
        self.gateway = Gateway(cfg, self.broker.host, self.broker.port, MQTTProtocolVersion.MQTTv5)
        self.gateway.start()
        if not self.gateway.wait_until(lambda s: s.connected, 30):
            raise RuntimeError(f"the gateway did not connect\n{self.broker.log_tail()}")
        self._broker_cpu0 = cpu_seconds(self.broker.pid)

    def _stderr(self) -> str:
        try:
            return self._err_path.read_text(encoding="utf-8", errors="replace")[-2000:]
        except OSError:
            return ""

    def poll(self, now: float) -> bool:
        """True once the broker confirmed (or the gateway gave up on) every frame."""
        if self.confirmed_at is None:
            assert self.gateway is not None
            b = self.gateway.stats().buses[BUS]
            if b.failure is not None:
                raise RuntimeError(f"the gateway's bus failed: {b.failure}")
            if b.published + b.dropped + b.lost + b.rejected >= self.frames.n:
                self.confirmed_at = now
        return self.confirmed_at is not None

    def finish(self, t0: float) -> Result:
        """Collect the subscriber's report (stopping it if frames were dropped), stop the gateway."""
        assert self.gateway is not None and self.sub is not None
        b = self.gateway.stats().buses[BUS]
        if b.dropped or b.lost or b.rejected:
            time.sleep(0.5)  # what was published is on its way to the subscriber
            self.sub.send_signal(signal.SIGTERM)
        try:
            out, _ = self.sub.communicate(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.sub.kill()
            out, _ = self.sub.communicate()
        broker_cpu = cpu_seconds(self.broker.pid) - self._broker_cpu0
        lines = out.strip().splitlines()
        if not lines:
            raise RuntimeError(f"no report from the subscriber: {self._stderr()}")
        res = json.loads(lines[-1])
        problems = []
        expected = self.frames.n - b.dropped
        if res["frames"] != expected:
            problems.append(
                f"subscriber counted {res['frames']} frames, {expected} sent and not dropped"
            )
        if res["decoded_frames"] != res["frames"] or res["rejected"]:
            problems.append(
                f"{res['decoded_frames']} frames decoded of {res['frames']} counted, "
                f"{res['rejected']} payloads rejected"
            )
        ids = Counter({int(k): v for k, v in res["ids"].items()})
        if not b.dropped and ids != self.frames.ids:
            problems.append("frames per id differ from those sent")
        if b.lost or b.rejected:
            problems.append(f"gateway lost {b.lost}, broker rejected {b.rejected}")
        return Result(
            A,
            done_s=res["last_s"] - t0 if res["complete"] else None,
            aux_s=None if self.confirmed_at is None else self.confirmed_at - t0,
            frames=res["frames"],
            messages=res["messages"],
            dropped=b.dropped,
            broker_cpu_s=broker_cpu,
            problems=problems,
        )

    def close(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            self.gateway = None
        if self.sub is not None and self.sub.poll() is None:
            self.sub.kill()
            self.sub.communicate()
        if self._sub_err is not None:
            self._sub_err.close()
        self.broker.stop()


# ---- consumer B: python-can's logger ----------------------------------------------------------


class _Count(can.Listener):
    """After the writer in the notifier's list: frame N seen here has been handed to the writer."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0
        self.last_at: float | None = None
        self.done = threading.Event()

    def on_message_received(self, msg: can.Message) -> None:
        self.seen += 1
        if self.seen >= self.n and self.last_at is None:
            self.last_at = time.monotonic()
            self.done.set()


class LoggerConsumer:
    """``can.Notifier(bus, [can.Logger(path), counter])``, as ``python -m can.logger`` runs it."""

    def __init__(self, path: Path, channel: str, frames: Frames, verify: bool) -> None:
        self.path = path
        self.frames = frames
        self.verify = verify
        self.channel = channel
        self.count = _Count(frames.n)
        self.bus: can.BusABC | None = None
        self.notifier: can.Notifier | None = None
        self.closed_at: float | None = None
        self._closer: threading.Thread | None = None

    def start(self) -> None:
        self.bus = can.Bus(interface="virtual", channel=self.channel)
        self.notifier = can.Notifier(
            self.bus, [can.Logger(self.path), self.count], timeout=NOTIFIER_TIMEOUT_S
        )
        self._closer = threading.Thread(target=self._close_when_done, name="bench-blf-closer")
        self._closer.start()

    def _close_when_done(self) -> None:
        if self.count.done.wait(TIMEOUT_S):
            self._stop()
            self.closed_at = time.monotonic()

    def poll(self, now: float) -> bool:
        notifier = self.notifier
        if notifier is not None and notifier.exception is not None:
            raise RuntimeError(f"can.Notifier failed: {notifier.exception!r}")
        return self.closed_at is not None

    def _stop(self) -> None:
        if self.notifier is not None:
            self.notifier.stop()  # stops the listeners: the writer flushes and closes the file
            self.notifier = None
        if self.bus is not None:
            self.bus.shutdown()
            self.bus = None

    def finish(self, t0: float) -> Result:
        problems = []
        if self.verify and self.path.exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ids = Counter(can_id_with_flags(m) for m in can.BLFReader(self.path))
            if ids != self.frames.ids:
                problems.append(f"the BLF holds {ids.total()} frames, not the {self.frames.n} sent")
        last = self.count.last_at
        return Result(
            B,
            done_s=None if self.closed_at is None else self.closed_at - t0,
            aux_s=None if last is None else last - t0,
            frames=self.count.seen,
            problems=problems,
        )

    def close(self) -> None:
        self.count.done.set()  # lets the closer thread end if the run failed
        if self._closer is not None:
            self._closer.join(TIMEOUT_S)
        self._stop()


# -- 0: the least any consumer does


class BareConsumer:
    """A thread calling ``bus.recv`` until it has every frame, and nothing else: with the
    python-can sender, the ceiling for any consumer in this process."""

    def __init__(self, channel: str, frames: Frames) -> None:
        self.channel = channel
        self.frames = frames
        self.bus: can.BusABC | None = None
        self.seen = 0
        self.done_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="bench-bare-recv", daemon=True)
        self._stop = threading.Event()

    def start(self) -> None:
        self.bus = can.Bus(interface="virtual", channel=self.channel)
        self._thread.start()

    def _run(self) -> None:
        assert self.bus is not None
        recv, n, stop = self.bus.recv, self.frames.n, self._stop
        while self.seen < n and not stop.is_set():
            if recv(NOTIFIER_TIMEOUT_S) is not None:
                self.seen += 1
        if self.seen >= n:
            self.done_at = time.monotonic()

    def poll(self, now: float) -> bool:
        return self.done_at is not None

    def finish(self, t0: float) -> Result:
        done = None if self.done_at is None else self.done_at - t0
        return Result(BARE, done_s=done, frames=self.seen)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S)
        if self.bus is not None:
            self.bus.shutdown()
            self.bus = None
