"""The CANP plugin's encode: frames in time order across buses, quarantine of bad messages."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from canp.plugin import FRAMES_HINTS
from canp.schema import (
    CAN_EFF_FLAG,
    CAN_ERR_FLAG,
    CAN_RTR_FLAG,
    FLAG_BRS,
    FLAG_ESI,
    FLAG_FD,
    FRAMES_SCHEMA,
)
from canp.wire import encode_columns
from logger.core.message import MessageBatch
from logger.streams.plugin import QUARANTINE, QUARANTINE_SCHEMA
from tests.support.canp_plugin import T0, US, batch, frames, frames_table, plugin, topic, ts_of

# ---- encode -------------------------------------------------------------------------------


def test_encode_interleaves_buses_in_time_order_and_quarantines_a_bad_message() -> None:
    can0 = encode_columns(frames([T0 + 0, T0 + 20 * US, T0 + 40 * US], [0x100, 0x101, 0x100]))
    can1 = encode_columns(
        frames(
            [T0 + 10 * US, T0 + 30 * US],
            [0x18FEF100 | CAN_EFF_FLAG, 0x7FF],
            [bytes(64), b""],
            [FLAG_FD | FLAG_BRS | FLAG_ESI, 0],
        )
    )
    bad = b"CP\x01\x00\x05\x00\x00\x00truncated"
    b = batch((topic("can0"), can0), (topic("x"), bad), (topic("can1", "V2"), can1))
    chunks = plugin().encode(b)

    table = frames_table(chunks)
    assert table.schema == FRAMES_SCHEMA
    assert ts_of(table) == [T0 + i * 10 * US for i in range(5)]
    assert table.column("bus").to_pylist() == ["can0", "can1", "can0", "can1", "can0"]
    assert table.column("id").to_pylist() == [0x100, 0x18FEF100, 0x101, 0x7FF, 0x100]
    fd = table.slice(1, 1).to_pylist()[0]
    assert fd["extended"] and fd["fd"] and fd["brs"] and fd["esi"] and fd["dlc"] == 64
    assert [c.hints for c in chunks if c.name == "frames"] == [
        replace(FRAMES_HINTS, time_unit="us")
    ]

    [quarantine] = [c for c in chunks if c.name == QUARANTINE]
    assert quarantine.time_column == "key"
    assert quarantine.table.schema == QUARANTINE_SCHEMA
    [row] = quarantine.table.to_pylist()
    assert row["key"] == int(b.keys[1])
    assert row["topic"] == topic("x")
    assert row["payload"] == bad
    assert "truncated" in row["reason"]


def test_equal_times_keep_their_batch_order() -> None:
    a = encode_columns(frames([T0, T0], [1, 2]))
    b = encode_columns(frames([T0, T0 - 5 * US], [3, 4]))
    table = frames_table(plugin().encode(batch((topic("a"), a), (topic("b"), b))))
    assert table.column("id").to_pylist() == [4, 1, 2, 3]


def test_many_messages_map_to_buses_per_frame() -> None:
    rng = np.random.default_rng(7)
    messages = []
    expected: list[tuple[int, str]] = []
    for i in range(300):
        bus = f"can{i % 3}"
        ts = sorted((T0 + rng.integers(0, 10**6, 5) * US).tolist())
        messages.append((topic(bus, f"V{i % 2}"), encode_columns(frames(ts, [i] * 5))))
        expected.extend((t, bus) for t in ts)
    table = frames_table(plugin().encode(batch(*messages)))
    got = list(zip(ts_of(table), table.column("bus").to_pylist(), strict=True))
    assert got == sorted(expected, key=lambda e: e[0])
    assert table.num_rows == 1500


def test_only_bad_messages_give_only_quarantine_and_empty_gives_nothing() -> None:
    p = plugin()
    chunks = p.encode(batch((topic("can0"), b"nonsense"), (topic("can0"), b"")))
    assert [c.name for c in chunks] == [QUARANTINE]
    assert chunks[0].table.num_rows == 2
    assert p.quarantined == 2
    assert p.encode(MessageBatch.empty()) == []
    empty = encode_columns(frames([], []))
    assert p.encode(batch((topic("can0"), empty))) == []


def test_a_topic_without_a_bus_level_is_quarantined() -> None:
    good = encode_columns(frames([T0], [1]))
    chunks = plugin().encode(batch((topic(""), good), (topic("can0"), good)))
    assert frames_table(chunks).column("bus").to_pylist() == ["can0"]
    [row] = next(c for c in chunks if c.name == QUARANTINE).table.to_pylist()
    assert row["topic"] == "vehicle/V1/canp/"
    assert "no bus level" in row["reason"]


def test_a_frame_time_beyond_int64_is_quarantined_with_its_message() -> None:
    late = encode_columns(frames([T0, -1], [1, 2]))  # -1 is 2**64 - 1 on the wire
    good = encode_columns(frames([T0 + 1], [3]))
    chunks = plugin().encode(batch((topic("can0"), late), (topic("can0"), good)))
    assert frames_table(chunks).column("id").to_pylist() == [3]
    [row] = next(c for c in chunks if c.name == QUARANTINE).table.to_pylist()
    assert row["payload"] == late
    assert "int64" in row["reason"]


def test_remote_and_error_frames_keep_their_flags() -> None:
    wire = encode_columns(
        frames([T0, T0 + 1], [0x7DF | CAN_RTR_FLAG, 0x004 | CAN_ERR_FLAG], [b"", bytes(8)])
    )
    rows = frames_table(plugin().encode(batch((topic("can0"), wire)))).to_pylist()
    assert [(r["id"], r["remote"], r["error"], r["dlc"]) for r in rows] == [
        (0x7DF, True, False, 0),
        (0x004, False, True, 8),
    ]
