"""``POST /api/sql``: a body ``{"sql": "...", "limit": n}`` answered by the read-only SQL engine
over the live views, in the same formats as ``/api/query``."""

from __future__ import annotations

from typing import Any

from logger.core.errors import Code, CommandError
from logger.query.answer import end_frame, to_ipc
from logger.streams.plugin import frame_slices
from logger.web.live import Live
from logger.web.sql import run_sql, truncated
from logger.web.sql_live import live_tables

__all__ = ["SQL_TIMEOUT_S", "sql_frames"]

SQL_TIMEOUT_S = 10.0
"""Longest one SQL query runs before it is interrupted (an error, code 5)."""
MAX_SQL = 65_536


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
    limit = body.get("limit", max_rows)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise CommandError(f"limit must be a non-negative integer, got {limit!r}")
    with live_tables(live) as tables:
        answer = run_sql(
            tables, body["sql"], row_limit=min(limit, max_rows), timeout_s=SQL_TIMEOUT_S, threads=1
        )
    frames = [to_ipc(t) for t in frame_slices(answer)]
    code = Code.OK if answer.num_rows else Code.NONE
    return [*frames, end_frame(code, code)], truncated(answer)
