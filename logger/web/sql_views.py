"""What the SQL engine shows of one live table: a view over its files and its rows still in memory,
with one schema for both.

The files are read one of two ways:

- plain (the table has no decryption properties): DuckDB reads them itself, ``read_parquet([...])``
  over exactly the leased files, which the engine then allows and no other path
  (:attr:`ViewSource.paths`, DuckDB's ``allowed_paths``; external access stays off);
- encrypted: through a pyarrow dataset that we decrypt, registered in DuckDB, which never opens
  these paths.

The schema a view shows:

- the store's tie-break column (``_tie``) is left out (``ORDER BY ts`` orders rows; rows of equal
  time keep no particular order);
- time columns are int64 nanoseconds whatever unit the files store them in (Parquet timestamps
  are read as ``timestamp[ns]`` by the dataset and turned into integers by ``epoch_ns`` in the
  view), as every other answer of the project gives them;
- dictionary columns show their values;
- a column some parts lack is NULL there (the schemas of the oldest file, the newest file and the
  memory are unified; DuckDB unifies every file's schema by name when the oldest and newest
  differ, or when asked to after a file in between did not match them).
"""

from __future__ import annotations

import logging
import os
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
    """What one view reads and the SELECTs of its parts: ``files`` (a dataset we decrypt) or
    ``paths`` (plain files DuckDB reads itself, to be allowed), and ``memory``; ``columns`` is
    the view's column list, in order."""

    view: str
    files: ds.Dataset | None
    paths: tuple[str, ...]
    memory: pa.Table | None
    select_files: str
    select_memory: str
    columns: str


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


def literal(text: str) -> str:
    """``text`` as a quoted SQL string."""
    return "'" + text.replace("'", "''") + "'"


def _time_items(names: Sequence[str], times: set[str]) -> str:
    return ", ".join(
        f"epoch_ns({quote(n)}) AS {quote(n)}" if n in times else quote(n) for n in names
    )


def view_source(table: LiveTable, index: int, *, union: bool = False) -> ViewSource | None:
    """The Arrow objects and SELECTs of one view; ``None`` when it has no schema at all.
    ``union``: plain files are read with their schemas unified by name even when the oldest
    and newest file agree."""
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
    paths: tuple[str, ...] = ()
    files_from = quote(f"__sdvlog_files_{index}")
    file_names = [f.name for f in schema if any(f.name in s.names for s in file_schemas)]
    if files and table.decryption is None:
        paths = tuple(os.path.abspath(p) for p in files)
        differ = any(not s.equals(file_schemas[0]) for s in file_schemas[1:])
        listed = ", ".join(literal(p) for p in paths)
        files_from = f"read_parquet([{listed}], union_by_name = {str(union or differ).lower()})"
    elif files:
        file_names = schema.names
        stored = pa.schema(
            [f.with_type(pa.timestamp("ns", tz="UTC")) if f.name in times else f for f in schema]
        )
        options = ds.ParquetFragmentScanOptions(decryption_properties=table.decryption)
        fmt = ds.ParquetFileFormat(default_fragment_scan_options=options)
        dataset = ds.FileSystemDataset.from_paths(
            [str(p) for p in files], schema=stored, format=fmt, filesystem=pa.fs.LocalFileSystem()
        )
    kept = memory if memory is not None and memory.num_rows else None
    if kept is None and not files:  # a schema but no rows anywhere: an empty view
        kept = schema.empty_table()
    return ViewSource(
        view=table.view,
        files=dataset,
        paths=paths,
        memory=None if kept is None else _conform(kept, schema),
        select_files=f"SELECT {_time_items(file_names, times)} FROM {files_from}",
        select_memory=f"SELECT * FROM {quote(f'__sdvlog_memory_{index}')}",
        columns=", ".join(quote(n) for n in schema.names),
    )


def view_sql(source: ViewSource) -> str:
    """``CREATE VIEW`` for ``source`` (its registered objects must be in place): the parts
    matched by column name (a column a part lacks is NULL there), in the view's column order."""
    selects = []
    if source.files is not None or source.paths:
        selects.append(source.select_files)
    if source.memory is not None:
        selects.append(source.select_memory)
    parts = " UNION ALL BY NAME ".join(f"({s})" for s in selects)
    return f"CREATE VIEW {quote(source.view)} AS SELECT {source.columns} FROM ({parts})"


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
