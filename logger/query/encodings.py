"""Answer tables as text: binary columns as hex for CSV and tables, as base64 in JSON; shared by
``sdvlog query`` and the HTTP API."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

__all__ = ["csv_bytes", "json_rows", "printable"]


_HEX_DIGITS = np.frombuffer(b"0123456789abcdef", np.uint8)


def _hex(chunk: pa.Array) -> pa.Array:
    """A binary array as lower-case hex text, vectorised (nulls stay null)."""
    chunk = chunk.cast(pa.large_binary())
    offsets = np.frombuffer(chunk.buffers()[1], np.int64)[
        chunk.offset : chunk.offset + len(chunk) + 1
    ]
    data = chunk.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.empty(0, np.uint8)
    body = raw[offsets[0] : offsets[-1]]
    text = np.empty(body.size * 2, np.uint8)
    text[0::2] = _HEX_DIGITS[body >> 4]
    text[1::2] = _HEX_DIGITS[body & 15]
    hexed = pa.Array.from_buffers(
        pa.large_string(),
        len(chunk),
        [None, pa.py_buffer((offsets - offsets[0]) * 2), pa.py_buffer(text)],
    )
    if chunk.null_count:
        import pyarrow.compute as pc  # noqa: PLC0415 - loaded once binary nulls are shown

        hexed = pc.if_else(pc.is_valid(chunk), hexed, pa.scalar(None, pa.large_string()))
    return hexed


def printable(table: pa.Table) -> pa.Table:
    """Binary columns as hex so text formats can show them."""
    cols = [
        pa.chunked_array([_hex(c) for c in col.chunks], pa.large_string())
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
