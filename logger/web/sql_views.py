"""What the SQL engine shows of one live table: a view over its files (a pyarrow dataset, decrypted
by us) and its rows still in memory, with one schema for both.

The schema a view shows:

- the store's tie-break column (``_tie``) is left out (``ORDER BY ts`` orders rows; rows of equal
  time keep no particular order);
- time columns are int64 nanoseconds whatever unit the files store them in (Parquet timestamps
  are read as ``timestamp[ns]`` by the dataset and turned into integers by ``epoch_ns`` in the
  view), as every other answer of the project gives them;
- dictionary columns show their values;
- a column some parts lack is NULL there (the schemas of the oldest file, the newest file and the
  memory are unified).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from logger.core.errors import Code, EncryptionError, QueryError
from logger.store.crypto import read_error
from logger.store.layout import TIE_COLUMN
from logger.store.split import to_ns

log = logging.getLogger(__name__)

_READ_ERRORS = (OSError, pa.ArrowException, EncryptionError)


@dataclass(frozen=True)
class LiveTable:
    """One table of one exchange as a query sees it at one instant.

    - ``view``: the SQL name, ``<exchange>_<table>`` (``can_frames``, ``raw_raw``,
      ``can_EngineData``); DuckDB matches names without regard to case.
    - ``files``: the table's durable Parquet files (kept from retention by the caller while the
      query runs), oldest first.
    - ``memory``: the rows not yet in ``files`` (batches being written, the ring), encoded by the
      exchange's plugin; ``None`` or an empty table when there are none. With no file and no
      memory schema there is no view; pass ``schema.empty_table()`` to have an empty one.
    - ``decryption``: ``pyarrow.parquet.FileDecryptionProperties`` for encrypted stores
      (``StoreCrypto.decryption_properties()``), or ``None``.
    """

    view: str
    files: Sequence[Path]
    memory: pa.Table | None = None
    decryption: Any | None = None


class SqlError(QueryError):
    """A SQL query cannot be answered (BAD_COMMAND unless a stored file cannot be read)."""

    def __init__(self, message: str, code: Code = Code.BAD_COMMAND) -> None:
        super().__init__(message, code, code)


@dataclass(frozen=True)
class ViewSource:
    """The Arrow objects behind one view and the SELECT that joins them."""

    view: str
    files: ds.Dataset | None
    memory: pa.Table | None
    select_files: str
    select_memory: str


def quote(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def _plain_type(type_: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(type_):
        return pa.int64()
    if pa.types.is_dictionary(type_):
        return _plain_type(type_.value_type)
    return type_


def _visible(schema: pa.Schema) -> pa.Schema:
    """``schema`` as the view shows it: no tie column, times as int64, dictionaries decoded."""
    fields = [f.with_type(_plain_type(f.type)) for f in schema if f.name != TIE_COLUMN]
    return pa.schema(fields)


def _file_schema(path: Path, decryption: Any | None) -> pa.Schema:
    try:
        return pq.read_schema(path, decryption_properties=decryption)
    except _READ_ERRORS as exc:
        error = read_error(path, exc, keyed=decryption is not None)
        raise SqlError(str(error), Code.FILE_DECODE) from exc


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly the columns and types of ``schema`` (missing ones all null)."""
    columns: list[pa.ChunkedArray | pa.Array] = []
    for field in schema:
        if field.name in table.column_names:
            column = to_ns(table.column(field.name))
            columns.append(column if column.type == field.type else column.cast(field.type))
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    return pa.Table.from_arrays(columns, schema=schema)


def view_source(table: LiveTable, index: int) -> ViewSource | None:
    """The Arrow objects and SELECTs of one view; ``None`` when it has no schema at all."""
    files = [Path(p) for p in table.files]
    file_schemas = [
        _file_schema(p, table.decryption) for p in dict.fromkeys(files[:1] + files[-1:])
    ]
    memory = table.memory
    parts = [_visible(s) for s in file_schemas]
    if memory is not None and memory.num_columns:
        parts.append(_visible(memory.schema))
    if not parts:
        log.debug("view %s: no file and no memory schema, left out", table.view)
        return None
    try:
        schema = pa.unify_schemas(parts, promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SqlError(
            f"view {table.view}: its files and memory have schemas that do not agree: {exc}",
            Code.FILE_DECODE,
        ) from exc
    times = {f.name for s in file_schemas for f in s if pa.types.is_timestamp(f.type)}
    dataset = None
    if files:
        stored = pa.schema(
            [f.with_type(pa.timestamp("ns", tz="UTC")) if f.name in times else f for f in schema]
        )
        options = ds.ParquetFragmentScanOptions(decryption_properties=table.decryption)
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=options)
        dataset = ds.FileSystemDataset.from_paths(
            [str(p) for p in files], schema=stored, format=fmt, filesystem=pa.fs.LocalFileSystem()
        )
    items = [
        f"epoch_ns({quote(f.name)}) AS {quote(f.name)}" if f.name in times else quote(f.name)
        for f in schema
    ]
    kept = memory if memory is not None and memory.num_rows else None
    if kept is None and dataset is None:  # a schema but no rows anywhere: an empty view
        kept = schema.empty_table()
    return ViewSource(
        view=table.view,
        files=dataset,
        memory=None if kept is None else _conform(kept, schema),
        select_files=f"SELECT {', '.join(items)} FROM {quote(f'__sdvlog_files_{index}')}",
        select_memory=f"SELECT * FROM {quote(f'__sdvlog_memory_{index}')}",
    )


def view_sql(source: ViewSource) -> str:
    """``CREATE VIEW`` for ``source`` (its registered objects must be in place)."""
    selects = []
    if source.files is not None:
        selects.append(source.select_files)
    if source.memory is not None:
        selects.append(source.select_memory)
    return f"CREATE VIEW {quote(source.view)} AS " + " UNION ALL ".join(selects)


def register_names(index: int) -> tuple[str, str]:
    """The names the files and the memory of view ``index`` are registered under."""
    return f"__sdvlog_files_{index}", f"__sdvlog_memory_{index}"


def check_names(tables: Sequence[LiveTable]) -> None:
    seen: dict[str, str] = {}
    for table in tables:
        key = table.view.lower()
        if not table.view or table.view.startswith("__sdvlog"):
            raise SqlError(f"bad view name {table.view!r}")
        if key in seen:
            raise SqlError(f"two views named {seen[key]!r} and {table.view!r}")
        seen[key] = table.view
