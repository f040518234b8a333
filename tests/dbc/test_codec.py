"""The vectorised codec decodes exactly what cantools decodes: real logs, simulated and random traffic."""

from __future__ import annotations

import random
from pathlib import Path

import can
import cantools
import numpy as np
import pyarrow as pa
import pytest
from cantools.database.can import Database

from dbc.codec import DatabaseCodec, MessageCodec, j1939_pgn
from dbc.load import load_database
from hw.simulate import Simulator
from tests.support.dbc_reference import DATA, compare, frames_table, read_log

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"

#: (log, DBC, J1939 PGN matching) — the pairs of the data manifest.
REAL = [
    ("ford_gt350_vsslog.trc", "ford_lincoln_base_pt.dbc", False),
    ("hyundai_genesis_autologgenesis.log", "hyundai_i30_2014.dbc", False),
    ("hyundai_kona_turnonlog.trc", "hyundai_kia_generic.dbc", False),
    ("kona_ev_bms_idle_30sec.asc", "kona_ev_pcan.cantools-fix.dbc", False),
    ("css_canedge_j1939_plus_gps.MF4", "CSS-Electronics-SAE-J1939-DEMO.dbc", True),
    ("css_canedge_j1939_plus_gps.MF4", "canmod-gps.dbc", False),
    ("css_canedge_j1939_truck.MF4", "CSS-Electronics-SAE-J1939-DEMO.dbc", True),
]

_LOGS: dict[str, list[can.Message]] = {}


def _log(name: str) -> list[can.Message]:
    path = DATA / "logs" / name
    if not path.is_file():
        pytest.skip(f"real log {path} not present")
    if name not in _LOGS:
        _LOGS[name] = read_log(path)
    return _LOGS[name]


@pytest.mark.parametrize(("log", "dbc_name", "j1939"), REAL, ids=[f"{a}-{b}" for a, b, _ in REAL])
def test_real_log_equals_cantools(log: str, dbc_name: str, j1939: bool) -> None:
    dbc_path = DATA / "dbc" / "matching" / dbc_name
    if not dbc_path.is_file():
        pytest.skip(f"DBC {dbc_path} not present")
    msgs = _log(log)
    db = load_database(dbc_path)
    reference = cantools.database.load_file(
        dbc_path, strict=False, frame_id_mask=0x03FFFF00 if j1939 else None
    )
    assert isinstance(reference, Database)
    codec = DatabaseCodec(db)
    tables, stats = codec.decode_frames_with_stats(frames_table(msgs))
    result = compare(codec, reference, msgs, tables, j1939=j1939)
    assert result.mismatches == []
    assert not any(k.startswith("UNEXPLAINED") for k in result.explained_errors)
    assert result.cantools_ok > 0
    assert stats.frames == len(msgs)
    assert stats.unknown == result.unknown
    assert stats.short == result.short
    assert stats.decoded == result.cantools_ok + sum(result.explained_errors.values())
    assert stats.decoded + stats.unknown + stats.short == len(msgs)
    for name, table in tables.items():
        # the frames carry a topic column (null here: not from MQTT), so each table ends with it
        assert table.schema == codec.codecs[name].schema.append(pa.field("topic", pa.string()))
        ts = table.column("ts").to_numpy()
        assert (np.diff(ts) >= 0).all()


def _demo() -> Database:
    return load_database(DEMO)


def test_simulated_demo_traffic_equals_cantools() -> None:
    db = _demo()
    msgs = list(Simulator(db, None, seed=1).frames(60))
    codec = DatabaseCodec(db)
    tables, stats = codec.decode_frames_with_stats(frames_table(msgs))
    result = compare(codec, db, msgs, tables)
    assert result.mismatches == []
    assert result.cantools_ok == len(msgs) == stats.decoded
    assert set(tables) == {m.name for m in db.messages}
    diag = tables["EcuDiagnostics"]
    assert diag.column("Odometer").null_count > 0
    assert diag.schema.field("Odometer").nullable
    assert not diag.schema.field("DiagPage").nullable


def test_frames_table_from_canp_and_decode_are_cumulative() -> None:
    db = _demo()
    codec = DatabaseCodec(db)
    msg = db.get_message_by_name("ChargerStatus")
    payload = bytes(range(msg.length))
    frames = [
        can.Message(arbitration_id=msg.frame_id, is_extended_id=True, data=payload),
        can.Message(arbitration_id=msg.frame_id, is_extended_id=True, data=payload[:3]),
        can.Message(arbitration_id=0x7FE, data=b"\x00" * 8),
    ]
    codec.decode_frames(frames_table(frames))
    codec.decode_frames(frames_table(frames))
    assert (codec.stats.decoded, codec.stats.short, codec.stats.unknown) == (2, 2, 2)
    assert codec.stats.short_by_message == {"ChargerStatus": 2}
    assert codec.decode_frames(frames_table([])) == {}


EDGE_DBC = """VERSION ""
NS_ :
BS_:
BU_: A
BO_ 1024 Fd: 64 A
 SG_ Le64 : 100|64@1+ (1,0) [0|0] "" A
 SG_ Be40 : 61|40@0- (1,0) [0|0] "" A
 SG_ Be13 : 500|13@0+ (0.5,-3) [0|0] "" A
 SG_ F64 : 192|64@1- (1,0) [0|0] "" A
 SG_ F32s : 320|32@0- (2.5,1) [0|0] "" A
 SG_ Neg : 420|7@1- (-3,2) [0|0] "m/s" A
 SG_ Flag : 511|1@1+ (1,0) [0|1] "" A
BO_ 2147484160 Nested: 8 A
 SG_ Top M : 0|4@1+ (1,0) [0|0] "" A
 SG_ Inner m1M : 4|4@1+ (1,0) [0|0] "" A
 SG_ Leaf : 8|16@1+ (1,0) [0|0] "" A
 SG_ Page0 m0 : 8|16@0- (0.1,0) [0|0] "" A
 SG_ Always : 56|8@1- (1,0) [0|0] "" A
SIG_VALTYPE_ 1024 F64 : 2;
SIG_VALTYPE_ 1024 F32s : 1;
SG_MUL_VAL_ 2147484160 Inner Top 1-1;
SG_MUL_VAL_ 2147484160 Leaf Inner 2-3;
"""


@pytest.fixture(scope="module")
def edge_db() -> Database:
    db = cantools.database.load_string(EDGE_DBC, strict=False)
    assert isinstance(db, Database)
    return db


def test_random_payloads_fd_big_endian_float_nested_mux(edge_db: Database) -> None:
    rng = random.Random(7)
    msgs = []
    for message in edge_db.messages:
        for _ in range(400):
            size = message.length if rng.random() > 0.1 else rng.randrange(message.length)
            data = bytes(rng.randrange(256) for _ in range(size))
            if message.name == "Nested" and data:
                data = bytes([rng.choice([0x00, 0x21, 0x31, 0x11, 0x05]), *data[1:]])
            msgs.append(
                can.Message(
                    arbitration_id=message.frame_id,
                    is_extended_id=message.is_extended_frame,
                    is_fd=message.length > 8,
                    data=data,
                )
            )
    codec = DatabaseCodec(edge_db)
    tables, stats = codec.decode_frames_with_stats(frames_table(msgs))
    result = compare(codec, edge_db, msgs, tables)
    assert result.mismatches == []
    assert result.short == stats.short > 0
    assert result.explained_errors["unknown multiplexer value"] == stats.mux_errors > 0
    assert set(result.explained_errors) == {"unknown multiplexer value"}
    fd = tables["Fd"].schema
    assert fd.field("F32s").type == pa.float64() and fd.field("F64").type == pa.float64()
    assert fd.field("Flag").type == pa.bool_() and fd.field("Neg").type == pa.int16()


def test_message_codec_takes_a_payload_matrix(edge_db: Database) -> None:
    codec = MessageCodec(edge_db.get_message_by_name("Nested"))
    data = np.array(
        [[0x21, 0x34, 0x12, 0, 0, 0, 0, 0xFF], [0x00, 0x01, 0x02, 0, 0, 0, 0, 1]], np.uint8
    )
    decoded = codec.decode(data)
    assert decoded.valid.all()
    assert decoded.mux_error.tolist() == [False, True]  # cantools' tree: Top must be 1
    expected = codec.message.decode(bytes(data[0]), decode_choices=False)
    assert isinstance(expected, dict)
    for name, value in expected.items():
        column = decoded.columns[name]
        got = column.to_pylist()[0] if isinstance(column, pa.Array) else column.tolist()[0]
        assert got == pytest.approx(value), name
    always = decoded.columns["Always"]
    assert isinstance(always, np.ndarray) and always.tolist() == [-1, 1]
    short = codec.decode(data[:, :5])
    assert short.short == 2 and not short.valid.any()
    assert codec.decode(pa.array([bytes(data[0]), b"\x01"])).valid.tolist() == [True, False]


def test_j1939_pgn_rule() -> None:
    assert j1939_pgn(0x0CF00400) == 0xF004
    assert j1939_pgn(0x18FEF1FE) == 0xFEF1
    assert j1939_pgn(0x18EA00F9) == 0xEA00  # PDU1: destination address dropped
    ids = np.array([0x18EA21F9, 0x0CF00400], np.uint64)
    assert np.asarray(j1939_pgn(ids)).tolist() == [0xEA00, 0xF004]
