"""The HTTP API's error answers: JSON ``{"disk": n, "memory": n, "message": "..."}`` in the
channel's codes, with a 4xx status."""

from __future__ import annotations

from starlette.responses import JSONResponse

from logger.core.errors import Code, QueryError

__all__ = ["problem", "query_problem"]


def problem(status: int, code: Code, message: str) -> JSONResponse:
    """A 4xx answer in the channel's terms (both codes ``code``)."""
    return JSONResponse(
        {"disk": int(code), "memory": int(code), "message": message}, status_code=status
    )


def query_problem(status: int, exc: QueryError) -> JSONResponse:
    """A 4xx answer carrying a :class:`QueryError`'s codes and message."""
    body = {"disk": int(exc.disk), "memory": int(exc.memory), "message": str(exc)}
    return JSONResponse(body, status_code=status)
