"""dbc.schema: Arrow types per signal follow cantools' decoded types; metadata and nullability."""

from __future__ import annotations

import json
from pathlib import Path

import cantools
import pyarrow as pa
import pytest
from cantools.database.can import Database

from dbc.load import load_database
from dbc.schema import is_j1939, message_schema, signal_type
from tests.support.dbc_reference import DATA

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"

TYPES_DBC = """VERSION ""
NS_ :
BS_:
BU_: A
BO_ 100 Types: 8 A
 SG_ Bit : 0|1@1+ (1,0) [0|1] "" A
 SG_ BitS : 1|1@1- (1,0) [0|0] "" A
 SG_ U4 : 2|4@1+ (1,0) [0|15] "" A
 SG_ Off : 8|8@1+ (1,-40) [-40|215] "degC" A
 SG_ Big : 16|8@1+ (1,300) [0|0] "" A
 SG_ Scaled : 24|8@1+ (0.5,0) [0|0] "" A
 SG_ NegScale : 32|8@1+ (-2,0) [0|0] "" A
 SG_ F32 : 32|32@1- (1,0) [0|0] "" A
 SG_ Wide : 0|64@1+ (1,0) [0|0] "" A
 SG_ WideS : 0|64@1- (2,1) [0|0] "" A
SIG_VALTYPE_ 100 F32 : 1;
CM_ SG_ 100 Off "Coolant";
VAL_ 100 U4 0 "Off" 1 "On";
"""


@pytest.fixture(scope="module")
def types_db() -> Database:
    db = cantools.database.load_string(TYPES_DBC, strict=False)
    assert isinstance(db, Database)
    return db


@pytest.mark.parametrize(
    ("name", "arrow"),
    [
        ("Bit", pa.bool_()),
        ("BitS", pa.int8()),
        ("U4", pa.uint8()),
        ("Off", pa.int16()),
        ("Big", pa.uint16()),
        ("Scaled", pa.float64()),
        ("NegScale", pa.int16()),
        ("F32", pa.float32()),
        ("Wide", pa.uint64()),
        ("WideS", pa.float64()),
    ],
)
def test_signal_types(types_db: Database, name: str, arrow: pa.DataType) -> None:
    sig = types_db.get_message_by_name("Types").get_signal_by_name(name)
    assert signal_type(sig).arrow == arrow


def test_schema_columns_and_metadata(types_db: Database) -> None:
    schema = message_schema(types_db.get_message_by_name("Types"))
    assert schema.names[:2] == ["ts", "bus"]
    assert schema.field("ts").type == pa.int64() and schema.field("bus").type == pa.string()
    meta = schema.field("Off").metadata
    assert meta[b"unit"] == b"degC" and meta[b"comment"] == b"Coolant"
    assert meta[b"minimum"] == b"-40" and meta[b"maximum"] == b"215"
    assert json.loads(schema.field("U4").metadata[b"choices"]) == {"0": "Off", "1": "On"}
    assert not any(f.nullable for f in schema)
    assert schema.metadata[b"message"] == b"Types"


def test_demo_multiplexed_signals_are_nullable() -> None:
    diag = message_schema(load_database(DEMO).get_message_by_name("EcuDiagnostics"))
    assert not diag.field("DiagPage").nullable
    assert all(f.nullable for f in diag if f.name not in {"ts", "bus", "DiagPage"})


def test_j1939_messages_have_a_source_address() -> None:
    path = DATA / "dbc" / "matching" / "CSS-Electronics-SAE-J1939-DEMO.dbc"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    db = load_database(path)
    for message in db.messages:
        assert is_j1939(message)
        schema = message_schema(message)
        assert schema.names[2] == "source_address"
        assert schema.field("source_address").type == pa.uint8()
    assert not any(is_j1939(m) for m in load_database(DEMO).messages)
