"""Read-only SQL over live tables, answered by DuckDB (what ``POST /api/sql`` runs).

Each call opens its own in-memory DuckDB database, so no query sees another's state, and:

1. makes, per :class:`LiveTable` the statement names (all of them when it names anything else,
   such as a catalog table), the view ``<exchange>_<table>`` as the UNION ALL of its files and
   its memory table (:mod:`logger.web.sql_views` says what the view's columns are). DuckDB reads
   plain files itself, ``read_parquet`` over exactly the leased files; encrypted files go
   through a pyarrow dataset that we decrypt, and DuckDB never opens them;
2. locks the database before any view is made: ``allowed_paths`` = those plain files and
   ``allowed_directories`` = none, then ``enable_external_access = false`` (no other file, no
   URL, COPY, EXPORT, INSTALL or LOAD), Python replacement scans off, extension autoloading off,
   no spilling to disk, a memory limit, then ``lock_configuration = true`` (no SET, RESET or
   PRAGMA that changes one);
3. accepts exactly one statement, a ``SELECT`` (``DESCRIBE``, ``SHOW`` and ``SUMMARIZE`` are
   SELECTs to DuckDB) or an ``EXPLAIN``; everything else (CREATE, INSERT, COPY, ATTACH, CALL,
   CHECKPOINT, ...) is refused before it runs;
4. streams the answer in batches and stops after ``row_limit`` rows (or ``byte_limit`` bytes):
   the answer is cut there, not refused, and says so in its schema metadata
   (``sdvlog.sql.truncated`` = ``true``; :func:`truncated` reads it);
5. interrupts the query from a timer thread (``con.interrupt()``) once ``timeout_s`` has passed.

Every refusal and every failure is a :class:`SqlError` (a ``QueryError``, code ``BAD_COMMAND``,
or ``FILE_DECODE`` when a stored file cannot be read) whose message names the problem; the
refusals are :class:`SqlRefusedError`, a time-out :class:`SqlTimeoutError`, a query that needs
more than the memory limit :class:`SqlMemoryError`.

DuckDB is imported on the first query only.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from logger.core.errors import Code
from logger.web.sql_connect import Names, Spares, Watchdog, lock
from logger.web.sql_views import (
    LiveTable,
    SqlError,
    check_names,
    register_names,
    view_source,
    view_sql,
)

if TYPE_CHECKING:
    import duckdb

__all__ = [
    "LiveTable",
    "SqlError",
    "SqlMemoryError",
    "SqlRefusedError",
    "SqlTimeoutError",
    "run_sql",
    "truncated",
    "views_named",
]

log = logging.getLogger(__name__)

#: Schema metadata keys of an answer.
TRUNCATED_KEY = b"sdvlog.sql.truncated"
ROW_LIMIT_KEY = b"sdvlog.sql.row_limit"
DEFAULT_MEMORY_LIMIT = 512 << 20
_BATCH_ROWS = 65_536
_ALLOWED = frozenset({"SELECT", "EXPLAIN"})
_QUOTED = re.compile(r""""([^"]+)"|'([^']+)'""")
_AS_DIRECTORY = "/**/*.parquet"
_SPARES = Spares()
_FILE_HINTS = ("parquet", "decrypt", "no such file", "ioerror", "encrypted")


class SqlRefusedError(SqlError):
    """The SQL asks for something the engine does not allow (a write, a file, a setting, ...)."""


class SqlTimeoutError(SqlError):
    """The query ran past its time limit and was interrupted."""


class SqlMemoryError(SqlError):
    """The query needs more memory than its limit."""


def truncated(answer: pa.Table) -> bool:
    """Whether ``answer`` (from :func:`run_sql`) was cut at its row or byte limit."""
    return (answer.schema.metadata or {}).get(TRUNCATED_KEY) == b"true"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def _translate(exc: Exception, duck: Any, tables: Sequence[LiveTable]) -> SqlError:
    """A DuckDB error as the SqlError that names its problem (and views, not our names)."""
    text = _first_line(exc)
    for index, table in reversed(list(enumerate(tables))):  # _10 before _1
        for name, part in zip(register_names(index), ("files", "memory"), strict=True):
            text = text.replace(name, f"{table.view} ({part})")
    # a store file that could not be opened (gone or unreadable): DuckDB names a plain file (and
    # refuses to look for one that is gone as a directory); Arrow names an encrypted one
    leased = _leased_file_in(text, tables, encrypted=False)
    if leased is not None:
        return SqlError(f"a stored file cannot be read: {leased} (files): {text}", Code.FILE_DECODE)
    if isinstance(exc, duck.PermissionException):
        return SqlRefusedError(
            f"refused: {text}; a query reads only the views, never files, URLs or extensions"
        )
    leased = _leased_file_in(text, tables, encrypted=True)
    if leased is not None:
        return SqlError(f"a stored file cannot be read: {leased} (files): {text}", Code.FILE_DECODE)
    if isinstance(exc, duck.InvalidInputException) and "configuration has been locked" in text:
        return SqlRefusedError(f"refused: {text}; settings cannot be changed")
    if isinstance(exc, duck.OutOfMemoryException):
        return SqlMemoryError(f"the query needs more memory than its limit: {text}")
    if isinstance(exc, duck.ParserException | duck.BinderException | duck.CatalogException):
        return SqlError(f"bad SQL: {text}")
    lowered = text.lower()
    if isinstance(exc, duck.IOException) or any(h in lowered for h in _FILE_HINTS):
        return SqlError(f"a stored file cannot be read: {text}", Code.FILE_DECODE)
    return SqlError(f"the query failed: {text}")


def _leased_file_in(text: str, tables: Sequence[LiveTable], *, encrypted: bool) -> str | None:
    """The view one of whose plain (or encrypted) files ``text`` names (in double quotes, as
    DuckDB's errors name files, or single ones, as Arrow's do for the files we read; a file that
    is gone is looked for as a directory, ``<path>/**/*.parquet``)."""
    named = {(a or b).removesuffix(_AS_DIRECTORY) for a, b in _QUOTED.findall(text)}
    for table in tables:
        if (table.decryption is not None) != encrypted:
            continue
        if any(os.path.abspath(p) in named for p in table.files):
            return table.view
    return None


def views_named(sql: str) -> set[str] | None:
    """The lower-case names of the tables ``sql`` reads, or None when it reads anything else as
    well (a catalog table, a table function) or DuckDB cannot say (then every view is needed)."""
    import duckdb as duck  # noqa: PLC0415 - the service loads DuckDB on the first query only

    names = Names.of(duck, sql)
    return names or None


def _used(duck: Any, statement: Any, tables: Sequence[LiveTable]) -> list[int]:
    """Which of ``tables`` the statement names (all of them when it names anything else, such
    as a catalog table, or when DuckDB cannot say): making a view binds it, which reads its
    files' footers, so a query gets only the views it reads."""
    names = Names.of(duck, statement.query)
    by_name = {t.view.lower(): i for i, t in enumerate(tables)}
    if not names or not names <= by_name.keys():
        return list(range(len(tables)))
    return sorted(by_name[n] for n in names)


def _prepare(
    con: duckdb.DuckDBPyConnection, tables: Sequence[LiveTable], used: Sequence[int], union: bool
) -> None:
    """Register the used tables' Arrow objects, allow their plain files, lock the database,
    then make the views."""
    sources = [view_source(tables[i], i, union=union) for i in used]
    lock(con, [p for s in sources if s is not None for p in s.paths])
    for index, source in zip(used, sources, strict=True):
        if source is None:
            continue
        files_name, memory_name = register_names(index)
        if source.files is not None:
            con.register(files_name, source.files)
        if source.memory is not None:
            con.register(memory_name, source.memory)
        con.execute(view_sql(source))


def _statement(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    """The one statement of ``sql``, refused unless it only reads."""
    statements = con.extract_statements(sql)
    if not statements:
        raise SqlError("no SQL statement given")
    if len(statements) > 1:
        raise SqlRefusedError(f"refused: one statement per query, got {len(statements)}")
    statement = statements[0]
    kind = statement.type.name
    if kind not in _ALLOWED:
        shown = re.sub(r"_", " ", kind)
        raise SqlRefusedError(f"refused: a {shown} statement; only SELECT (and EXPLAIN) can run")
    return statement


def _collect(
    reader: pa.RecordBatchReader, row_limit: int, byte_limit: int | None, deadline: float
) -> tuple[list[pa.RecordBatch], bool]:
    """Batches up to the limits, and whether rows were left out."""
    batches: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in reader:
        if time.monotonic() > deadline:
            raise SqlTimeoutError("the query ran past its time limit")
        room = row_limit - rows
        if batch.num_rows > room or (byte_limit is not None and size + batch.nbytes > byte_limit):
            part = batch.slice(0, room)
            if byte_limit is not None:
                while room and size + part.nbytes > byte_limit:
                    room = min(room - 1, room * max(0, byte_limit - size) // max(1, part.nbytes))
                    part = batch.slice(0, room)
            batches.append(part)
            return batches, True
        batches.append(batch)
        rows += batch.num_rows
        size += batch.nbytes
    return batches, False


def _answer(
    batches: list[pa.RecordBatch], schema: pa.Schema, row_limit: int, cut: bool
) -> pa.Table:
    meta = dict(schema.metadata or {})
    meta[TRUNCATED_KEY] = b"true" if cut else b"false"
    meta[ROW_LIMIT_KEY] = str(row_limit).encode()
    return pa.Table.from_batches(batches, schema=schema).replace_schema_metadata(meta)


def run_sql(
    tables: Sequence[LiveTable],
    sql: str,
    *,
    row_limit: int,
    timeout_s: float,
    byte_limit: int | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    threads: int | None = None,
) -> pa.Table:
    """The answer of the read-only ``sql`` over one view per table, at most ``row_limit`` rows.

    Rows past ``row_limit`` (or past ``byte_limit`` bytes of Arrow data) are left out and
    the answer's schema metadata says so (:func:`truncated`). The query is interrupted after
    ``timeout_s`` seconds (:class:`SqlTimeoutError`); DuckDB uses at most ``memory_limit`` bytes
    for its own work (:class:`SqlMemoryError` past it) and ``threads`` threads (None: one per
    core). Raises :class:`SqlError` (module docstring) for anything it cannot answer.
    """
    if row_limit < 0 or timeout_s <= 0:
        raise SqlError(f"bad limits: row_limit={row_limit}, timeout_s={timeout_s}")
    check_names(tables)
    import duckdb as duck  # noqa: PLC0415 - the service loads DuckDB on the first query only

    started = time.monotonic()
    deadline = started + timeout_s
    limits = _Limits(row_limit, byte_limit, memory_limit, threads, timeout_s, deadline)
    found = _run(duck, tables, sql, limits)
    if found is None:  # a file between the oldest and the newest has another schema
        found = _run(duck, tables, sql, limits, union=True)
    assert found is not None  # with union, DuckDB merges the schemas by name
    answer, cut = found
    log.debug(
        "sql over %d views: %d rows%s in %.3f s",
        len(tables),
        answer.num_rows,
        " (cut)" if cut else "",
        time.monotonic() - started,
    )
    return answer


@dataclass(frozen=True)
class _Limits:
    rows: int
    bytes: int | None
    memory: int
    threads: int | None
    timeout_s: float
    deadline: float


def _run(
    duck: Any, tables: Sequence[LiveTable], sql: str, limits: _Limits, *, union: bool = False
) -> tuple[pa.Table, bool] | None:
    """One try at the answer, in a database of its own; None when, without ``union``, DuckDB
    found a plain file whose schema differs from the first one's (try again with it)."""
    timeout_s = limits.timeout_s
    left = limits.deadline - time.monotonic()
    if left <= 0:
        raise _timeout(timeout_s)
    con = _SPARES.take(duck, limits.threads, limits.memory)
    watchdog = Watchdog(con, left)
    try:
        try:
            statement = _statement(con, sql)
            _prepare(con, tables, _used(duck, statement, tables), union)
            relation = con.sql(statement)
            if relation is None:
                raise SqlError("the statement returns no rows")
            reader = relation.to_arrow_reader(min(_BATCH_ROWS, max(limits.rows, 1)))
            schema = reader.schema
            try:
                batches, cut = _collect(reader, limits.rows, limits.bytes, limits.deadline)
            finally:
                reader.close()
            return _answer(batches, schema, limits.rows, cut), cut
        except duck.Error as exc:
            if watchdog.fired.is_set():
                raise _timeout(timeout_s) from exc
            if not union and "schema mismatch" in str(exc):
                return None
            raise _translate(exc, duck, tables) from exc
        except SqlTimeoutError as exc:
            raise _timeout(timeout_s) from exc
    finally:
        watchdog.stop()
        _SPARES.done(con, duck, limits.threads, limits.memory)


def _timeout(timeout_s: float) -> SqlTimeoutError:
    return SqlTimeoutError(f"the query ran past its time limit of {timeout_s:g} s and was stopped")
