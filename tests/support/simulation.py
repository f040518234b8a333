"""Helpers for the simulator tests: the demo DBC, a fresh virtual channel, frames decoded into
per-message samples."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import can
from cantools.database.can import Database, Message

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "dbc" / "examples" / "demo.dbc"
WAIT_S = 10.0


def channel() -> str:
    return f"test-simulate-{uuid.uuid4().hex}"


@dataclass
class Sample:
    t: float
    values: dict[str, float]


def decode(db: Database, frame: can.Message) -> tuple[Message, dict[str, float]]:
    msg = db.get_message_by_frame_id(frame.arbitration_id)
    values = msg.decode(bytes(frame.data), decode_choices=False)
    assert isinstance(values, dict)
    return msg, {k: float(v) for k, v in values.items() if isinstance(v, int | float)}


def by_message(db: Database, frames: Iterator[can.Message]) -> dict[str, list[Sample]]:
    out: dict[str, list[Sample]] = defaultdict(list)
    for frame in frames:
        msg, values = decode(db, frame)
        out[msg.name].append(Sample(frame.timestamp, values))
    return out


def series(samples: list[Sample], name: str) -> list[float]:
    return [s.values[name] for s in samples if name in s.values]
