"""Make docs/dashboard.png: the dashboard on the demo vehicle (signal plots with a where= band,
the frame trace, the health panel) in Debian's chromium. Run from the repository:
``.venv/bin/python tools/dashboard_png.py``."""

from __future__ import annotations

import logging
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.support.browser import chromium_or_skip, demo_service  # noqa: E402

log = logging.getLogger("dashboard_png")
VIEW = (
    "/?panels=EngineSpeed,OutputShaftSpeed;VehicleSpeed,BrakePressure;Gear&where=EngineSpeed>2000"
)


def main() -> int:
    logging.basicConfig(level=logging.INFO)
    out = REPO / "docs" / "dashboard.png"
    with (
        tempfile.TemporaryDirectory() as tmp,
        demo_service(Path(tmp)) as demo,
        sync_playwright() as pw,
    ):
        browser = pw.chromium.launch(executable_path=str(chromium_or_skip()))
        page = browser.new_page(viewport={"width": 1500, "height": 1250}, bypass_csp=True)
        page.goto(demo.url + VIEW)
        page.wait_for_function(
            "window.sdvlog && window.sdvlog.ready && window.sdvlog.drawn.bands.length > 0"
        )
        page.wait_for_function(
            "[...document.querySelectorAll('#trace .row span:last-child')].some(s => s.textContent)"
        )
        page.screenshot(path=str(out))
        browser.close()
    log.info("wrote %s", out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
