"""Reading tables together: parts merged in global time order, joint tables read over
[start - lead, end] and answered at once, with only the columns the plugin names, and pieces
concatenated without sorting when they do not overlap (every answer equal to the general path's)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import can
import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from canp.plugin import CanpPlugin, signal_table
from canp.wire import encode_messages
from logger.core.command import parse_command
from logger.core.config import ExchangeConfig, ParquetConfig
from logger.core.errors import Code
from logger.core.message import MessageBatch
from logger.query import answer as query_module
from logger.query.answer import Answerer, Part, StoreSource, joint_table, merge_in_time
from logger.query.client import parse_end, read_frame
from logger.service.demo import demo_dbc
from logger.store.chunk import TableChunk
from logger.store.layout import StoredFile
from logger.store.store import ParquetStore
from logger.streams.plugin import Query
from logger.streams.raw import RawPlugin


def part(times: list[int]) -> Part:
    table = pa.table(
        {"ts": pa.array(sorted(times), pa.int64()), "v": pa.array(sorted(times), pa.int64())}
    )
    return Part(min(times), lambda: table)


def counting(inner: Part, index: int, loaded: list[int]) -> Part:
    def load() -> pa.Table | None:
        loaded.append(index)
        return inner.load()

    return Part(inner.low, load)


def test_overlapping_parts_come_out_in_global_time_order_as_early_as_possible() -> None:
    loaded: list[int] = []
    rng = np.random.default_rng(1)
    parts = []
    for i in range(6):  # bus-like batches that overlap their neighbours in time
        times = (i * 100 + rng.integers(0, 250, 50)).tolist()
        parts.append(counting(part(times), i, loaded))
    chunks = []
    for chunk in merge_in_time(list(reversed(parts)), "ts"):
        chunks.append((len(loaded), chunk.column("ts").to_pylist()))
    out = [t for _, c in chunks for t in c]
    expected = sorted(
        t for p in parts for t in (p.load() or pa.table({"ts": []})).column("ts").to_pylist()
    )
    assert out == expected
    assert len(chunks) > 1 and chunks[0][0] < len(parts)  # rows leave before every part is loaded


def test_empty_and_missing_parts() -> None:
    assert list(merge_in_time([], "ts")) == []
    assert list(merge_in_time([Part(5, lambda: None)], "ts")) == []
    [only] = merge_in_time([Part(5, lambda: None), part([7, 6])], "ts")
    assert only.column("ts").to_pylist() == [6, 7]


MS = 1_000_000


class TwoTables(RawPlugin):
    id = 44
    name = "two"

    def parse_command(self, text: str) -> Query:
        return Query(parse_command(text), "a", "ts", None, joint_tables=("a", "b"), lead_ns=5 * MS)

    def answer_joint(self, tables: Mapping[str, pa.Table], query: Query) -> pa.Table:
        return pa.table(
            {name: [str(t.column("ts").to_pylist())] for name, t in sorted(tables.items())}
        )


def test_joint_tables_are_read_with_lead_in_and_answered_at_once(tmp_path: Path) -> None:
    store = ParquetStore(ParquetConfig(dir=tmp_path), "x", {})
    store.recover()
    for first in (0, 100):  # two batches, each writing both tables
        chunks = [
            TableChunk(
                name,
                pa.table(
                    {"ts": pa.array([(first + k) * MS for k in range(0, 50, 10)], pa.int64())}
                ),
                "ts",
            )
            for name in ("a", "b")
        ]
        store.publish(store.write(chunks))
    plugin = TwoTables(ExchangeConfig(name="x", stream="two"))
    frames = list(
        Answerer(StoreSource("x", plugin, store)).answer(plugin.parse_command("sync-35-120"))
    )
    assert parse_end(frames[-1])[:2] == (Code.OK, Code.NONE)
    table = read_frame(frames[0])
    expected = str([30 * MS, 40 * MS, 100 * MS, 110 * MS, 120 * MS])  # 30 ms: the 5 ms lead-in
    assert table.column("a").to_pylist() == [expected] and table.column("b").to_pylist() == [
        expected
    ]


MS = 1_000_000
T0_MS = 1_700_000_000_000
ENGINE, BRAKE = 0x100, 0x200


# --------------------------------------------------------------------------- joint_table


def _general(parts: list[Part], column: str) -> pa.Table | None:
    pieces = list(merge_in_time(parts, column))
    return pa.concat_tables(pieces, promote_options="permissive") if pieces else None


_part = st.one_of(
    st.none(),
    st.tuples(st.integers(0, 3), st.lists(st.integers(0, 20), max_size=6)),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_part, max_size=5))
def test_joint_table_orders_parts_as_merge_in_time_does(
    specs: list[tuple[int, list[int]] | None],
) -> None:
    parts: list[Part] = []
    serial = 0
    for spec in specs:
        if spec is None:
            parts.append(Part(0, lambda: None))
            continue
        slack, times = spec
        times = sorted(times)
        table = pa.table(
            {
                "ts": pa.array(times, pa.int64()),
                "row": pa.array(range(serial, serial + len(times)), pa.int64()),
            }
        )
        serial += len(times)
        low = (times[0] if times else 0) - slack  # a lower bound of the part's times
        parts.append(Part(low, lambda t=table: t))  # type: ignore[misc]
    fast, general = joint_table(parts, "ts"), _general(parts, "ts")
    assert (None if fast is None else fast.to_pylist()) == (
        None if general is None else general.to_pylist()
    )


# --------------------------------------------------------------------------- through the Answerer


def _frame(ms: float, can_id: int, rng: np.random.Generator) -> can.Message:
    return can.Message(
        timestamp=(T0_MS + ms) / 1000,
        arbitration_id=can_id,
        is_extended_id=False,
        data=bytes(rng.integers(0, 256, 8, dtype=np.uint8)),
    )


def _time(message: can.Message) -> float:
    return float(message.timestamp)


def _batch(frames: dict[str, list[can.Message]], key_ms: int) -> MessageBatch:
    """One payload per bus (``vehicle/V/canp/<bus>``)."""
    topics = list(frames)
    keys = np.arange(len(topics), dtype=np.int64) + (T0_MS + key_ms) * MS
    ordered: list[list[can.Message]] = [sorted(frames[t], key=_time) for t in topics]
    payloads = [encode_messages(f) for f in ordered]
    return MessageBatch(keys, [f"vehicle/V/canp/{t}" for t in topics], payloads)


def _traffic(
    rng: np.random.Generator, engine: range, brake: range, bus: str = "can0"
) -> dict[str, list[can.Message]]:
    frames = [_frame(ms, ENGINE, rng) for ms in engine] + [_frame(ms, BRAKE, rng) for ms in brake]
    other = "can1" if bus == "can0" else "can0"
    return {bus: frames, other: [_frame(ms + 1, ENGINE, rng) for ms in engine[::3]]}


class MemorySource(StoreSource):
    """A store plus batches still in memory (as a live exchange's ring)."""

    def __init__(self, plugin: CanpPlugin, store: ParquetStore, memory: MessageBatch) -> None:
        super().__init__("x", plugin, store)
        self.canp = plugin
        self.memory = memory

    def snapshot(
        self, table: str, start_ns: int, end_ns: int
    ) -> tuple[list[StoredFile], list[MessageBatch]]:
        return self.store.files(table, start_ns, end_ns), [self.memory]


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> MemorySource:
    plugin = CanpPlugin(
        ExchangeConfig(name="x", topic="vehicle/+/canp/#", stream="canp", dbc=demo_dbc())
    )
    store = ParquetStore(ParquetConfig(dir=tmp_path_factory.mktemp("joint")), "x", {})
    store.recover()
    rng = np.random.default_rng(11)
    # EngineData: batches 1 and 2 interleave in time (and tie at 200 ms); BrakeStatus files
    # touch at 100 ms (equal times at the boundary, different values).
    stored = [
        _traffic(rng, range(0, 201, 10), range(0, 101, 20)),
        _traffic(rng, range(5, 206, 10), range(100, 201, 20), bus="can1"),
        _traffic(rng, range(200, 201), range(240, 241)),
        _traffic(rng, range(300, 401, 10), range(300, 401, 20)),
    ]
    for i, frames in enumerate(stored):
        store.publish(store.write(plugin.encode(_batch(frames, i))))
    memory = _batch(_traffic(rng, range(390, 451, 10), range(400, 461, 20)), 10)
    return MemorySource(plugin, store, memory)


def _answer(source: MemorySource, text: str) -> tuple[list[pa.Table], tuple[object, ...]]:
    frames = list(Answerer(source).answer(source.plugin.parse_command(text)))
    return [read_frame(f) for f in frames[:-1]], parse_end(frames[-1])


COMMANDS = [
    "where=EngineSpeed>4000,VehicleSpeed<300",
    "where=EngineSpeed>4000,VehicleSpeed<300;out=intervals",
    "sig=VehicleSpeed,EngineTorque;where=EngineSpeed>2000",
    "bus=can1;sig=EngineSpeed,VehicleSpeed",
    "bus=can0;sig=VehicleSpeed;where=ThrottlePos<50;out=intervals",
    "sig=EngineSpeed,BrakeStatus.VehicleSpeed;limit=7",
    "msg=EngineData",
    "msg=EngineData,BrakeStatus;bus=can0",
    "sig=CoolantTemp,SOC",  # SOC: a message with no data
]
RANGES = [(0, 500), (50, 420), (100, 100), (205, 395)]


def test_joint_reads_answer_as_the_general_path(
    source: MemorySource, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = {
        (lo, hi, c): _answer(source, f"sync-{T0_MS + lo}-{T0_MS + hi};{c}")
        for lo, hi in RANGES
        for c in COMMANDS
    }
    monkeypatch.setattr(query_module, "joint_table", _general)
    monkeypatch.setattr(CanpPlugin, "joint_columns", lambda self, query: None)
    for (lo, hi, c), (tables, end) in fast.items():
        general_tables, general_end = _answer(source, f"sync-{T0_MS + lo}-{T0_MS + hi};{c}")
        assert end == general_end, c
        assert [t.to_pylist() for t in tables] == [t.to_pylist() for t in general_tables], c
        assert [t.schema for t in tables] == [t.schema for t in general_tables], c
    assert any(t and t[0].num_rows for t, _ in fast.values())


def test_canp_names_the_columns_a_signal_query_reads(source: MemorySource) -> None:
    plugin = source.canp
    query = plugin.parse_command("sync-0-1;bus=can1;sig=EngineSpeed;where=VehicleSpeed<3")
    assert plugin.joint_columns(query) == {
        signal_table("EngineData"): ["ts", "bus", "EngineSpeed"],
        signal_table("BrakeStatus"): ["ts", "bus", "VehicleSpeed"],
    }
    assert plugin.joint_columns(plugin.parse_command("sync-0-1;msg=EngineData")) is None
    assert plugin.joint_columns(plugin.parse_command("sync-0-1;id=0x100")) is None
