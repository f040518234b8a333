"""The API described in OpenAPI 3 (``/openapi.json``) and as a page that needs nothing from the
internet (``/docs``)."""

from __future__ import annotations

import html
from typing import Any

__all__ = ["OPENAPI", "docs_page"]

_ERROR = {
    "description": "the channel's codes and a message",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "disk": {"type": "integer"},
                    "memory": {"type": "integer"},
                    "message": {"type": "string"},
                },
            }
        }
    },
}


def _param(name: str, text: str, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": text,
        "schema": {"type": "string"},
    }


_COMMAND = _param("command", "a command of the channel's grammar, e.g. sync-0-9999;limit=10", True)
_EXCHANGE = _param("exchange", "the exchange (default: the command's exchange= or the first)")


def _get(summary: str, params: list[dict[str, Any]], media: str) -> dict[str, Any]:
    return {
        "get": {
            "summary": summary,
            "parameters": params,
            "responses": {
                "200": {"description": "the answer", "content": {media: {}}},
                "4XX": _ERROR,
            },
        }
    }


OPENAPI: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "sdv-logger", "version": "1"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    "paths": {
        "/api/query": _get(
            "The rows a command answers, from files, batches being written and the ring",
            [_COMMAND, _EXCHANGE, _param("format", "arrow (default), json, csv or parquet")],
            "application/vnd.apache.arrow.stream",
        ),
        "/api/export": _get(
            "The frames a command answers as a CAN log file",
            [_COMMAND, _EXCHANGE, _param("format", "blf (default), asc, log, csv, mf4 or trc")],
            "application/octet-stream",
        ),
        "/api/series": _get(
            "Per signal, the M4 points (first, min, max, last per bucket) of a window, for plots; "
            "truncated says when the window holds more than max_rows samples of it",
            [
                _param("sig", "signals, comma-separated (Signal or Message.Signal)", True),
                _param("start", "window start, ms since the epoch (default 0)"),
                _param("end", "window end, ms, inclusive (default: everything)"),
                _param("points", "at most this many points per signal, 1..100000 (default 2000)"),
                _param("topic", "only samples of these MQTT topic filters (+, #), comma-separated"),
                _param("bus", "only samples of these buses, comma-separated"),
                _EXCHANGE,
            ],
            "application/json",
        ),
        "/api/sql": {
            "post": {
                "summary": "Read-only SQL (DuckDB) over the views <exchange>_<table>, live data "
                "included; at most limit rows, 10 s at most",
                "parameters": [_param("format", "arrow (default), json, csv or parquet")],
                "requestBody": {
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "sql": {"type": "string"},
                                    "limit": {"type": "integer"},
                                },
                                "required": ["sql"],
                            }
                        }
                    }
                },
                "responses": {"200": {"description": "the rows"}, "4XX": _ERROR},
            }
        },
        "/api/live": _get(
            "Server-Sent Events: the command's new rows (and the new samples of sig=) as the "
            "exchange takes them, in 'data' events {rows, signals: {name: {ts, values}}}; "
            "'end' once the command's end is past. Rows that arrive up to 2 s late are still sent",
            [
                _COMMAND,
                _param(
                    "sig", "signals whose new samples to push too, comma-separated (at most 16)"
                ),
                _EXCHANGE,
            ],
            "text/event-stream",
        ),
        "/api/exchanges": _get("Exchanges, their tables and databases", [], "application/json"),
        "/api/signals": _get(
            "Messages and signals of each exchange's database", [], "application/json"
        ),
        "/api/health": _get("The service's counters", [], "application/json"),
        "/metrics": _get("The service's counters for Prometheus", [], "text/plain"),
        "/": _get("The dashboard (one page; no token needed: it holds no data)", [], "text/html"),
        "/static/{name}": _get(
            "The dashboard's scripts and style (no token needed)",
            [{**_param("name", "a file name, e.g. main.js", True), "in": "path"}],
            "text/javascript",
        ),
        "/vendor/{name}": _get(
            "The plotting library (uPlot) from node_modules: uPlot.iife.min.js, uPlot.min.css",
            [{**_param("name", "uPlot.iife.min.js or uPlot.min.css", True), "in": "path"}],
            "text/javascript",
        ),
    },
}


def docs_page() -> str:
    """The routes and their parameters as one HTML page."""
    rows = []
    for path, item in OPENAPI["paths"].items():
        method, op = next(iter(item.items()))
        params = "".join(
            f"<li><code>{html.escape(p['name'])}</code>{' (required)' if p['required'] else ''}: "
            f"{html.escape(p['description'])}</li>"
            for p in op["parameters"]
        )
        rows.append(
            f"<h2>{method.upper()} <code>{html.escape(path)}</code></h2>"
            f"<p>{html.escape(op['summary'])}</p>"
            f"<ul>{params}</ul>"
        )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>sdv-logger API</title></head>"
        "<body><h1>sdv-logger HTTP API</h1><p>OpenAPI: <a href='/openapi.json'>/openapi.json</a>."
        " Errors are 4xx with JSON <code>{disk, memory, message}</code>.</p>"
        + "".join(rows)
        + "</body></html>"
    )
