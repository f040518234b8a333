"""``POST /api/sql``: a body ``{"sql": "...", "limit": n}`` answered by the read-only SQL engine
over the live views, in the same formats as ``/api/query``."""

from __future__ import annotations

import threading
from typing import Any

from logger.core.errors import Code, CommandError, QueryError
from logger.query.answer import end_frame, to_ipc
from logger.streams.plugin import frame_slices
from logger.web.live import Live
from logger.web.sql import run_sql, truncated, views_named
from logger.web.sql_live import live_tables

__all__ = ["MAX_BODY", "SQL_AT_ONCE", "SQL_TIMEOUT_S", "SqlSlots", "sql_frames"]

SQL_TIMEOUT_S = 10.0
"""Longest one SQL query runs before it is interrupted (an error, code 5)."""
MAX_SQL = 65_536
MAX_BODY = MAX_SQL + 4096
"""The most bytes a ``/api/sql`` body may have."""
MAX_ANSWER_BYTES = 64 << 20
"""An SQL answer holds at most this many bytes of Arrow data (cut beyond, and it says so)."""
SQL_AT_ONCE = 2
"""SQL queries answered at once; more wait up to :data:`SQL_TIMEOUT_S` for a turn."""


class SqlSlots:
    """At most ``n`` SQL queries at once (each has its own DuckDB and memory share)."""

    def __init__(self, n: int) -> None:
        self._slots = threading.BoundedSemaphore(n)

    def run(self, live: Live, body: Any, max_rows: int) -> tuple[list[bytes], bool]:
        if not self._slots.acquire(timeout=SQL_TIMEOUT_S):
            raise QueryError("too many SQL queries at once; try again", Code.TOO_FREQUENT)
        try:
            return sql_frames(live, body, max_rows)
        finally:
            self._slots.release()


def sql_frames(live: Live, body: Any, max_rows: int) -> tuple[list[bytes], bool]:
    """The answer to ``body`` as the channel's frames (data, then the end frame) and whether it
    was cut at the row limit; raises :class:`~logger.core.errors.QueryError` for what cannot be
    answered (bad body, refused or bad SQL, a timeout)."""
    if (
        not isinstance(body, dict)
        or not isinstance(body.get("sql"), str)
        or not body["sql"].strip()
    ):
        raise CommandError('the body must be JSON {"sql": "SELECT ...", "limit": n}')
    if len(body["sql"]) > MAX_SQL:
        raise CommandError(f"sql longer than {MAX_SQL} characters")
    try:
        body["sql"].encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate (JSON's "\ud800") is no SQL text
        raise CommandError(f"sql is not valid Unicode text: {exc.reason} at {exc.start}") from exc
    limit = body.get("limit", max_rows)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise CommandError(f"limit must be a non-negative integer, got {limit!r}")
    with live_tables(live, views_named(body["sql"])) as tables:
        answer = run_sql(
            tables,
            body["sql"],
            row_limit=min(limit, max_rows),
            timeout_s=SQL_TIMEOUT_S,
            byte_limit=MAX_ANSWER_BYTES,
            threads=1,
        )
    frames = [to_ipc(t) for t in frame_slices(answer)]
    code = Code.OK if answer.num_rows else Code.NONE
    return [*frames, end_frame(code, code)], truncated(answer)
