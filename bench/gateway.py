"""Gateway throughput: a python-can ``virtual`` bus → our Gateway → Mosquitto, next to python-can's
own logger (``can.Notifier`` + ``can.Logger`` → BLF, what ``python -m can.logger -f out.blf`` runs)
reading the same frames.

A virtual bus delivers only within one process, so everything but the broker and the MQTT
subscriber runs in this process. One sender thread pushes N frames of the demo DBC (classic
frames, 2.4 % of them 64-byte CAN FD, 2.4 % with 29-bit ids) onto a fresh virtual channel as fast
as it can. Consumers, each alone on the channel (then both at once):

* **A**: ``logger.gateway.gateway.Gateway`` with one bus ``interface = "virtual"`` on that channel, its
  default batching (256 frames / 10 ms) and QoS 1, publishing to a Mosquitto started for the run;
  a plain paho subscriber in its own process (:mod:`bench.canp_sub`) counts the frames by their
  CANP headers and decodes every payload afterwards to check the frames per id.
* **B**: ``can.Notifier`` with ``can.Logger("….blf")`` (a ``BLFWriter``, default compression) on its
  own virtual bus instance on the channel; done when the notifier is stopped and the file closed.
  The file is read back to check the frames per id.
* **0** (a control): a thread calling ``bus.recv`` until it has every frame and doing nothing
  else: the most any consumer in this process can get from the sender.

The clock starts at the first frame sent and stops when the last frame is delivered (A: received
by the subscriber, and also confirmed by the broker; B: written and the file closed).

Two senders:

* ``python-can``: ``VirtualBus.send`` in a thread, frame by frame, as an application would. It
  deep-copies every frame for each receiver, and it shares the GIL and the receivers' queue locks
  with the consumers: it sets the pace, and how much the consumer slows it down is part of the
  result (the sender alone is measured too).
* ``burst``: the copies ``VirtualBus.send`` would make are made beforehand and put on each
  receiver's queue at once (one lock acquisition), as if the frames had arrived while the consumer
  was busy; the consumer then drains the queue at its own pace: its capacity. For these runs the
  gateway's ``buffer_frames`` is raised to N: with the default (100,000) its reader, faster than
  the broker confirms, reaches the backlog bound and drops frames, by design (one extra run shows
  how many).

B's notifier polls with a 10 ms timeout instead of python-can's default 1 s, so that stopping it
once the last frame is written does not wait up to a second for its reader thread.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import median
from typing import IO, Protocol

import can
from can.interfaces import virtual
from paho.mqtt.enums import MQTTProtocolVersion

from bench.common import REPO, RESULTS, VIN, BenchMosquitto, cpu_seconds, scratch_dir
from bench.profile import Profiler, render, summarise
from bench.report import Report
from bench.traffic import can_id_with_flags, sim_messages
from logger.core.config import BrokerConfig, BusConfig, Config, GatewayConfig
from logger.gateway.gateway import Gateway

log = logging.getLogger(__name__)

N_FULL, N_QUICK = 200_000, 30_000
REPEATS_FULL, REPEATS_QUICK = 5, 1
TOPIC_FILTER = "vehicle/+/canp/#"
BUS = "can0"
POLL_S = 0.01
#: can.Notifier's recv timeout (python-can's default is 1 s): how long its stop() may wait for
#: the reader thread once the bus is quiet; not part of the logger's throughput.
NOTIFIER_TIMEOUT_S = 0.01
TIMEOUT_S = 300.0
TARGET_RATIO = 1.0
PROFILE_HZ = 1000  # runs last a second or two
PYCAN, BURST = "python-can", "burst"


@dataclass(frozen=True)
class Frames:
    """The frames to send, and how many of each ``can_id`` (with flag bits) they hold."""

    msgs: list[can.Message]
    ids: Counter[int]

    @property
    def n(self) -> int:
        return len(self.msgs)


def make_frames(n: int) -> Frames:
    msgs = sim_messages(n / 400 + 2)[:n]
    if len(msgs) < n:
        raise RuntimeError(f"the simulator gave {len(msgs)} frames, {n} wanted")
    return Frames(msgs, Counter(can_id_with_flags(m) for m in msgs))


def fresh_channel() -> str:
    """A new virtual channel. python-can's writers take the trailing digits of a channel name as
    its number (``vcan0`` → 0; BLF wants 0..65535), so every name ends in ``-vcan0``."""
    return f"bench-{uuid.uuid4().hex[:12]}-vcan0"


def _copies(frames: Frames, channel: str) -> list[can.Message]:
    """What ``VirtualBus.send`` puts on a receiver's queue for each frame."""
    now = time.time()
    out = []
    for msg in frames.msgs:
        c = copy.deepcopy(msg)
        c.timestamp = now
        c.channel = channel
        c.is_rx = True
        out.append(c)
    return out


class Sender(threading.Thread):
    """Pushes every frame onto the channel: by ``VirtualBus.send``, or (burst) pre-copied frames
    onto each receiver's queue at once (``prepare`` makes the copies before the clock starts)."""

    def __init__(self, frames: Frames, channel: str, mode: str) -> None:
        super().__init__(name="bench-sender", daemon=True)
        self.frames = frames
        self.channel = channel
        self.mode = mode
        self.started_at = self.ended_at = 0.0
        self._bus: can.BusABC | None = None
        self._lanes: list[tuple[queue.Queue[can.Message], list[can.Message]]] = []
        self.error: BaseException | None = None

    def prepare(self) -> None:
        if self.mode == PYCAN:
            self._bus = can.Bus(interface="virtual", channel=self.channel)
        else:
            queues = list(virtual.channels[self.channel])
            self._lanes = [(q, _copies(self.frames, self.channel)) for q in queues]

    def run(self) -> None:
        try:
            self.started_at = time.monotonic()
            if self._bus is not None:
                send = self._bus.send
                for msg in self.frames.msgs:
                    send(msg)
            else:
                for q, copies in self._lanes:  # the whole burst under one lock per receiver
                    with q.mutex:
                        q.queue.extend(copies)
                        q.unfinished_tasks += len(copies)
                        q.not_empty.notify()
            self.ended_at = time.monotonic()
        except BaseException as exc:  # reported by the run
            self.error = exc

    def close(self) -> None:
        if self._bus is not None:
            self._bus.shutdown()
            self._bus = None
        self._lanes = []


def sender_alone(frames: Frames, mode: str) -> float:
    """Seconds the sender takes with one receiver on the channel that nobody reads."""
    channel = fresh_channel()
    idle = can.Bus(interface="virtual", channel=channel)
    sender = Sender(frames, channel, mode)
    try:
        sender.prepare()
        sender.start()
        sender.join(TIMEOUT_S)
        if sender.error is not None:
            raise sender.error
        return sender.ended_at - sender.started_at
    finally:
        sender.close()
        idle.shutdown()


# ---- the consumers ----------------------------------------------------------------------------

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


# ---- one run ----------------------------------------------------------------------------------


@dataclass
class Run:
    sender: str
    plan: str  # which consumers ran: "A", "B", "0" or "A+B"
    repeat: int
    n: int
    send_s: float
    results: list[Result]
    cpu_pct: float  # this process: CPU seconds / elapsed seconds
    buffer_frames: int
    probe: bool = False  # the extra run with the default buffer_frames: not in the medians

    def result(self, consumer: str) -> Result | None:
        return next((r for r in self.results if r.consumer == consumer), None)

    def fps(self, consumer: str) -> float | None:
        r = self.result(consumer)
        return None if r is None or r.done_s is None else self.n / r.done_s

    @property
    def problems(self) -> list[str]:
        return [f"{r.consumer}: {p}" for r in self.results for p in r.problems]

    @property
    def dropped(self) -> int:
        return sum(r.dropped or 0 for r in self.results)


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


def one_run(
    tmp: Path,
    frames: Frames,
    sender_mode: str,
    plan: str,
    repeat: int,
    *,
    buffer_frames: int | None = None,
    profile: Path | None = None,
) -> Run:
    channel = fresh_channel()
    run_dir = tmp / f"{sender_mode}-{plan}-{repeat}-{channel}"
    run_dir.mkdir(parents=True)
    if buffer_frames is None:
        buffer_frames = frames.n if sender_mode == BURST else GatewayConfig().buffer_frames
    consumers: list[Consumer] = []
    if "A" in plan:
        consumers.append(GatewayConsumer(run_dir, channel, frames, buffer_frames))
    if "B" in plan:
        consumers.append(LoggerConsumer(run_dir / "out.blf", channel, frames, verify=True))
    if "0" in plan:
        consumers.append(BareConsumer(channel, frames))
    sender = Sender(frames, channel, sender_mode)
    profiler: Profiler | None = None
    try:
        for c in consumers:
            c.start()
        sender.prepare()
        if profile is not None:
            profiler = Profiler(os.getpid(), profile, rate=PROFILE_HZ)
        cpu0 = _cpu()
        t0 = time.monotonic()
        sender.start()
        deadline = t0 + TIMEOUT_S
        pending = list(consumers)
        while pending:
            now = time.monotonic()
            pending = [c for c in pending if not c.poll(now)]
            if now > deadline or sender.error is not None:
                raise RuntimeError(f"run did not finish: sender error {sender.error!r}")
            time.sleep(POLL_S)
        elapsed = time.monotonic() - t0
        cpu = _cpu() - cpu0
        if profiler is not None and profile is not None:
            profiler.stop()
            profiler = None
            print(f"\nprofile of this process, {sender_mode} sender, consumer(s) {plan}:")
            print(render(summarise(profile)))
        sender.join(TIMEOUT_S)
        results = [c.finish(sender.started_at) for c in consumers]
    finally:
        if profiler is not None:
            profiler.stop()
        sender.close()
        for c in consumers:
            with contextlib.suppress(Exception):
                c.close()
    return Run(
        sender_mode,
        plan,
        repeat,
        frames.n,
        sender.ended_at - sender.started_at,
        results,
        100 * cpu / elapsed,
        buffer_frames,
    )


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    n = N_QUICK if quick else N_FULL
    repeats = REPEATS_QUICK if quick else REPEATS_FULL
    report = Report("gateway", quick, profiled=profile)
    report.context.update(
        {
            "frames": n,
            "repeats": repeats,
            "gateway": "default batching (256 frames / 10 ms), QoS 1, MQTT 5",
            "logger": "can.Notifier + can.Logger(.blf) (BLFWriter, default compression)",
            "python_can": can.__version__,
            "switch_interval_s": sys.getswitchinterval(),
        }
    )
    frames = make_frames(n)
    report.context["fd_frames"] = sum(1 for m in frames.msgs if m.is_fd)
    alone = report.table(
        "the sender alone (one receiver on the channel, not read)",
        "sender", "frames", "seconds", "frames/s",
    )  # fmt: skip
    for mode in (PYCAN, BURST):
        seconds = median([sender_alone(frames, mode) for _ in range(repeats)])
        alone.add(mode, n, seconds, n / seconds)
    plans: list[tuple[str, str]] = [
        (PYCAN, "A"), (PYCAN, "B"), (PYCAN, "0"), (BURST, "A"), (BURST, "B"), (BURST, "0"),
        (PYCAN, "A+B"), (BURST, "A+B"),
    ]  # fmt: skip
    runs: list[Run] = []
    with scratch_dir(keep) as tmp:
        for r in range(repeats):
            for mode, plan in plans:
                raw = None
                if profile and r == 0 and plan in ("A", "B"):
                    raw = RESULTS / f"profile-gateway-{mode}-{plan}.txt"
                runs.append(one_run(tmp, frames, mode, plan, r, profile=raw))
                log.info("gateway: %s", runs[-1])
        default_bound = GatewayConfig().buffer_frames
        if n > default_bound:  # the default backlog bound under a burst larger than it
            extra = one_run(tmp, frames, BURST, "A", 0, buffer_frames=default_bound)
            extra.probe = True
            runs.append(extra)
    _tables(report, runs)
    return report


def _med(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return median(present) if present else None


def _spread(values: Sequence[float | None]) -> str | None:
    present = [v for v in values if v is not None]
    if not present:
        return None
    return f"{min(present) / 1e3:,.0f}k-{max(present) / 1e3:,.0f}k"


def _tables(report: Report, runs: list[Run]) -> None:
    t = report.table(
        "runs: first frame sent → last frame delivered (A: at the subscriber, then confirmed by "
        "the broker; B: the BLF closed, after the writer had the last frame; 0: last recv)",
        "sender", "consumers", "run", "consumer", "sender frames/s", "done s", "confirmed / written s",
        "frames/s", "MQTT msgs", "dropped", "our CPU %", "broker CPU s", "exact",
    )  # fmt: skip
    for r in runs:
        for c in r.results:
            t.add(
                r.sender,
                r.plan + (f" (buffer {r.buffer_frames:,})" if r.probe else ""),
                r.repeat + 1,
                c.consumer,
                r.n / r.send_s,
                c.done_s,
                c.aux_s,
                r.fps(c.consumer),
                c.messages,
                c.dropped,
                r.cpu_pct,
                c.broker_cpu_s,
                not c.problems,
            )
    main = [r for r in runs if not r.probe]
    summary = report.table(
        "medians (and the range over the runs): A = gateway → Mosquitto → subscriber, "
        "B = can.Notifier + BLF, 0 = bare recv loop",
        "sender", "consumers", "A frames/s", "B frames/s", "0 frames/s", "A / B",
        "A range", "B range", "sender frames/s in the runs",
    )  # fmt: skip
    ratios: dict[str, float | None] = {}
    for mode in (PYCAN, BURST):
        alone = [r for r in main if r.sender == mode and r.plan in ("A", "B", "0")]
        a = [r.fps(A) for r in alone if r.plan == "A"]
        b = [r.fps(B) for r in alone if r.plan == "B"]
        bare = [r.fps(BARE) for r in alone if r.plan == "0"]
        ma, mb = _med(a), _med(b)
        ratios[mode] = None if ma is None or mb is None else ma / mb
        send = _med([r.n / r.send_s for r in alone]) if mode == PYCAN else None
        summary.add(
            mode, "each alone", ma, mb, _med(bare), ratios[mode], _spread(a), _spread(b), send
        )
        both = [r for r in main if r.sender == mode and r.plan == "A+B"]
        if both:
            a = [r.fps(A) for r in both]
            b = [r.fps(B) for r in both]
            ma, mb = _med(a), _med(b)
            summary.add(
                mode,
                "both at once",
                ma,
                mb,
                None,
                None if ma is None or mb is None else ma / mb,
                _spread(a),
                _spread(b),
                _med([r.n / r.send_s for r in both]) if mode == PYCAN else None,
            )
    for mode, what in ((PYCAN, "python-can sender"), (BURST, "burst (consumer-bound)")):
        ratio = ratios[mode]
        if ratio is None:
            report.failures.append(f"{what}: no complete A and B runs to compare")
            continue
        report.target(
            f"gateway / python-can logger, {what}, each alone", ratio, ">=", TARGET_RATIO, "x"
        )
    for r in runs:
        for p in r.problems:
            report.failures.append(f"{r.sender} {r.plan} run {r.repeat + 1}: {p}")
    for r in runs:
        if r.probe:
            a_result = r.result(A)
            got = 0 if a_result is None else a_result.frames
            report.notes.append(
                f"with the default buffer_frames ({r.buffer_frames:,}) and a burst of "
                f"{r.n:,} frames, the gateway dropped {r.dropped:,} frames (backlog bound, by "
                f"design); the subscriber got {got:,}"
            )
