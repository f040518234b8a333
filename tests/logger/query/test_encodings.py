"""Answer tables as text: binary columns in hex (vectorised) for CSV and tables."""

from __future__ import annotations

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from logger.query.encodings import csv_bytes, json_rows, printable


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.binary(max_size=12)), max_size=40), st.integers(0, 5))
def test_binary_columns_read_as_hex_with_nulls_kept(values: list[bytes | None], skip: int) -> None:
    column = pa.array(values, pa.binary()).slice(min(skip, len(values)))
    table = printable(pa.table({"payload": column, "n": pa.array(range(len(column)))}))
    want = [None if v is None else v.hex() for v in values[min(skip, len(values)) :]]
    assert table.column("payload").to_pylist() == want
    assert table.column("n").to_pylist() == list(range(len(column)))


def test_csv_and_json_show_binary_as_text() -> None:
    table = pa.table({"payload": pa.array([b"\x00\xab", None]), "key": [1, 2]})
    assert csv_bytes(table).decode().splitlines() == ['"payload","key"', '"00ab",1', ",2"]
    assert csv_bytes(table, header=False).decode().splitlines()[0] == '"00ab",1'
    assert json_rows(table) == [{"payload": "AKs=", "key": 1}, {"payload": None, "key": 2}]
