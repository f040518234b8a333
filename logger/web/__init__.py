"""The HTTP API: the channel's answers, the exchanges, health and metrics over HTTP (Starlette
under uvicorn, in the service's process)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.web.app import make_app
    from logger.web.series import m4
    from logger.web.server import HttpServer, read_token
    from logger.web.sql import LiveTable, SqlError, run_sql

__all__ = ["HttpServer", "LiveTable", "SqlError", "m4", "make_app", "read_token", "run_sql"]

__getattr__ = lazy_exports(
    __name__,
    {
        "HttpServer": "logger.web.server",
        "read_token": "logger.web.server",
        "make_app": "logger.web.app",
        "m4": "logger.web.series",
        "LiveTable": "logger.web.sql",
        "SqlError": "logger.web.sql",
        "run_sql": "logger.web.sql",
    },
)
