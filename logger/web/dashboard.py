"""The dashboard: ``GET /`` (one page of plain JavaScript modules under ``logger/web/static``, no
build step), its plotting library (uPlot, from the repository's ``node_modules``, installed by
``tools/setup.sh`` with ``npm ci``; never from the internet) and ``GET /api/live`` (Server-Sent
Events: :mod:`logger.web.live_feed`).

The page, its scripts and the library hold no data, so they are served without the token
(:data:`PUBLIC_PREFIXES`); the page then sends the token with every API request.
"""

from __future__ import annotations

import functools
import hashlib
import logging
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from logger.core.config import HttpConfig
from logger.core.errors import Code, QueryError, SdvLoggerError
from logger.web.live import Live
from logger.web.live_feed import open_feed, sse_events
from logger.web.problems import problem, query_problem

__all__ = ["PUBLIC_PREFIXES", "dashboard_routes", "is_public", "uplot_dir"]

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
REPO = Path(__file__).resolve().parents[2]
VENDOR_FILES = ("uPlot.iife.min.js", "uPlot.min.css")
PUBLIC_PREFIXES = ("/static/", "/vendor/")
"""Paths served without the token (besides ``/`` itself): the page's code, no data."""
_MEDIA = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".svg": "image/svg+xml",
}
_POLICY = {
    # the page's own files only: no inline script, nothing from elsewhere (data never runs)
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self' "
    "'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}
_INSTALL_HINT = "run `bash tools/setup.sh` (it runs `npm ci`) in the repository, then reload"


def is_public(path: str) -> bool:
    """Whether ``path`` is the dashboard's page or code, served without the token."""
    return path == "/" or path.startswith(PUBLIC_PREFIXES)


def uplot_dir() -> Path | None:
    """uPlot's ``dist`` directory in the repository's ``node_modules``, or None when absent."""
    dist = REPO / "node_modules" / "uplot" / "dist"
    return dist if all((dist / name).is_file() for name in VENDOR_FILES) else None


@functools.cache
def _page(with_uplot: bool) -> str:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    if with_uplot:
        vendor = (
            '<link rel="stylesheet" href="/vendor/uPlot.min.css">\n'
            '<script src="/vendor/uPlot.iife.min.js"></script>'
        )
    else:
        vendor = (
            '<div id="missing-uplot" class="banner error">The plotting library (uPlot) is not '
            f"installed, so no plot can be drawn: {_INSTALL_HINT}.</div>"
        )
    return page.replace("<!--vendor-->", vendor)


@functools.cache
def _read(path: Path) -> tuple[bytes, str]:
    """A file of the page, read once (they are small, and fixed while the service runs): its
    bytes and an entity tag."""
    data = path.read_bytes()
    return data, f'"{hashlib.sha256(data).hexdigest()[:20]}"'


def _file(path: Path, request: Request) -> Response:
    data, etag = _read(path)
    headers = {"ETag": etag, "Cache-Control": "no-cache", **_POLICY}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=_MEDIA[path.suffix], headers=headers)


def dashboard_routes(live: Live, cfg: HttpConfig) -> list[Route]:
    """The page, its files and the live stream over ``live``."""
    dist = uplot_dir()
    if dist is None:
        log.warning(
            "the dashboard's plotting library (uPlot) is missing from %s: %s",
            REPO / "node_modules",
            _INSTALL_HINT,
        )

    async def index(_request: Request) -> Response:
        return HTMLResponse(
            _page(dist is not None), headers={"Cache-Control": "no-cache", **_POLICY}
        )

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        path = (STATIC / name).resolve()
        if not path.is_relative_to(STATIC) or path.suffix not in _MEDIA or not path.is_file():
            return problem(404, Code.NONE, f"no dashboard file {name[:80]!r}")
        return _file(path, request)

    async def vendor(request: Request) -> Response:
        name = request.path_params["name"]
        if dist is None or name not in VENDOR_FILES:
            return problem(404, Code.NONE, f"{name[:80]!r} is not served: {_INSTALL_HINT}")
        return _file(dist / name, request)

    async def live_stream(request: Request) -> Response:
        params = dict(request.query_params)
        try:
            feed = open_feed(params, live.queries.reply)
            first: dict[str, Any] = await run_in_threadpool(feed.poll)
        except QueryError as exc:
            return query_problem(400, exc)
        except SdvLoggerError as exc:
            return problem(400, Code.BAD_COMMAND, str(exc))

        async def run() -> dict[str, Any]:
            found: dict[str, Any] = await run_in_threadpool(feed.poll)
            return found

        return StreamingResponse(
            sse_events(feed, live, first, run),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return [
        Route("/", index, methods=["GET"]),
        Route("/static/{name}", static, methods=["GET"]),
        Route("/vendor/{name}", vendor, methods=["GET"]),
        Route("/api/live", live_stream, methods=["GET"]),
    ]
