"""What a stored file says about itself is true: every footer key and value is UTF-8 text (for
every stream: raw, CANP frames and signal tables, SPI, quarantine), and every field's metadata
matches the Arrow type the field is stored as, for every time unit."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dbc.schema import message_schema
from logger.capture.ledger import LEDGER_KEY, decode_ledger
from logger.core.errors import StoreError
from logger.store import ParquetStore
from logger.store.layout import TIE_COLUMN
from logger.streams.plugin import QUARANTINE
from tests.support.store import chunk, evenly, files_on_disk, make_store
from tests.support.streams import T0, Written, canp_store, raw_store, spi_store

UNITS = ("ns", "us", "ms")
EPOCH = re.compile(r"^(ns|us|ms|s) since the Unix epoch, UTC$")


def every_stream(directory: Path, unit: str) -> list[Written]:
    return [canp_store(directory, unit), raw_store(directory), spi_store(directory)]


def stored(written: list[Written]) -> list[tuple[Written, Path]]:
    return [(w, f.path) for w in written for t in w.store.tables() for f in w.store.files(t)]


@pytest.mark.parametrize("unit", UNITS)
def test_every_footer_key_and_value_is_utf8_text(tmp_path: Path, unit: str) -> None:
    written = every_stream(tmp_path, unit)
    tables = {(w.store.exchange, f_table) for w in written for f_table in w.store.tables()}
    assert {("raw", "raw"), ("can", "frames"), ("can", QUARANTINE), ("sig", "spi")} <= tables
    assert ("sig", QUARANTINE) in tables
    assert any(t.startswith("signals/message=") for _, t in tables)
    ledgers = 0
    for _, path in stored(written):
        kv = pq.read_metadata(path).metadata
        assert kv, path
        for key, value in kv.items():
            key.decode("utf-8")  # strict: raises on anything that is not UTF-8
            value.decode("utf-8")
        if LEDGER_KEY.encode() in kv:
            ledgers += 1
            mids, hashes = decode_ledger(kv[LEDGER_KEY.encode()])
            assert len(mids) == len(hashes) > 0
        pl.read_parquet(path)  # polars checks the footer's text (and refused the binary ledger)
    assert ledgers == sum(w.batches for w in written)  # in each batch's first file


def claimed_unit(field: pa.Field) -> str | None:
    """The time unit a field's ``unit`` metadata claims, None when it claims none."""
    text = (field.metadata or {}).get(b"unit", b"").decode()
    m = EPOCH.match(text)
    return m.group(1) if m else None


def type_unit(type_: pa.DataType) -> str:
    if pa.types.is_timestamp(type_):
        assert type_.tz == "UTC", type_
        return str(type_.unit)
    assert type_ == pa.int64(), type_
    return "ns"


@pytest.mark.parametrize("unit", UNITS)
def test_field_metadata_is_true_to_the_stored_types(tmp_path: Path, unit: str) -> None:
    written = every_stream(tmp_path, unit)
    checked: set[str] = set()
    for w, path in stored(written):
        schema = pq.read_schema(path)
        time_column = schema.metadata[b"sdvlog.time_column"].decode()
        for field in schema:
            if field.name == time_column:
                assert claimed_unit(field) == type_unit(field.type), (path, field)
                if w.plugin.name == "canp" and not path.is_relative_to(w.store.root / QUARANTINE):
                    assert type_unit(field.type) == unit  # CANP stores times in its unit
                else:
                    assert field.type == pa.int64()
            else:
                assert claimed_unit(field) is None, (path, field)
                assert not pa.types.is_timestamp(field.type), (path, field)
            if field.name == TIE_COLUMN:
                assert b"(time, _tie)" in field.metadata[b"doc"]
        table_name = schema.metadata[b"sdvlog.table"].decode()
        checked.add(table_name.split("=")[0])
        if table_name == "frames":
            frames = pq.read_table(path)
            assert frames["dlc"].to_pylist() == [len(d) for d in frames["data"].to_pylist()]
            assert max(frames["dlc"].to_pylist()) <= 64
            assert max(frames["id"].to_pylist()) <= 0x1FFFFFFF  # without flag bits
        if table_name.startswith("signals/message="):
            assert w.plugin.name == "canp"
            db = w.plugin.codec.db  # type: ignore[attr-defined]
            declared = message_schema(db.get_message_by_name(table_name.split("=")[1]))
            for want in declared:  # the DBC's description, as the DBC says it
                if want.name != time_column:
                    assert schema.field(want.name).metadata == want.metadata
        # What a read returns: int64 ns, and its metadata says so.
        [f] = [f for f in w.store.files(table_name) if f.path == path]
        back = w.store.read(f, time_column, 0, 2**63 - 1)
        assert back.schema.field(time_column).type == pa.int64()
        assert claimed_unit(back.schema.field(time_column)) == "ns"
    assert checked == {"frames", "signals/message", QUARANTINE, "raw", "spi"}


def test_metadata_that_is_not_utf8_text_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    store = make_store(tmp_path)
    with pytest.raises(StoreError, match=r"'sdvlog\.ledger' is not UTF-8 text"):
        store.write([chunk(evenly(T0, 10, 1000))], {"sdvlog.ledger": b"\x02\xff\x00\x01"})
    assert files_on_disk(tmp_path / "can") == set()
    # A str that cannot be UTF-8 (a file name of undecodable bytes) is kept, escaped.
    named = ParquetStore(store.cfg, "imported", {"sdvlog.source_file": "caf\udce9.asc"})
    named.recover()
    [f] = named.write([chunk(evenly(T0, 10, 1000))])
    assert named.read_metadata(f)[b"sdvlog.source_file"].decode("utf-8") == "caf\\udce9.asc"
