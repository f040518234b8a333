"""The HTTP API and the dashboard (issue 11); :mod:`logger.web.sql` answers ``POST /api/sql``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from logger.core.exports import lazy_exports

if TYPE_CHECKING:
    from logger.web.sql import (
        LiveTable,
        SqlError,
        SqlMemoryError,
        SqlRefusedError,
        SqlTimeoutError,
        run_sql,
        truncated,
    )

__all__ = [
    "LiveTable",
    "SqlError",
    "SqlMemoryError",
    "SqlRefusedError",
    "SqlTimeoutError",
    "run_sql",
    "truncated",
]

__getattr__ = lazy_exports(__name__, dict.fromkeys(__all__, "logger.web.sql"))
