"""The HTTP API as an ASGI application (Starlette): the channel's grammar at ``/api/query`` in
Arrow, JSON, CSV or Parquet, the exchanges, health and Prometheus metrics. Bad input is a 4xx
with the channel's codes and a message, never a 500. With a token, every route wants
``Authorization: Bearer <token>`` (compared in constant time)."""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from logger.core.config import HttpConfig
from logger.core.errors import Code, QueryError, SdvLoggerError
from logger.query.answer import END_MARK
from logger.query.channel import MAX_COMMAND, split_exchange
from logger.query.client import parse_end
from logger.web.answer_formats import FORMATS, End, format_for
from logger.web.dashboard import dashboard_routes, is_public
from logger.web.downloads import export_bytes, export_suffixes, signals_info
from logger.web.limits import answer_within
from logger.web.live import Live, exchanges_info
from logger.web.metrics import prometheus_text
from logger.web.openapi import OPENAPI, docs_page
from logger.web.problems import problem, query_problem

if TYPE_CHECKING:
    from logger.web.sql_route import SqlSlots

__all__ = ["make_app"]

_OK = (Code.OK, Code.NONE)


class _Token(BaseHTTPMiddleware):
    def __init__(self, app: Any, token: str) -> None:
        super().__init__(app)
        self._want = f"Bearer {token}".encode()

    async def dispatch(
        self, request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        if is_public(request.scope["path"]):  # the dashboard's page and code: no data
            return await call_next(request)
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, self._want):
            return problem(401, Code.BAD_COMMAND, "a bearer token is required (Authorization)")
        return await call_next(request)


def make_app(live: Live, cfg: HttpConfig, token: str | None = None) -> Starlette:
    """The API over ``live`` (the running service)."""

    @functools.cache
    def sql_slots() -> SqlSlots:
        # the SQL and plot routes load DuckDB's and Arrow's compute code on their first use, so
        # that a service nobody asks keeps its memory
        from logger.web.sql_route import SQL_AT_ONCE, SqlSlots  # noqa: PLC0415

        return SqlSlots(SQL_AT_ONCE)

    async def query(request: Request) -> Response:
        command = request.query_params.get("command")
        if not command:
            return problem(400, Code.BAD_COMMAND, "command= is required, e.g. sync-0-9999;limit=10")
        if len(command) > MAX_COMMAND:
            return problem(400, Code.BAD_COMMAND, f"command longer than {MAX_COMMAND} characters")
        fmt = format_for(request.query_params.get("format"), request.headers.get("accept"))
        if fmt is None:
            return problem(400, Code.BAD_COMMAND, f"format= must be one of {', '.join(FORMATS)}")
        name, text = split_exchange(command)
        name = request.query_params.get("exchange", name)
        prefix = f"exchange={name};" if name is not None else ""
        try:
            frames = await run_in_threadpool(
                answer_within, live.queries.reply, prefix, text, cfg.max_rows
            )
        except QueryError as exc:
            return problem(413, exc.disk, str(exc))
        first = await run_in_threadpool(next, frames, None)
        if first is None or first[: len(END_MARK)] == END_MARK:
            disk, memory, message = parse_end(first) if first else (Code.NONE, Code.NONE, None)
            if disk not in _OK or memory not in _OK:
                status = 503 if Code.NOT_READY in (disk, memory) else 400
                body = {"disk": int(disk), "memory": int(memory), "message": message}
                return JSONResponse(body, status_code=status)
        end = End()
        rest = chain([first] if first is not None else [], frames)
        return StreamingResponse(
            fmt.encode(rest, end),
            media_type=fmt.media_type,
            headers={"X-Sdvlog-Row-Limit": str(cfg.max_rows)},
        )

    async def signals(_request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(signals_info, live))

    async def export(request: Request) -> Response:
        command = request.query_params.get("command")
        suffix = request.query_params.get("format", "blf").lower()
        if not command:
            return problem(400, Code.BAD_COMMAND, "command= is required, e.g. sync-0-9999")
        if suffix not in export_suffixes():
            known = ", ".join(export_suffixes())
            return problem(400, Code.BAD_COMMAND, f"format= must be one of {known}")
        name, text = split_exchange(command)
        name = request.query_params.get("exchange", name)
        prefix = f"exchange={name};" if name is not None else ""
        try:
            frames = await run_in_threadpool(
                answer_within, live.queries.reply, prefix, text, cfg.max_rows
            )
        except QueryError as exc:
            return problem(413, exc.disk, str(exc))
        try:
            data, media = await run_in_threadpool(export_bytes, frames, suffix)
        except QueryError as exc:
            status = 404 if exc.disk == exc.memory == Code.NONE else 400
            return query_problem(status, exc)
        except SdvLoggerError as exc:
            return problem(400, Code.BAD_COMMAND, str(exc))
        disposition = f'attachment; filename="sdvlog-export.{suffix}"'
        return Response(data, media_type=media, headers={"Content-Disposition": disposition})

    async def plot_series(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            from logger.web.plots import series_answer  # noqa: PLC0415 - pyarrow.compute

            body = await run_in_threadpool(series_answer, params, live.queries.reply, cfg.max_rows)
        except QueryError as exc:
            return query_problem(400, exc)
        return JSONResponse(body)

    async def sql(request: Request) -> Response:
        from logger.web.sql_route import MAX_BODY  # noqa: PLC0415 - see sql_slots

        fmt = format_for(request.query_params.get("format"), request.headers.get("accept"))
        if fmt is None:
            return problem(400, Code.BAD_COMMAND, f"format= must be one of {', '.join(FORMATS)}")
        raw = bytearray()
        async for piece in request.stream():
            raw += piece
            if len(raw) > MAX_BODY:
                return problem(413, Code.BAD_COMMAND, f"the body is over {MAX_BODY} bytes")
        try:
            body = json.loads(bytes(raw))
        except (ValueError, RecursionError) as exc:
            return problem(400, Code.BAD_COMMAND, f"the body is not JSON: {exc}")
        try:
            frames, cut = await run_in_threadpool(sql_slots().run, live, body, cfg.max_rows)
        except QueryError as exc:
            return query_problem(429 if exc.disk == Code.TOO_FREQUENT else 400, exc)
        return StreamingResponse(
            fmt.encode(iter(frames), End()),
            media_type=fmt.media_type,
            headers={"X-Sdvlog-Truncated": "true" if cut else "false"},
        )

    async def exchanges(_request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(exchanges_info, live))

    async def health(_request: Request) -> Response:
        stats = await run_in_threadpool(live.stats)
        return Response(json.dumps(stats, default=str), media_type="application/json")

    async def metrics(_request: Request) -> Response:
        stats = await run_in_threadpool(live.stats)
        text = prometheus_text(stats, frozenset(live.exchanges))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def openapi(_request: Request) -> Response:
        return JSONResponse(OPENAPI)

    async def docs(_request: Request) -> Response:
        return HTMLResponse(docs_page())

    middleware = [Middleware(_Token, token=token)] if token else []
    routes = [
        Route("/api/query", query, methods=["GET"]),
        Route("/api/exchanges", exchanges, methods=["GET"]),
        Route("/api/signals", signals, methods=["GET"]),
        Route("/api/series", plot_series, methods=["GET"]),
        Route("/api/sql", sql, methods=["POST"]),
        Route("/api/export", export, methods=["GET"]),
        Route("/api/health", health, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/docs", docs, methods=["GET"]),
    ]
    routes += dashboard_routes(live, cfg)
    return Starlette(routes=routes, middleware=middleware)
