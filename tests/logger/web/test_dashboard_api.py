"""The dashboard's routes over HTTP, on a service with a token: the page and its code are served
without it (they hold no data), every API route and the live stream want it, the page works in
chromium when given ``?token=`` once; bad input to ``/api/live`` is a 4xx with the channel's
codes; the live stream pushes the rows and samples the simulated vehicle sends."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import httpx
import pytest
from starlette.applications import Starlette

from logger.core.command import INT64_MAX
from logger.core.config import HttpConfig
from logger.web import dashboard
from logger.web.live import Live
from tests.support.browser import DemoService, chromium_or_skip, demo_service

TOKEN = "dashboard-test-token"
TOKEN_ENV = "SDVLOG_TEST_DASHBOARD_TOKEN"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
MAX_MS = INT64_MAX // 1_000_000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoService]:
    os.environ[TOKEN_ENV] = TOKEN
    try:
        with demo_service(tmp_path_factory.mktemp("dashboard-api"), TOKEN_ENV) as service:
            yield service
    finally:
        del os.environ[TOKEN_ENV]


def test_the_page_and_its_code_need_no_token_the_data_does(demo: DemoService) -> None:
    page = httpx.get(demo.url + "/")
    assert page.status_code == 200 and "/static/main.js" in page.text
    assert "/vendor/uPlot.iife.min.js" in page.text and "missing-uplot" not in page.text
    assert httpx.get(demo.url + "/static/main.js").status_code == 200
    assert httpx.get(demo.url + "/vendor/uPlot.iife.min.js").status_code == 200
    for path in ("/api/exchanges", "/api/live?command=sync-0-1"):
        assert httpx.get(demo.url + path).status_code == 401
    assert httpx.get(demo.url + "/api/exchanges", headers=AUTH).status_code == 200


@pytest.mark.parametrize(
    "path", ["/static/../app.py", "/static/%2e%2e/app.py", "/static/nope.js", "/vendor/x.js"]
)
def test_files_outside_the_dashboard_are_not_served(demo: DemoService, path: str) -> None:
    got = httpx.get(demo.url + path)  # "..": the client asks for /app.py, which wants the token
    assert got.status_code in (401, 404)
    if "nope" in path or "x.js" in path:  # a dashboard route that found nothing says so in JSON
        assert "message" in got.json()


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({}, "command= is required"),
        ({"command": "sync-5-1"}, "before start"),
        ({"command": "sync-0-1;out=intervals;where=EngineSpeed>1"}, "out=intervals"),
        ({"command": "sync-0-1;nonsense=1"}, "unknown selector"),
        ({"command": "exchange=nope;sync-0-1"}, "no exchange named"),
        ({"command": "sync-0-1", "sig": "EngineSped"}, "EngineSpeed"),
        ({"command": "sync-0-1", "sig": ",".join(f"S{i}" for i in range(17))}, "at most 16"),
    ],
)
def test_live_refuses_bad_input_with_a_4xx(
    demo: DemoService, params: dict[str, str], says: str
) -> None:
    got = httpx.get(demo.url + "/api/live", params=params, headers=AUTH)
    assert got.status_code == 400, got.text
    body = got.json()
    assert set(body) == {"disk", "memory", "message"} and says in body["message"]


def test_live_pushes_what_the_vehicle_sends(demo: DemoService) -> None:
    since = int(demo.history[1] * 1000) + 1
    params = {"command": f"exchange=can;sync-{since}-{MAX_MS};id=0x100", "sig": "VehicleSpeed"}
    rows = samples = 0
    with (
        demo.driving(20.0),
        httpx.stream("GET", demo.url + "/api/live", params=params, headers=AUTH, timeout=30) as got,
    ):
        assert got.headers["content-type"].startswith("text/event-stream")
        kind = ""
        for line in got.iter_lines():
            if line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:") and kind == "data":
                data = json.loads(line[5:])
                assert all(r["id"] == 0x100 and r["ts"] >= since * 1e6 for r in data["rows"])
                rows += len(data["rows"])
                samples += len(data["signals"].get("VehicleSpeed", {}).get("ts", []))
                if rows >= 20 and samples >= 10:
                    break
    assert rows >= 20 and samples >= 10


def test_the_page_works_with_a_token_given_once(demo: DemoService) -> None:
    path = chromium_or_skip()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(path))
        page = browser.new_page(bypass_csp=True)  # its state is read with expressions
        page.goto(f"{demo.url}/?token={TOKEN}&panels=EngineSpeed")
        page.wait_for_function("window.sdvlog && window.sdvlog.ready", timeout=30_000)
        assert "token" not in page.url  # kept in sessionStorage, not in links
        assert page.evaluate("window.sdvlog.seriesLoads") > 0
        assert page.evaluate("window.sdvlog.errors") == []
        browser.close()


def test_without_the_plotting_library_the_page_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(dashboard, "REPO", tmp_path)  # a checkout without node_modules
    with caplog.at_level(logging.WARNING, logger="logger.web.dashboard"):
        routes = dashboard.dashboard_routes(cast(Live, None), HttpConfig())
    assert "uPlot" in caplog.text and "tools/setup.sh" in caplog.text

    async def get_both() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=Starlette(routes=routes))
        async with httpx.AsyncClient(transport=transport, base_url="http://dash") as client:
            return await client.get("/"), await client.get("/vendor/uPlot.iife.min.js")

    page, missing = asyncio.run(get_both())
    assert page.status_code == 200 and 'id="missing-uplot"' in page.text
    assert "tools/setup.sh" in page.text and "/vendor/uPlot" not in page.text
    assert missing.status_code == 404 and "setup.sh" in missing.json()["message"]
