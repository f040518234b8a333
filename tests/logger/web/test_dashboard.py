"""The dashboard in headless Debian chromium (Playwright) over a live service on the demo vehicle:
the page loads clean, plots what the store holds, zooms, draws where= bands where the interval
query says, follows live frames, and exports a file python-can reads. Screenshots of the main
views are saved under pytest's tmp dir, ``dashboard-screenshots/`` (each path is logged: see them
with ``-o log_cli=true --log-cli-level=INFO``)."""

from __future__ import annotations

import logging
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import can
import httpx
import pytest

from tests.support.browser import DemoService, chromium_or_skip, demo_service

pytest.importorskip("playwright")
from playwright.sync_api import Browser, Page, sync_playwright

log = logging.getLogger(__name__)
WAIT_MS = 30_000
WHERE = "EngineSpeed>2000"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    chromium_or_skip()
    with demo_service(tmp_path_factory.mktemp("dashboard")) as service:
        yield service


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    path = chromium_or_skip()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(path))
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.getbasetemp() / "dashboard-screenshots"
    where.mkdir(exist_ok=True)
    return where


class Opened:
    def __init__(self, page: Page) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def state(self, expression: str) -> Any:
        return self.page.evaluate(expression)


def open_page(browser: Browser, url: str) -> Opened:
    # the tests read the page's state with expressions, which its Content-Security-Policy forbids
    page = browser.new_page(
        viewport={"width": 1400, "height": 1000}, accept_downloads=True, bypass_csp=True
    )
    opened = Opened(page)
    page.goto(url)
    page.wait_for_function("window.sdvlog && window.sdvlog.ready", timeout=WAIT_MS)
    return opened


def shot(page: Page, shots: Path, name: str) -> None:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    log.info("screenshot: %s", path)


def test_page_loads_with_no_console_errors(
    demo: DemoService, browser: Browser, shots: Path
) -> None:
    opened = open_page(browser, demo.url + "/")
    page = opened.page
    page.wait_for_function("document.querySelectorAll('#trace .row').length > 0")
    assert page.locator("#missing-uplot").count() == 0
    # virtualised: thousands of frames held, only the visible rows in the DOM
    assert "5,000 frames" in page.inner_text("#trace-count")
    assert page.locator("#trace .row").count() < 40
    page.locator("#trace-scroll").evaluate("el => { el.scrollTop = el.scrollHeight; }")
    page.wait_for_function(  # the next page, read as the view reached the end
        "parseInt(document.querySelector('#trace-count').textContent.replace(/,/g, '')) > 9000"
    )
    assert page.locator("#trace .row").count() < 40
    page.wait_for_function(
        "[...document.querySelectorAll('#trace .row span:last-child')].some(s => s.textContent.includes('rpm'))"
    )
    health = page.inner_text("#health")
    assert re.search(r"ring fill\s+[\d.]+ % \(\d+ of 5000\)", health), health
    assert re.search(r"flush lag\s+[\d.]+ s;", health) and "disk free" in health, health
    assert "keeps 100000 files at most" in health and "bus can0" in health, health
    shot(page, shots, "overview")
    assert opened.errors == []
    page.close()


def test_plot_shows_the_stored_values(demo: DemoService, browser: Browser) -> None:
    opened = open_page(browser, demo.url + "/?panels=EngineSpeed,VehicleSpeed;Gear")
    page = opened.page
    page.wait_for_function("window.sdvlog.seriesLoads > 0")
    got = opened.state("window.sdvlog.series")
    request = opened.state("window.sdvlog.seriesRequest")
    want = httpx.get(f"{demo.url}/api/series", params=request, timeout=30).json()["signals"]
    assert set(got) == {"EngineSpeed", "VehicleSpeed", "Gear"}
    for sig in got:
        assert got[sig] == want[sig] and len(got[sig]["values"]) > 10, sig
    assert page.locator(".panel canvas").count() == 2
    assert opened.errors == []
    page.close()


def test_zoom_changes_the_window_and_the_url(demo: DemoService, browser: Browser) -> None:
    opened = open_page(browser, demo.url + "/?panels=EngineSpeed")
    page = opened.page
    page.wait_for_function("window.sdvlog.seriesLoads > 0")
    before = opened.state("window.sdvlog.window")
    loads = opened.state("window.sdvlog.seriesLoads")
    over = page.locator(".panel .u-over").first
    box = over.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.3, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, y, steps=5)
    page.mouse.up()
    page.wait_for_function(f"window.sdvlog.seriesLoads > {loads}")
    after = opened.state("window.sdvlog.window")
    span = before["to"] - before["from"]
    assert after["to"] - after["from"] < span * 0.3
    assert before["from"] < after["from"] < after["to"] < before["to"]
    assert f"from={int(after['from'])}" in page.url and "preset" not in page.url
    request = opened.state("window.sdvlog.seriesRequest")
    assert int(request["start"]) == int(after["from"])  # the M4 points of the new window only
    page.close()


def test_where_band_is_drawn_where_the_interval_query_says(
    demo: DemoService, browser: Browser, shots: Path
) -> None:
    opened = open_page(browser, demo.url + "/?panels=EngineSpeed;VehicleSpeed")
    page = opened.page
    page.fill("#where", WHERE)
    page.press("#where", "Enter")
    page.wait_for_function("window.sdvlog.intervals.length > 0")
    window = opened.state("window.sdvlog.window")
    command = f"exchange=can;sync-{int(window['from'])}-{int(window['to']) + 1};where={WHERE};out=intervals"
    want = httpx.get(
        f"{demo.url}/api/query", params={"command": command, "format": "json"}, timeout=30
    ).json()["rows"]
    got = opened.state("window.sdvlog.intervals")
    assert [(r["start"], r["end"]) for r in got] == [(r["start"], r["end"]) for r in want]
    page.wait_for_function("window.sdvlog.drawn.bands.length > 0")
    bands = opened.state("window.sdvlog.drawn.bands")
    assert {(b["start"], b["end"]) for b in bands} <= {
        (r["start"] / 1e9, r["end"] / 1e9) for r in want
    }
    assert all(b["x1"] >= b["x0"] for b in bands)
    assert page.locator("#where-list li").count() == len(want)
    page.click("#where-next")
    page.wait_for_function("document.querySelector('#where-list li.current') !== null")
    shot(page, shots, "where-bands")
    assert opened.errors == []
    page.close()


def test_live_mode_shows_new_frames(demo: DemoService, browser: Browser, shots: Path) -> None:
    opened = open_page(browser, demo.url + "/?panels=EngineSpeed&preset=1m")
    page = opened.page
    page.check("#live")
    page.wait_for_function("window.sdvlog.live.events > 0")
    stored_until = demo.history[1] * 1e9
    with demo.driving(20.0):
        page.wait_for_function(
            f"window.sdvlog.live.lastRowTs > {stored_until} && window.sdvlog.live.samples > 0",
            timeout=WAIT_MS,
        )
        page.wait_for_function("document.querySelectorAll('#trace .row').length > 0")
    rows = opened.state("window.sdvlog.live.rows")
    assert rows > 0
    shot(page, shots, "live")
    assert "live=1" in page.url
    assert opened.errors == []
    page.close()


@pytest.mark.parametrize("fmt", ["blf", "asc"])
def test_export_downloads_a_file_python_can_reads(
    demo: DemoService, browser: Browser, tmp_path: Path, fmt: str
) -> None:
    opened = open_page(browser, demo.url + "/?panels=EngineSpeed&preset=1m")
    page = opened.page
    page.select_option("#export-format", fmt)
    with page.expect_download(timeout=WAIT_MS) as info:
        page.click("#export")
    path = tmp_path / f"window.{fmt}"
    info.value.save_as(str(path))
    frames = list(can.LogReader(str(path)))
    window = opened.state("window.sdvlog.window")
    command = f"exchange=can;sync-{int(window['from'])}-{int(window['to']) + 1}"
    want = httpx.get(
        f"{demo.url}/api/query", params={"command": command, "format": "json"}, timeout=30
    ).json()["rows"]
    assert len(frames) == len(want) > 0
    assert [f.arbitration_id for f in frames] == [r["id"] for r in want]
    page.close()


def test_cursors_a_b_a_clicked_frame_and_a_shared_view(demo: DemoService, browser: Browser) -> None:
    opened = open_page(browser, demo.url + "/?panels=EngineSpeed")
    page = opened.page
    page.wait_for_function("window.sdvlog.seriesLoads > 0")
    box = page.locator(".panel .u-over").first.bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    for key, at in (("a", 0.3), ("b", 0.6)):
        page.mouse.move(box["x"] + box["width"] * at, y)
        page.keyboard.press(key)
    page.wait_for_function("window.sdvlog.cursors && window.sdvlog.cursors.dt > 0")
    assert "Δt" in page.inner_text("#delta-t")
    assert page.locator("[data-delta='EngineSpeed']").inner_text() != "\u2013"  # a number
    page.mouse.click(box["x"] + box["width"] * 0.45, y)
    page.wait_for_function("window.sdvlog.picked !== undefined")
    picked = opened.state("window.sdvlog.picked")
    assert picked["frame"]["id"] == 0x100 and "EngineSpeed" in picked["values"]
    assert page.locator("#frame").is_visible()
    page.click("#share")
    shared = opened.state("window.sdvlog.shareUrl")
    assert "a=" in shared and "b=" in shared
    again = open_page(browser, shared)
    assert again.state("window.sdvlog.state") == opened.state("window.sdvlog.state")
    assert again.state("window.sdvlog.window") == opened.state("window.sdvlog.window")
    assert opened.errors == [] and again.errors == []
    again.page.close()
    page.close()


def test_names_from_the_link_or_the_broker_are_shown_never_run(
    demo: DemoService, browser: Browser
) -> None:
    topic = 'x/"><img src=x onerror="window.pwned=1">'
    bus = "<img src=x onerror=window.pwned=2>"
    url = demo.url + "/?" + urllib.parse.urlencode({"topic": topic, "bus": bus})
    opened = open_page(browser, url)
    page = opened.page
    assert page.evaluate("window.pwned") is None
    options = page.eval_on_selector_all("#topic option, #bus option", "os => os.map(o => o.text)")
    assert topic in options and bus in options
    policy = httpx.get(demo.url + "/", timeout=30).headers["content-security-policy"]
    assert "script-src 'self'" in policy
    page.close()


def test_the_page_works_under_its_content_security_policy(
    demo: DemoService, browser: Browser
) -> None:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})  # the policy enforced
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(demo.url + "/?panels=EngineSpeed")
    page.locator(".uplot canvas").first.wait_for(timeout=WAIT_MS)  # a plot was drawn
    page.locator("#trace .row").first.wait_for(timeout=WAIT_MS)
    assert errors == []
    page.close()
