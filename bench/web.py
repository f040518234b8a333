"""``python -m bench web [--quick]``: the HTTP API against its peers, side by side in one run.

One ``sdvlog run`` (its HTTP API on loopback, its NNG channel) over one store with two exchanges
(:mod:`bench.web_stores`, cached between runs): ``drive``, the 10 M-frame signal store of
``bench signals``, and ``bench``, the 10 M-row RAW store of ``bench query`` (``--quick``: 1 M
each). Each figure is a route against a peer measured in the same run, taking turns run by run
(:mod:`bench.web_figures`):

1. ``GET /api/series``: 4 signals over the drive's full range at 2,000 points (M4), against the
   channel's signal query for the same 4 signals and range (``sig=A,B,C,D``, as ``bench
   signals`` asks). Targets: median at most 150 ms, and at most 1.0x the signal query's time.
2. ``GET /api/query``: the full range of the RAW rows as an Arrow stream over HTTP (httpx reading
   it batch by batch), against the same command over the channel. Target: at least 0.8x the
   channel's rows/s. Beside: the same request with its own ``limit=`` (streamed as read; without
   one the route holds the answer until it knows it is within ``max_rows``) and curl.
3. ``POST /api/sql``: a GROUP BY over the drive's 10 M frames, against DuckDB reading the same
   files itself. The route runs DuckDB on one thread (it leaves the other core to capture):
   the target, at least 0.9x DuckDB's speed, is judged against DuckDB on one thread; DuckDB on
   its default threads, and our engine (``run_sql``) on the default threads, are shown beside.

The page's time to its first plot is measured by another suite (``bench.web_page``).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import httpx

from bench.common import QuerySocket, ServiceProcess, query_url, scratch_dir
from bench.report import Report, Table
from bench.web_figures import (
    GROUP_BY,
    POINTS,
    SIGNALS,
    Runs,
    query_figure,
    series_figure,
    sql_figure,
)
from bench.web_stores import (
    DRIVE_EXCHANGE,
    RAW_EXCHANGE,
    WebStore,
    service_config,
    web_store,
)
from logger.store.layout import parse_name
from logger.web.sql_live import view_name
from tests.support.ports import free_port

log = logging.getLogger(__name__)

ROWS_FULL, ROWS_QUICK = 10_000_000, 1_000_000
RUNS_FULL, RUNS_QUICK = 15, 3
QUERY_RUNS_FULL, QUERY_RUNS_QUICK = 5, 2
SERIES_TARGET_MS = 150.0


def _frames_files(store_dir: Path) -> list[Path]:
    """The drive's ``frames`` files, oldest first (what its SQL view reads)."""
    table_dir = store_dir / DRIVE_EXCHANGE / "frames"
    return sorted(p for p in table_dir.rglob("*.parquet") if parse_name(p.name) is not None)


def _wait_http(base: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/api/health", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the HTTP API at {base} did not answer within {timeout_s:g} s")


def _add(table: Table, result: Runs, peer: Runs, rows: int) -> None:
    """A row: median, min and max seconds, rows/s and the speed ratio against ``peer``."""
    s = result.seconds
    ratio = peer.median / result.median
    table.add(result.what, len(s), result.median * 1000, min(s) * 1000, max(s) * 1000, rows / result.median, ratio)  # fmt: skip


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    rows = ROWS_QUICK if quick else ROWS_FULL
    runs = RUNS_QUICK if quick else RUNS_FULL
    query_runs = QUERY_RUNS_QUICK if quick else QUERY_RUNS_FULL
    report = Report("web", quick, profiled=profile)
    if profile:
        report.notes.append("--profile is not used by this benchmark")
    store = web_store(rows, rows)
    report.context.update(
        {
            "frames": rows,
            "raw_rows": rows,
            "store": str(store.dir),
            "store_cached": store.cached,
            "store_build_s": store.build_s,
            "cores": os.cpu_count(),
            "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
            "signals": ",".join(SIGNALS),
            "points": POINTS,
            "sql": GROUP_BY.format(source=view_name(DRIVE_EXCHANGE, "frames")),
        }
    )
    with scratch_dir(keep) as tmp:
        port, url = free_port(), query_url()
        config = tmp / "sdvlog.toml"
        config.write_text(service_config(store.dir, url, port, 4 * rows), encoding="utf-8")
        svc = ServiceProcess(config, tmp / "sdvlog.log", url)
        svc.start()
        try:
            report.context["service_ready_s"] = svc.wait_ready(timeout=600)
            base = f"http://127.0.0.1:{port}"
            _wait_http(base)
            with httpx.Client(base_url=base, timeout=600) as http, QuerySocket(url) as channel:
                _figures(report, http, channel, store, rows, runs, query_runs)
            report.context["service_peak_mib"] = svc.status().hwm / 2**20
        finally:
            svc.stop()
    report.context["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return report


def _figures(
    report: Report,
    http: httpx.Client,
    channel: QuerySocket,
    store: WebStore,
    rows: int,
    runs: int,
    query_runs: int,
) -> None:
    columns = ("way", "runs", "median ms", "min ms", "max ms", "rows/s", "speed vs peer")
    span = (store.first_ns // 1_000_000, -(-store.last_ns // 1_000_000))
    log.info("series ...")
    ours, peer, signal_rows, problems = series_figure(
        http, channel.sock, DRIVE_EXCHANGE, span, runs
    )
    hours = (store.last_ns - store.first_ns) / 3.6e12
    table = report.table(
        f"1. {len(SIGNALS)} signals ({', '.join(SIGNALS)}) over the full range ({hours:.1f} h, "
        f"{rows:,} frames) at {POINTS:,} points",
        *columns,
    )
    _add(table, ours, peer, signal_rows)
    _add(table, peer, peer, signal_rows)
    report.failures.extend(f"/api/series: {p}" for p in problems)
    report.target("/api/series, median", ours.median * 1000, "<=", SERIES_TARGET_MS, "ms")
    report.target("/api/series time / signal query's", ours.median / peer.median, "<=", 1.0, "x")

    log.info("query ...")
    ours, peer, *beside = query_figure(http, channel.sock, RAW_EXCHANGE, rows, query_runs)
    table = report.table(f"2. full range of {rows:,} RAW rows, Arrow stream", *columns)
    _add(table, ours, peer, rows)
    _add(table, peer, peer, rows)
    for way in beside:
        _add(table, way, peer, rows)
    report.target("/api/query rows/s / channel's", peer.median / ours.median, ">=", 0.8, "x")

    log.info("sql ...")
    files = _frames_files(store.dir)
    route, engine, one, default, new = sql_figure(
        http, view_name(DRIVE_EXCHANGE, "frames"), files, runs
    )
    table = report.table(
        f"3. GROUP BY bus, id over {rows:,} frames ({len(files)} files); speed vs DuckDB "
        "with the same threads",
        *columns,
    )
    _add(table, route, one, rows)
    _add(table, one, one, rows)
    _add(table, new, one, rows)
    _add(table, engine, default, rows)
    _add(table, default, default, rows)
    report.target("/api/sql speed / DuckDB's (1 thread each)", one.median / route.median, ">=", 0.9, "x")  # fmt: skip
    report.notes.append(
        f"/api/sql (1 thread) against DuckDB on its default threads: "
        f"{default.median / route.median:.2f}x; run_sql against it: "
        f"{default.median / engine.median:.2f}x"
    )
