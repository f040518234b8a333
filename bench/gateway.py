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

The senders are in :mod:`bench.gateway_sender`, the consumers in :mod:`bench.gateway_consumers`;
this module runs them and reports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import median

import can

from bench.common import RESULTS, scratch_dir
from bench.gateway_consumers import (
    BARE,
    A,
    B,
    BareConsumer,
    Consumer,
    GatewayConsumer,
    LoggerConsumer,
    Result,
)
from bench.gateway_sender import (
    BURST,
    PYCAN,
    TIMEOUT_S,
    Frames,
    Sender,
    fresh_channel,
    make_frames,
    sender_alone,
)
from bench.profile import Profiler, render, summarise
from bench.report import Report
from logger.core.config import GatewayConfig

log = logging.getLogger(__name__)

N_FULL, N_QUICK = 200_000, 30_000
REPEATS_FULL, REPEATS_QUICK = 5, 1
POLL_S = 0.01
TARGET_RATIO = 1.0
PROFILE_HZ = 1000  # runs last a second or two


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
