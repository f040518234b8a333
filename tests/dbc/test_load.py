"""dbc.load: every cantools format, strict then lenient, and clear errors for broken files."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import pytest

from dbc.load import DbcError, database_identity, load_database
from logger.core.errors import SdvLoggerError
from tests.support.dbc_reference import DATA

DEMO = Path(__file__).resolve().parents[2] / "dbc" / "examples" / "demo.dbc"
FAILURES = DATA / "dbc" / "cantools_load_failures"

#: file → the line cantools' complaint points at (stated, or found from the name it quotes).
EXPECTED_LINES = {
    "chrysler_cusw.dbc": "BSM_LEFT",
    "mazda_2017.dbc": "BO_ 1275 2017_5",
    "tesla_can.dbc": "VAL_ 568 UI_mapSpeedLimit",
    "toyota_2017_ref_pt.dbc": "BDB1F01_14",
}


def test_demo_loads_strictly_without_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        db = load_database(DEMO)
    assert len(db.messages) > 5 and not caplog.records


def test_lenient_fallback_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    path = DATA / "dbc" / "matching" / "hyundai_i30_2014.dbc"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with caplog.at_level(logging.WARNING, logger="dbc.load"):
        db = load_database(path)
    assert db.get_message_by_name("EMS2")
    assert len(caplog.records) == 1 and "strict=False" in caplog.records[0].getMessage()


@pytest.mark.parametrize("name", sorted(EXPECTED_LINES))
def test_unloadable_files_name_file_and_line(name: str) -> None:
    path = FAILURES / name
    if not path.is_file():
        pytest.skip(f"{path} not present (real DBCs cantools cannot load)")
    with pytest.raises(DbcError) as info:
        load_database(path)
    err = info.value
    assert isinstance(err, SdvLoggerError)
    assert err.__cause__ is not None
    assert str(path) in str(err) and err.file == path
    assert err.line is not None
    line = path.read_text(encoding="utf-8", errors="replace").splitlines()[err.line - 1]
    assert EXPECTED_LINES[name].split()[-1] in line
    assert f":{err.line}:" in str(err)


def test_missing_and_non_can_files(tmp_path: Path) -> None:
    with pytest.raises(DbcError, match="no such file"):
        load_database(tmp_path / "nope.dbc")
    junk = tmp_path / "junk.dbc"
    junk.write_text("this is not a DBC\n")
    with pytest.raises(DbcError) as info:
        load_database(junk)
    assert info.value.file == junk


@pytest.mark.parametrize("fmt", ["kcd", "sym", "arxml"])
def test_other_formats(tmp_path: Path, fmt: str) -> None:
    db = load_database(DEMO)
    path = tmp_path / f"demo.{fmt}"
    if fmt == "kcd":
        path.write_text(db.as_kcd_string())
    elif fmt == "sym":
        path.write_text(db.as_sym_string())
    else:
        pytest.importorskip("cantools.database.can.formats.arxml")
        if not hasattr(db, "as_arxml_string"):
            pytest.skip("this cantools cannot write ARXML")
        path.write_text(db.as_arxml_string())
    again = load_database(path)
    assert {m.name for m in again.messages} == {m.name for m in db.messages}


def test_identity_is_name_and_sha256() -> None:
    ident = database_identity(DEMO)
    assert ident.sha256 == hashlib.sha256(DEMO.read_bytes()).hexdigest()
    assert ident.name == "demo" or ident.name
    assert database_identity(DEMO, load_database(DEMO)) == ident
