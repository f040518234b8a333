"""Answer tables as text: binary columns as hex for CSV and tables, as base64 in JSON; shared by
``sdvlog query`` and the HTTP API."""

from __future__ import annotations

import base64
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["csv_bytes", "json_rows", "printable"]


def _hex(chunk: pa.Array) -> pa.Array:
    return pa.array([None if v is None else v.hex() for v in chunk.to_pylist()], pa.string())


def printable(table: pa.Table) -> pa.Table:
    """Binary columns as hex so text formats can show them."""
    cols = [
        pa.chunked_array([_hex(c) for c in col.chunks], pa.string())
        if pa.types.is_binary(col.type) or pa.types.is_large_binary(col.type)
        else col
        for col in table.columns
    ]
    return pa.table(cols, names=table.column_names)


def csv_bytes(table: pa.Table, *, header: bool = True) -> bytes:
    """``table`` as CSV (UTF-8), binary columns in hex; nothing for a table without columns."""
    t = printable(table)
    if not t.num_columns:
        return b""
    buf = pa.BufferOutputStream()
    pacsv.write_csv(t, buf, pacsv.WriteOptions(include_header=header))
    return bytes(buf.getvalue().to_pybytes())


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """``table``'s rows as JSON-ready dicts, binary values in base64."""
    return [
        {k: base64.b64encode(v).decode() if isinstance(v, bytes) else v for k, v in row.items()}
        for row in table.to_pylist()
    ]
