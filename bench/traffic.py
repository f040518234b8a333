"""CAN traffic for the benchmarks: real logs and simulated vehicles, cut as the live path cuts it.

* :class:`Traffic`: the frames of one source as columns in time order, with the bus of each frame.
* :func:`load_log` (any log python-can reads; MF4 needs ``asammdf``) and :func:`simulated` (the
  demo DBC through :class:`hw.simulate.Simulator`, without real time).
* :func:`gateway_payloads`: CANP payloads as the gateway publishes them (per bus, at most
  ``batch_frames`` frames, and with ``batch_ns`` each closed once its first frame is that old).
* :func:`ring_batches`: those payloads grouped as the exchange's Ringbus hands them to the writer
  (a batch leaves when its oldest message is ``flush_ns`` old or when it holds ``cap`` messages).
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import can
import numpy as np
import numpy.typing as npt
import pyarrow as pa

from canp.schema import (
    CAN_EFF_FLAG,
    CAN_EFF_MASK,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FrameColumns,
)
from canp.wire import encode_columns
from hw.simulate import Simulator, load_dbc
from logger.core.message import MessageBatch

log = logging.getLogger(__name__)

LOG_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "logs"
DEMO_DBC = Path(__file__).resolve().parent.parent / "dbc" / "examples" / "demo.dbc"
#: Simulated traffic starts here (2023-11-14T22:13:20Z): absolute times, as a live bus gives.
SIM_START_S = 1_700_000_000.0
SIM_SEED = 1
BATCH_FRAMES = 256  # the gateway's default batch_frames
BATCH_NS = 10_000_000  # the gateway's default batch_ms (10 ms)
TOPIC = "vehicle/BENCH0000000000001/canp/{bus}"


@dataclass(frozen=True)
class Traffic:
    """Frames of one source: columns in time order, and per frame an index into ``names``."""

    name: str
    frames: FrameColumns
    bus: npt.NDArray[np.int32]
    names: list[str]
    source: Path | None = None  # the log file it came from (None: simulated)

    def __len__(self) -> int:
        return len(self.frames)

    @property
    def seconds(self) -> float:
        ts = self.frames.ts
        return float(ts[-1] - ts[0]) / 1e9 if len(ts) else 0.0

    def messages(self) -> Iterator[can.Message]:
        """python-can messages (for python-can's writers); ``channel`` is the bus index."""
        data = self.frames.data.to_pylist()
        cid = self.frames.can_id.tolist()
        flags = self.frames.flags.tolist()
        bus = self.bus.tolist()
        for i, ts in enumerate(self.frames.ts.tolist()):
            extended = bool(cid[i] & CAN_EFF_FLAG)
            yield can.Message(
                timestamp=ts / 1e9,
                arbitration_id=cid[i] & (CAN_EFF_MASK if extended else 0x7FF),
                is_extended_id=extended,
                is_remote_frame=bool(cid[i] & CAN_RTR_FLAG),
                is_error_frame=bool(cid[i] & CAN_ERR_FLAG),
                is_fd=bool(flags[i] & FLAG_FD),
                bitrate_switch=bool(flags[i] & FLAG_BRS),
                error_state_indicator=bool(flags[i] & FLAG_ESI),
                channel=bus[i],
                data=data[i],
                check=False,
            )

    def shifted(self, offset_ns: int, names: list[str] | None = None) -> Traffic:
        """The same frames ``offset_ns`` later (and optionally with other bus names)."""
        f = self.frames
        return Traffic(
            self.name,
            FrameColumns(f.ts + offset_ns, f.can_id, f.flags, f.data),
            self.bus,
            self.names if names is None else names,
            self.source,
        )


def can_id_with_flags(msg: can.Message) -> int:
    """The SocketCAN ``can_id`` of a python-can message (the id plus flag bits 31, 30, 29)."""
    return int(
        msg.arbitration_id
        | (CAN_EFF_FLAG if msg.is_extended_id else 0)
        | (CAN_RTR_FLAG if msg.is_remote_frame else 0)
        | (CAN_ERR_FLAG if msg.is_error_frame else 0)
    )


def from_messages(name: str, msgs: Sequence[can.Message], source: Path | None = None) -> Traffic:
    """Columns of python-can messages, stably sorted by time; channels become ``can0``, ``can1``..."""
    channels = sorted({str(m.channel) for m in msgs})
    index = {ch: i for i, ch in enumerate(channels)}
    cid = np.fromiter((can_id_with_flags(m) for m in msgs), np.uint32, len(msgs))
    flags = np.fromiter(
        (
            (FLAG_FD if m.is_fd else 0)
            | (FLAG_BRS if m.bitrate_switch else 0)
            | (FLAG_ESI if m.error_state_indicator else 0)
            for m in msgs
        ),
        np.uint8,
        len(msgs),
    )
    ts = np.fromiter((round(m.timestamp * 1e9) for m in msgs), np.int64, len(msgs))
    bus = np.fromiter((index[str(m.channel)] for m in msgs), np.int32, len(msgs))
    data = pa.array([bytes(m.data) for m in msgs], pa.binary())
    order = np.argsort(ts, kind="stable")
    frames = FrameColumns(ts[order], cid[order], flags[order], data.take(pa.array(order)))
    return Traffic(name, frames, bus[order], [f"can{i}" for i in range(len(channels))], source)


def load_log(path: Path) -> Traffic:
    """A log file through ``can.LogReader``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # asammdf and the ASC reader warn about details
        msgs = list(can.LogReader(path))
    return from_messages(path.name, msgs, path)


def sim_messages(seconds: float, seed: int = SIM_SEED) -> list[can.Message]:
    """``seconds`` of the demo DBC's traffic (about 411 frames/s, 2.4 % of them 64-byte FD)."""
    sim = Simulator(load_dbc(DEMO_DBC), None, seed=seed)
    return list(sim.frames(seconds, start=SIM_START_S))


def simulated(seconds: float, seed: int = SIM_SEED) -> Traffic:
    return from_messages(f"simulated {seconds:g} s (demo.dbc)", sim_messages(seconds, seed))


def real_logs(names: Iterable[str] | None = None) -> tuple[list[Path], list[str]]:
    """Present logs of :data:`LOG_DIR` (``names`` or all) and a note for each one missing."""
    if names is None:
        if not LOG_DIR.is_dir():
            return [], [f"{LOG_DIR} is missing: no real logs measured"]
        return sorted(p for p in LOG_DIR.iterdir() if p.is_file()), []
    found, notes = [], []
    for name in names:
        path = LOG_DIR / name
        if path.is_file():
            found.append(path)
        else:
            notes.append(f"{path} is missing: skipped")
    return found, notes


def subset(frames: FrameColumns, rows: npt.NDArray[np.int64]) -> FrameColumns:
    return FrameColumns(
        frames.ts[rows], frames.can_id[rows], frames.flags[rows], frames.data.take(pa.array(rows))
    )


@dataclass(frozen=True)
class Payload:
    """One CANP message: the time of its first and last frame, topic, payload, frame count."""

    first_ns: int
    last_ns: int
    topic: str
    payload: bytes
    frames: int


def cut_points(ts: npt.NDArray[np.int64], batch_frames: int, batch_ns: int | None) -> list[int]:
    """Start rows of the gateway's batches of one bus (plus the end): at most ``batch_frames``
    frames, and (``batch_ns``) none later than ``batch_ns`` after the batch's first frame."""
    cuts = [0]
    start, n = 0, ts.size
    while start < n:
        stop = min(start + batch_frames, n)
        if batch_ns is not None:
            stop = start + max(1, int(np.searchsorted(ts[start:stop], ts[start] + batch_ns)))
        cuts.append(stop)
        start = stop
    return cuts


def gateway_payloads(
    traffic: Traffic, batch_frames: int = BATCH_FRAMES, batch_ns: int | None = BATCH_NS
) -> list[Payload]:
    """CANP payloads as the gateway publishes them, in order of their last frame (publication)."""
    out: list[Payload] = []
    for b, name in enumerate(traffic.names):
        rows = np.flatnonzero(traffic.bus == b)
        ts = traffic.frames.ts[rows]
        topic = TOPIC.format(bus=name)
        cuts = cut_points(ts, batch_frames, batch_ns)
        for start, stop in itertools.pairwise(cuts):
            payload = encode_columns(subset(traffic.frames, rows[start:stop]))
            out.append(Payload(int(ts[start]), int(ts[stop - 1]), topic, payload, stop - start))
    out.sort(key=lambda p: p.last_ns)
    return out


def ring_batches(payloads: Sequence[Payload], flush_ns: int, cap: int) -> list[MessageBatch]:
    """Payloads (in arrival order) grouped as the Ringbus flushes them: a batch leaves when its
    oldest message is ``flush_ns`` old (the age flush) or when it holds ``cap`` messages."""
    batches: list[MessageBatch] = []
    group: list[Payload] = []
    key = 1

    def hand() -> None:
        nonlocal key, group
        keys = np.arange(key, key + len(group), dtype=np.int64)
        key += len(group)
        batches.append(MessageBatch(keys, [p.topic for p in group], [p.payload for p in group]))
        group = []

    for p in payloads:
        if group and p.last_ns - group[0].last_ns >= flush_ns:
            hand()
        group.append(p)
        if len(group) >= cap:
            hand()
    if group:
        hand()
    return batches
