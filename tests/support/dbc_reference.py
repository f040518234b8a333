"""Helpers for the codec tests: logs → ``frames`` tables, and comparison against cantools."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import can
import numpy as np
import pyarrow as pa
from cantools.database.can import Database, Message

from canp.schema import FRAMES_SCHEMA
from dbc.codec import DatabaseCodec, MessageCodec

DATA = Path(__file__).resolve().parents[3] / "shared" / "data"
PER_ID = 1_000_000  # frames compared with cantools per frame id (lower it to sample)


def read_log(path: Path) -> list[can.Message]:
    with can.LogReader(path) as reader:
        return [m for m in reader if not (m.is_remote_frame or m.is_error_frame)]


def frames_table(msgs: Sequence[can.Message]) -> pa.Table:
    n = len(msgs)
    false = pa.array(np.zeros(n, bool))
    return pa.Table.from_arrays(
        [
            pa.array([round(m.timestamp * 1e9) for m in msgs], pa.int64()),
            pa.array([str(m.channel) for m in msgs], pa.string()),
            pa.array([m.arbitration_id for m in msgs], pa.uint32()),
            pa.array([bool(m.is_extended_id) for m in msgs]),
            false,
            false,
            pa.array([bool(m.is_fd) for m in msgs]),
            false,
            false,
            pa.array([len(m.data) for m in msgs], pa.uint8()),
            pa.array([bytes(m.data) for m in msgs], pa.binary()),
            pa.nulls(n, pa.string()),
        ],
        schema=FRAMES_SCHEMA,
    )


def overlapping(message: Message) -> bool:
    """Whether two signals of one multiplexer page share bits (cantools cannot unpack those)."""
    pages: dict[object, set[int]] = defaultdict(set)
    for sig in message.signals:
        if sig.byte_order == "little_endian":
            bits = range(sig.start, sig.start + sig.length)
        else:
            msb = 8 * (sig.start // 8) + 7 - sig.start % 8
            bits = range(msb, msb + sig.length)
        lanes = [tuple(sig.multiplexer_ids)] if sig.multiplexer_ids else [None]
        for lane in lanes:
            seen = pages[lane]
            if seen & set(bits):
                return True
            seen.update(bits)
    return False


@dataclass
class Comparison:
    frames: int = 0
    compared: int = 0
    values: int = 0
    cantools_ok: int = 0
    unknown: int = 0
    short: int = 0
    explained_errors: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)


def _same(ours: object, theirs: object) -> bool:
    if isinstance(theirs, bool | int) and not isinstance(theirs, float):
        return isinstance(ours, bool | int) and ours == theirs
    assert isinstance(theirs, float)
    if not isinstance(ours, int | float):
        return False
    if math.isnan(theirs):
        return math.isnan(ours)
    return ours == theirs or math.isclose(ours, theirs, rel_tol=1e-12)


def compare(
    codec: DatabaseCodec,
    reference: Database,
    msgs: Sequence[can.Message],
    tables: dict[str, pa.Table],
    j1939: bool = False,
    per_id: int = PER_ID,
) -> Comparison:
    """Decode ``msgs`` with cantools one by one and compare with our ``tables``.

    Every frame is classified (unknown / short / ours); up to ``per_id`` frames per id are compared
    value by value. With ``j1939`` the reference looks frames up with the PGN mask.
    """
    result = Comparison(frames=len(msgs))
    rows: dict[str, int] = defaultdict(int)
    pylists: dict[str, dict[str, list[object]]] = {
        name: table.to_pydict() for name, table in tables.items()
    }
    seen: Counter[tuple[int, bool]] = Counter()
    for msg in msgs:
        ours = codec.codec_for(msg.arbitration_id, msg.is_extended_id)
        try:
            if j1939:
                ref_msg = reference.get_message_by_frame_id(
                    msg.arbitration_id, force_extended_id=msg.is_extended_id
                )
                theirs = ref_msg.decode(bytes(msg.data), decode_choices=False)
            else:
                theirs = reference.decode_message(
                    msg.arbitration_id,
                    bytes(msg.data),
                    decode_choices=False,
                    scaling=True,
                    force_extended_id=msg.is_extended_id,
                )
            error: Exception | None = None
        except KeyError as exc:
            theirs, error = None, exc
            if ours is not None:
                result.mismatches.append(
                    f"{msg.arbitration_id:#x}: cantools unknown, ours {ours.name}"
                )
            result.unknown += 1
            continue
        except Exception as exc:  # cantools' DecodeError and friends
            theirs, error = None, exc
        if ours is None:
            result.mismatches.append(f"{msg.arbitration_id:#x}: ours unknown, cantools knows it")
            continue
        if len(msg.data) < ours.length:
            result.short += 1
            if error is None:
                result.mismatches.append(f"{ours.name}: short frame decoded by cantools")
            continue
        row = rows[ours.name]
        rows[ours.name] += 1
        if error is not None:
            result.explained_errors[_explain(ours, bytes(msg.data), error)] += 1
            continue
        result.cantools_ok += 1
        key = (msg.arbitration_id, msg.is_extended_id)
        seen[key] += 1
        if seen[key] > per_id:
            continue
        result.compared += 1
        assert isinstance(theirs, dict)
        columns = pylists[ours.name]
        for name, value in theirs.items():
            mine = columns[name][row]
            result.values += 1
            if not _same(mine, value):
                result.mismatches.append(f"{ours.name}.{name} row {row}: {mine!r} != {value!r}")
        for sig in ours.message.signals:
            if sig.name not in theirs and columns[sig.name][row] is not None:
                result.mismatches.append(f"{ours.name}.{sig.name} row {row}: not null")
        if ours.j1939 and columns["source_address"][row] != msg.arbitration_id & 0xFF:
            result.mismatches.append(f"{ours.name} row {row}: source address")
    return result


def _explain(codec: MessageCodec, data: bytes, error: Exception) -> str:
    """Why cantools failed on a frame we decoded; 'UNEXPLAINED' otherwise."""
    if "unpacking failed" in str(error) and overlapping(codec.message):
        return "overlapping signals"
    decoded = codec.decode(np.frombuffer(data, np.uint8)[None, :])
    if decoded.mux_error.any() and "multiplexer" in str(error):
        return "unknown multiplexer value"
    return f"UNEXPLAINED: {error!r}"


def message_ids(msgs: Iterable[can.Message]) -> set[int]:
    return {m.arbitration_id for m in msgs}
