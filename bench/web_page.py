"""``python -m bench web_page``: time from opening the dashboard to its first plot drawn, in
Debian's chromium (Playwright), on the demo vehicle's store (the tests' demo service: a minute
of simulated history through gateway, broker and exchange).

The page sets ``performance.mark('sdvlog-first-plot')`` in the frame after its first plot is
drawn; the figure is that mark's time since the navigation started, median of several fresh
pages. Beside it, its peers: the ``/api/series`` request that plot needs, alone, and the
page's ``DOMContentLoaded`` (HTML and scripts, no data). Target: first plot at most 1 s.
"""

from __future__ import annotations

import logging
import statistics
import time
from pathlib import Path

import httpx

from bench.common import scratch_dir
from bench.report import Report
from tests.support.browser import chromium_or_skip, demo_service

log = logging.getLogger(__name__)

RUNS_FULL, RUNS_QUICK = 9, 3
_FIRST_PLOT = "performance.getEntriesByName('sdvlog-first-plot').length > 0"


def measure(directory: Path, runs: int) -> dict[str, list[float]]:
    """Seconds per run: first plot, the series request alone, DOMContentLoaded."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - a dev dependency

    out: dict[str, list[float]] = {"first_plot": [], "series": [], "dom": []}
    with demo_service(directory) as demo, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium_or_skip()))
        try:
            for _ in range(runs):
                page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
                page.goto(demo.url + "/?panels=EngineSpeed,VehicleSpeed")
                page.wait_for_function(_FIRST_PLOT, timeout=30_000)
                first = page.evaluate(
                    "performance.getEntriesByName('sdvlog-first-plot')[0].startTime"
                )
                dom = page.evaluate(
                    "performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd"
                )
                params = page.evaluate("window.sdvlog.seriesRequest")
                page.close()
                started = time.perf_counter()
                httpx.get(f"{demo.url}/api/series", params=params, timeout=30).raise_for_status()
                out["series"].append(time.perf_counter() - started)
                out["first_plot"].append(first / 1000)
                out["dom"].append(dom / 1000)
        finally:
            browser.close()
    return out


def run(quick: bool, *, profile: bool = False, keep: bool = False) -> Report:
    report = Report("web_page", quick, profiled=profile)
    runs = RUNS_QUICK if quick else RUNS_FULL
    with scratch_dir(keep) as scratch:
        times = measure(scratch, runs)
    first = statistics.median(times["first_plot"])
    report.context.update({"runs": runs, "store": "demo vehicle, 60 s of simulated history"})
    table = report.table(
        f"opening the dashboard in chromium, median of {runs}", "what", "ms", "first plot / it"
    )
    table.add("first plot drawn (from navigation start)", first * 1000, 1.0)
    for key, name in (
        ("series", "peer: the /api/series request alone"),
        ("dom", "peer: the page's DOMContentLoaded"),
    ):
        value = statistics.median(times[key])
        table.add(name, value * 1000, first / value if value else None)
    report.target("time to the first plot", first, "<=", 1.0, "s")
    return report
