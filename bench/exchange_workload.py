"""What the exchange benchmark (:mod:`bench.exchange`) feeds in: one vehicle's buses (the demo DBC
simulated and the real logs present) cut into CANP payloads as the gateway publishes them,
repeated later in time until the set holds the wanted number of frames."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from bench.traffic import (
    BATCH_FRAMES,
    Payload,
    Traffic,
    gateway_payloads,
    load_log,
    real_logs,
    simulated,
)

SIM_SECONDS, QUICK_SIM_SECONDS = 600.0, 120.0
QUICK_LOGS = ("hyundai_kona_turnonlog.trc", "ford_gt350_vsslog.trc")


@dataclass(frozen=True)
class Workload:
    """Messages in publication order: topics, payloads, frames per message."""

    what: str
    topics: list[str]
    payloads: list[bytes]
    frames: npt.NDArray[np.int64]
    buses: int

    @property
    def n(self) -> int:
        return len(self.payloads)

    @property
    def total_frames(self) -> int:
        return int(self.frames.sum())

    @property
    def nbytes(self) -> int:
        return sum(map(len, self.payloads))


def vehicle(quick: bool) -> tuple[list[Traffic], list[str]]:
    """The simulated bus and the real logs present, as buses of one vehicle from one start."""
    paths, notes = real_logs(QUICK_LOGS if quick else None)
    parts = [simulated(QUICK_SIM_SECONDS if quick else SIM_SECONDS)]
    for path in paths:
        try:
            parts.append(load_log(path))
        except Exception as exc:  # an unreadable log is reported and skipped
            notes.append(f"{path.name}: cannot read: {type(exc).__name__}: {exc}")
    t0 = int(parts[0].frames.ts[0])
    out, bus = [], 0
    for part in parts:
        names = [f"can{bus + i}" for i in range(len(part.names))]
        bus += len(part.names)
        out.append(part.shifted(t0 - int(part.frames.ts[0]), names))
    return out, notes


def make_workload(
    parts: Sequence[Traffic], frames: int, batch_ns: int | None, what: str
) -> Workload:
    """Payloads of every part, repeated (each round later by the longest span + 1 s) until the
    set holds at least ``frames`` frames."""
    base = sum(len(p) for p in parts)
    rounds = max(1, -(-frames // base))
    span = max(int(p.frames.ts[-1] - p.frames.ts[0]) for p in parts) + 1_000_000_000
    payloads: list[Payload] = []
    for r in range(rounds):
        for part in parts:
            payloads.extend(gateway_payloads(part.shifted(r * span), BATCH_FRAMES, batch_ns))
    payloads.sort(key=lambda p: p.last_ns)
    return Workload(
        what,
        [p.topic for p in payloads],
        [p.payload for p in payloads],
        np.array([p.frames for p in payloads], np.int64),
        sum(len(p.names) for p in parts),
    )
