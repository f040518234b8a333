"""CANP with a DBC: signal tables on encode, signal queries over a store, import and ``signals``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import cast

import can
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cantools.database.can import Database

from canp.plugin import SIGNAL_HINTS, SIGNAL_LEAD_NS, CanpPlugin, SignalQuery, signal_table
from canp.schema import FRAMES
from canp.wire import encode_messages
from dbc.load import database_identity, load_database
from hw.simulate import Simulator, load_dbc
from logger.cli.app import main
from logger.core.config import ExchangeConfig, ParquetConfig
from logger.core.errors import Code, CommandError
from logger.core.message import MessageBatch
from logger.query.answer import Answerer, StoreSource
from logger.query.client import parse_end, read_frame
from logger.store import ParquetStore

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"
T0_S = 1_710_072_000  # 2024-03-10 12:00 UTC
MS = 1_000_000
TOPIC = "vehicle/V/canp/can0"
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
GENESIS = SHARED / "logs" / "hyundai_genesis_autologgenesis.log"
I30_DBC = SHARED / "dbc" / "matching" / "hyundai_i30_2014.dbc"

AMBIGUOUS_DBC = """VERSION ""
NS_ :
BS_:
BU_: A B
BO_ 100 Front: 8 A
 SG_ Speed : 0|16@1+ (0.1,0) [0|250] "km/h" B
 SG_ Level : 16|8@1+ (1,0) [0|255] "" B
BO_ 101 Rear: 8 A
 SG_ Speed : 0|16@1+ (0.1,0) [0|250] "km/h" B
"""


def cantools_values(db: Database, frame_id: int, data: bytes | bytearray) -> dict[str, float]:
    """cantools' own decoding of one frame (the reference), scaled, choices as numbers."""
    values = db.decode_message(frame_id, bytes(data), decode_choices=False)
    assert isinstance(values, dict)
    return {name: float(cast(float, value)) for name, value in values.items()}


def canp_plugin(dbc: Path | None = DEMO) -> CanpPlugin:
    return CanpPlugin(ExchangeConfig(name="can", topic="vehicle/+/canp/#", stream="canp", dbc=dbc))


def traffic(seconds: float = 30) -> list[can.Message]:
    return list(Simulator(load_dbc(DEMO), None, seed=1).frames(seconds, start=float(T0_S)))


def batches(messages: list[can.Message], per_payload: int = 100) -> Iterator[MessageBatch]:
    """One CANP payload per ``per_payload`` frames, 20 payloads per batch."""
    payloads = [
        encode_messages(messages[i : i + per_payload]) for i in range(0, len(messages), per_payload)
    ]
    for i in range(0, len(payloads), 20):
        part = payloads[i : i + 20]
        keys = np.arange(i, i + len(part), dtype=np.int64) + T0_S * 10**9
        yield MessageBatch(keys, [TOPIC] * len(part), part)


@pytest.fixture(scope="module")
def messages() -> list[can.Message]:
    return traffic()


@pytest.fixture
def store(tmp_path: Path, messages: list[can.Message]) -> ParquetStore:
    p = canp_plugin()
    s = ParquetStore(ParquetConfig(dir=tmp_path, row_group_rows=4096), "can", p.metadata())
    s.recover()
    for b in batches(messages):
        s.publish(s.write(p.encode(b)))
    return s


def ask(store: ParquetStore, command: str) -> tuple[pa.Table, tuple[Code, Code, str | None]]:
    p = canp_plugin()
    *data, end = list(Answerer(StoreSource("can", p, store)).answer(p.parse_command(command)))
    tables = [read_frame(f) for f in data]
    return (pa.concat_tables(tables) if tables else pa.table({})), parse_end(end)


# --------------------------------------------------------------------------- reference


def ns(msg: can.Message) -> int:
    """A frame's time as the exchange stores it: ns rounded to the nearest µs (its time unit)."""
    return (round(msg.timestamp * 1e9) + 500) // 1000 * 1000


def held_rows(
    messages: list[can.Message], wanted: dict[str, list[str]], start_ns: int, end_ns: int
) -> list[tuple[int, dict[str, float]]]:
    """Sample-and-hold from cantools' own decoding, one frame at a time (the reference)."""
    db = load_database(DEMO)
    ids = {db.get_message_by_name(m).frame_id: m for m in wanted}
    held: dict[str, float] = {}
    rows: list[tuple[int, dict[str, float]]] = []
    frames = sorted((m for m in messages if m.arbitration_id in ids and ns(m) <= end_ns), key=ns)
    for i, frame in enumerate(frames):
        decoded = cantools_values(db, frame.arbitration_id, frame.data)
        for sig in wanted[ids[frame.arbitration_id]]:
            held[sig] = decoded[sig]
        t = ns(frame)
        last_of_time = i + 1 == len(frames) or ns(frames[i + 1]) != t
        if t >= start_ns and last_of_time:
            rows.append((t, dict(held)))
    return rows


# --------------------------------------------------------------------------- encode


def test_encode_with_a_dbc_writes_one_signal_table_per_message(
    messages: list[can.Message],
) -> None:
    p = canp_plugin()
    identity = database_identity(DEMO)
    assert p.metadata() == {
        "sdvlog.dbc_name": identity.name,
        "sdvlog.dbc_hash": identity.sha256,
    }
    chunks = [c for b in batches(messages[:3000]) for c in p.encode(b)]
    names = {c.name for c in chunks}
    assert FRAMES in names and signal_table("EngineData") in names
    assert signal_table("BrakeStatus") in names
    engine = pa.concat_tables([c.table for c in chunks if c.name == signal_table("EngineData")])
    sent = [m for m in messages[:3000] if m.arbitration_id == 0x100]
    assert engine.num_rows == len(sent)
    assert engine.column("ts").to_pylist() == [ns(m) for m in sent]
    assert set(engine.column("bus").to_pylist()) == {"can0"}
    db = load_database(DEMO)
    expected = [cantools_values(db, 0x100, m.data) for m in sent[:50]]
    assert engine.column("EngineSpeed").to_pylist()[:50] == pytest.approx(
        [e["EngineSpeed"] for e in expected]
    )
    chunk = next(c for c in chunks if c.name == signal_table("EngineData"))
    assert chunk.time_column == "ts" and chunk.hints == replace(SIGNAL_HINTS, time_unit="us")


def test_unknown_short_remote_frames_stay_in_frames_only() -> None:
    p = canp_plugin()
    t = T0_S * 10**9
    frames = [
        can.Message(timestamp=t / 1e9, arbitration_id=0x100, data=bytes(8), is_extended_id=False),
        can.Message(
            timestamp=t / 1e9 + 0.001, arbitration_id=0x100, data=bytes(3), is_extended_id=False
        ),
        can.Message(
            timestamp=t / 1e9 + 0.002, arbitration_id=0x7AA, data=bytes(8), is_extended_id=False
        ),
        can.Message(
            timestamp=t / 1e9 + 0.003,
            arbitration_id=0x100,
            is_remote_frame=True,
            dlc=8,
            is_extended_id=False,
        ),
    ]
    chunks = p.encode(MessageBatch(np.array([t], np.int64), [TOPIC], [encode_messages(frames)]))
    by_name = {c.name: c.table for c in chunks}
    assert by_name[FRAMES].num_rows == 4
    assert set(by_name) == {FRAMES, signal_table("EngineData")}
    assert by_name[signal_table("EngineData")].num_rows == 1
    assert p.decode_stats.short == 1 and p.decode_stats.unknown == 1


def test_without_a_dbc_nothing_changes() -> None:
    p = canp_plugin(None)
    assert p.metadata() == {}
    chunks = p.encode(next(batches(traffic(1))))
    assert [c.name for c in chunks] == [FRAMES]
    for command in ("sync-0-1;sig=EngineSpeed", "sync-0-1;msg=EngineData", "sync-0-1;out=rows"):
        with pytest.raises(CommandError, match="needs a DBC") as info:
            p.parse_command(command)
        assert info.value.disk == Code.BAD_COMMAND


# --------------------------------------------------------------------------- commands


def test_parse_signal_commands() -> None:
    p = canp_plugin()
    q = p.parse_command("sync-0-1;sig=EngineSpeed,VehicleSpeed;where=EngineSpeed>2000")
    assert isinstance(q, SignalQuery)
    assert q.joint_tables == (signal_table("EngineData"), signal_table("BrakeStatus"))
    assert q.time_column == "ts" and q.lead_ns == SIGNAL_LEAD_NS and not q.rows_only
    rows = p.parse_command("sync-0-1;msg=WheelSpeeds")
    assert isinstance(rows, SignalQuery) and rows.rows_only
    assert rows.joint_tables == (signal_table("WheelSpeeds"),)


@pytest.mark.parametrize(
    ("command", "match"),
    [
        ("sync-0-1;sig=EngineSped", "unknown signal 'EngineSped'.*EngineSpeed"),
        ("sync-0-1;sig=EngineSpeed;where=Nope>1", "unknown signal 'Nope'"),
        ("sync-0-1;msg=EngineDta", "unknown message 'EngineDta'.*EngineData"),
        ("sync-0-1;msg=EngineData;sig=VehicleSpeed", "unknown signal 'VehicleSpeed'"),
        ("sync-0-1;sig=EngineSpeed;id=0x100", "pick one"),
        ("sync-0-1;out=intervals", "needs sig= or where="),
        ("sync-0-1;msg=EngineData;out=intervals", "needs where="),
        ("sync-0-1;sig=BrakeStatus.Nope", "message BrakeStatus has no signal 'Nope'"),
    ],
)
def test_bad_names_are_code_5_naming_them(command: str, match: str) -> None:
    with pytest.raises(CommandError, match=match) as info:
        canp_plugin().parse_command(command)
    assert info.value.disk == Code.BAD_COMMAND


def test_ambiguous_signal_names_list_the_candidates(tmp_path: Path) -> None:
    dbc = tmp_path / "two.dbc"
    dbc.write_text(AMBIGUOUS_DBC)
    p = canp_plugin(dbc)
    with pytest.raises(CommandError, match=r"ambiguous signal 'Speed'.*Front.Speed, Rear.Speed"):
        p.parse_command("sync-0-1;sig=Speed")
    q = p.parse_command("sync-0-1;sig=Rear.Speed,Level")
    assert q.joint_tables == (signal_table("Rear"), signal_table("Front"))
    q = p.parse_command("sync-0-1;msg=Front;sig=Speed")  # msg= narrows the names
    assert q.joint_tables == (signal_table("Front"),)


# --------------------------------------------------------------------------- store round trip


def test_signal_query_over_the_store_matches_cantools(
    store: ParquetStore, messages: list[can.Message]
) -> None:
    start_ms, end_ms = T0_S * 1000 + 5000, T0_S * 1000 + 25000
    start_ns, end_ns = start_ms * MS, end_ms * MS + MS - 1
    expected = [
        (t, v)
        for t, v in held_rows(
            messages,
            {"EngineData": ["EngineSpeed"], "BrakeStatus": ["VehicleSpeed"]},
            start_ns,
            end_ns,
        )
        if v["EngineSpeed"] > 2000
    ]
    assert expected, "the simulated traffic should exceed 2000 rpm"
    command = f"sync-{start_ms}-{end_ms};sig=EngineSpeed,VehicleSpeed;where=EngineSpeed>2000"
    table, (disk, memory, _) = ask(store, command)
    assert (disk, memory) == (Code.OK, Code.NONE)
    assert table.column_names == ["ts", "EngineSpeed", "VehicleSpeed"]
    assert table.column("ts").to_pylist() == [t for t, _ in expected]
    assert table.column("EngineSpeed").to_pylist() == pytest.approx(
        [v["EngineSpeed"] for _, v in expected]
    )
    assert table.column("VehicleSpeed").to_pylist() == pytest.approx(
        [v["VehicleSpeed"] for _, v in expected]
    )

    # intervals: runs of consecutive matching sample rows
    every = held_rows(
        messages,
        {"EngineData": ["EngineSpeed"], "BrakeStatus": ["VehicleSpeed"]},
        start_ns,
        end_ns,
    )
    runs: list[tuple[int, int, int]] = []
    current: list[int] = []
    for t, v in every:
        if v["EngineSpeed"] > 2000:
            current.append(t)
        elif current:
            runs.append((current[0], current[-1], len(current)))
            current = []
    if current:
        runs.append((current[0], current[-1], len(current)))
    intervals, (disk, _, _) = ask(store, command + ";out=intervals")
    assert disk == Code.OK
    assert (
        list(
            zip(
                intervals.column("start").to_pylist(),
                intervals.column("end").to_pylist(),
                intervals.column("rows").to_pylist(),
                strict=True,
            )
        )
        == runs
    )


def test_lead_in_holds_the_value_from_before_the_window(store: ParquetStore) -> None:
    # BatteryStatus is slower than EngineData: a window shorter than its cycle still holds SOC
    start_ms = T0_S * 1000 + 10_003
    table, (disk, _, _) = ask(store, f"sync-{start_ms}-{start_ms + 20};sig=EngineSpeed,SOC")
    assert disk == Code.OK and table.num_rows >= 1
    assert table.column("SOC").null_count == 0


def test_message_rows_and_bus_filter(store: ParquetStore, messages: list[can.Message]) -> None:
    start_ms, end_ms = T0_S * 1000 + 1000, T0_S * 1000 + 2000
    table, (disk, _, _) = ask(store, f"sync-{start_ms}-{end_ms};msg=WheelSpeeds")
    sent = [
        m
        for m in messages
        if m.arbitration_id == 0x210 and start_ms * MS <= ns(m) <= end_ms * MS + MS - 1
    ]
    assert disk == Code.OK and table.num_rows == len(sent) > 0
    assert table.column_names[:2] == ["ts", "bus"] and "WheelSpeedFL" in table.column_names
    assert table.column("ts").to_pylist() == [ns(m) for m in sent]
    both, _ = ask(store, f"sync-{start_ms}-{end_ms};msg=WheelSpeeds,EngineData;limit=100")
    assert "message" in both.column_names and "EngineData.EngineSpeed" in both.column_names
    ts = both.column("ts").to_pylist()
    assert ts == sorted(ts) and both.num_rows == 100
    none, (disk, _, _) = ask(store, f"sync-{start_ms}-{end_ms};msg=WheelSpeeds;bus=can1")
    assert none.num_rows == 0
    other, _ = ask(store, f"sync-{start_ms}-{end_ms};sig=WheelSpeedFL;bus=can1")
    assert other.num_rows == 0


def test_files_carry_the_dbc_identity(store: ParquetStore) -> None:
    identity = database_identity(DEMO)
    files = store.files(signal_table("EngineData"), 0, 2**63 - 1)
    assert files
    meta = pq.read_metadata(files[0].path).metadata
    assert meta[b"sdvlog.dbc_name"].decode() == identity.name
    assert meta[b"sdvlog.dbc_hash"].decode() == identity.sha256


# --------------------------------------------------------------------------- import and CLI


def test_import_with_a_dbc_writes_signal_tables(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if not (GENESIS.exists() and I30_DBC.exists()):
        pytest.skip("shared/data logs or DBCs are not here")
    assert main(["import", str(GENESIS), "--dir", str(tmp_path), "--dbc", str(I30_DBC)]) == 0
    out = capsys.readouterr().out
    assert "signals:" in out
    store = ParquetStore(ParquetConfig(dir=tmp_path), "can", {})
    store.recover()
    tables = [t for t in store.tables() if t.startswith("signals/message=")]
    assert tables, out
    files = store.files(tables[0], 0, 2**63 - 1)
    meta = pq.read_metadata(files[0].path).metadata
    assert meta[b"sdvlog.dbc_hash"].decode() == database_identity(I30_DBC).sha256
    assert b"sdvlog.source_file" in meta


def test_signals_lists_messages_and_signals(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["signals", "--dbc", str(DEMO)]) == 0
    out = capsys.readouterr().out
    assert "EngineData" in out and "0x100" in out and "ECM" in out
    assert "EngineSpeed" in out and "rpm" in out and "8000" in out
    assert main(["signals", "--dbc", str(DEMO), "--message", "WheelSpeeds"]) == 0
    only = capsys.readouterr().out
    assert "WheelSpeedFL" in only and "EngineSpeed" not in only
    assert main(["signals", "--dbc", str(DEMO), "--message", "Nope"]) == 1
