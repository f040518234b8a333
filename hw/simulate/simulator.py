"""The simulator: a DBC's messages as frames (:meth:`Simulator.frames`) or sent on a bus in real
time (:meth:`Simulator.run`)."""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import can
from cantools.database.can import Database

from hw.simulate.database import SimulationError
from hw.simulate.messages import MessagePlan, Session, plan_messages, schedule

log = logging.getLogger("hw.simulate")  # the package's logger: records keep the name they had

#: Realtime sending: a lag longer than this is skipped instead of caught up in a burst.
MAX_LAG_S = 1.0
#: Realtime sending gives up when no frame at all could be sent for this long.
GIVE_UP_S = 2.0
SEND_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class SimulationStats:
    """What :meth:`Simulator.run` sent: frames per message name (DBC order), failures, time."""

    sent: dict[str, int]
    failed: dict[str, int] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @property
    def total(self) -> int:
        return sum(self.sent.values())

    def summary(self) -> str:
        per = " ".join(f"{name}={n}" for name, n in self.sent.items())
        line = f"sent {self.total} frames in {self.elapsed_s:.1f} s: {per or '-'}"
        if self.failed:
            fails = " ".join(f"{name}={n}" for name, n in self.failed.items())
            line += f"; failed: {fails}"
        return line


class Simulator:
    """Vehicle traffic for the messages of ``db``, sent on ``bus`` (None: :meth:`frames` only).

    ``seed`` makes the traffic reproducible (None: a random seed, see :attr:`seed`).
    ``default_cycle_ms`` is the period of messages without ``GenMsgCycleTime``.
    """

    def __init__(
        self,
        db: Database,
        bus: can.BusABC | None,
        *,
        seed: int | None,
        default_cycle_ms: int = 100,
    ) -> None:
        if default_cycle_ms <= 0:
            raise SimulationError(f"default cycle time must be positive, not {default_cycle_ms} ms")
        self.db = db
        self.bus = bus
        self.seed: int = seed if seed is not None else random.SystemRandom().randrange(1 << 32)
        self._warned: set[str] = set()
        self._warn_lock = threading.Lock()
        self.plans: list[MessagePlan] = plan_messages(db.messages, default_cycle_ms, self.warn_once)
        if not self.plans:
            raise SimulationError("the database has no message the simulator can send")

    def warn_once(self, key: str, fmt: str, *args: object) -> None:
        """Log a warning the first time ``key`` comes up in this simulator."""
        with self._warn_lock:
            if key in self._warned:
                return
            self._warned.add(key)
        log.warning(fmt, *args)

    def frames(self, duration_s: float, *, start: float = 0.0) -> Iterator[can.Message]:
        """``duration_s`` seconds of traffic at once, in time order, timestamped ``start + t``.

        Each call starts again from the seed.
        """
        session = Session(self.seed, self.plans, self.warn_once)
        for t, index in schedule(self.plans):
            if t >= duration_s:
                return
            frame = session.frame(index, t, start + t)
            if frame is not None:
                yield frame

    def run(self, duration_s: float | None, stop: threading.Event) -> SimulationStats:
        """Send traffic on the bus in real time until ``duration_s`` passes or ``stop`` is set.

        A frame the bus refuses is counted as failed (one warning per message); when nothing at
        all could be sent for ``GIVE_UP_S`` the run ends with a :class:`SimulationError`.
        """
        bus = self.bus
        if bus is None:
            raise SimulationError("the simulator has no bus to send on")
        session = Session(self.seed, self.plans, self.warn_once)
        names = [p.message.name for p in self.plans]
        sent: Counter[str] = Counter()
        failed: Counter[str] = Counter()
        t0 = started = time.monotonic()
        last_ok = t0
        log.info(
            "simulating %d messages on %s (seed %d)", len(self.plans), bus.channel_info, self.seed
        )
        for t, index in schedule(self.plans):
            if duration_s is not None and t >= duration_s:
                stop.wait(max(0.0, t0 + duration_s - time.monotonic()))
                break
            delay = t0 + t - time.monotonic()
            if delay > 0:
                if stop.wait(delay):
                    break
            elif delay < -MAX_LAG_S:
                self.warn_once("lag", "sending fell %.1f s behind; skipping ahead", -delay)
                t0 -= delay
            if stop.is_set():
                break
            frame = session.frame(index, t, time.time())
            if frame is None:
                continue
            name = names[index]
            try:
                bus.send(frame, timeout=SEND_TIMEOUT_S)
            except (can.CanError, OSError, ValueError) as exc:
                failed[name] += 1
                hint = " (a CAN FD frame: does the bus have fd=true?)" if frame.is_fd else ""
                self.warn_once(f"send:{name}", "cannot send %s: %s%s", name, exc, hint)
                if time.monotonic() - last_ok > GIVE_UP_S:
                    raise SimulationError(
                        f"nothing could be sent on {bus.channel_info} for {GIVE_UP_S:.0f} s: {exc}"
                    ) from exc
            else:
                sent[name] += 1
                last_ok = time.monotonic()
        return SimulationStats(
            sent={n: sent[n] for n in names if sent[n]},
            failed={n: failed[n] for n in names if failed[n]},
            elapsed_s=time.monotonic() - started,
        )
