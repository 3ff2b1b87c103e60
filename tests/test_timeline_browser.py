"""The timeline page in a real headless Chromium: it renders without a console error, every
lane and the highlighted events are on screen, hovering an event shows its record, and a
screenshot is saved (``TESTBED_SCREENSHOTS=DIR`` saves them there too: ``timeline.png``, the
top of the page, and ``timeline-race.png``, the columns around the freed device;
docs/exploration.md shows the copies).

Skipped, with the reason, where Chromium or playwright is not installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


@pytest.mark.long
def test_the_page_shows_the_race_in_chromium(tmp_path: Path) -> None:
    proc = run_cli("run", "--tracker", "buggy", "--run-dir", str(tmp_path), "--json")
    assert proc.returncode == 1, proc.stderr
    page_path = Path(json.loads(proc.stdout)["timeline"])
    problems: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(page_path.as_uri())
            lanes = page.locator("th[data-lane]").all_inner_texts()
            assert {"host2 audit", "host2 evacuate", "host1 build"} <= set(lanes)
            why = page.locator("p.why")
            assert why.is_visible() and "vm1 was in neither the instance list" in why.inner_text()

            free = page.locator("#timeline span.ev.free")
            free.scroll_into_view_if_needed()
            assert free.is_visible() and "0000:81:00.0" in free.inner_text()
            assert page.locator("#timeline span.ev.check.mark").count() == 1
            assert page.locator("#timeline td.lock").count() > 0  # lock-held spans shaded
            assert page.locator("#timeline td.dead").count() > 0  # host1 down after its kill

            free.hover()
            tip = page.locator("#tip")
            assert tip.is_visible() and '"kind": "clean_usage"' in tip.inner_text()

            page.mouse.move(0, 0)
            page.evaluate("window.scrollTo(0, 0)")
            page.screenshot(path=str(tmp_path / "timeline.png"))
            page.locator("p.why a").click()  # "show it": the table scrolls to the free
            page.mouse.move(0, 0)
            page.screenshot(path=str(tmp_path / "timeline-race.png"))
            for name in ("timeline.png", "timeline-race.png"):
                assert (tmp_path / name).stat().st_size > 10_000
                if os.environ.get("TESTBED_SCREENSHOTS"):
                    shutil.copyfile(tmp_path / name, Path(os.environ["TESTBED_SCREENSHOTS"]) / name)
        finally:
            browser.close()
    assert problems == []
    assert all(url.startswith("file://") for url in requests), requests  # nothing fetched
