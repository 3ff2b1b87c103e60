"""The timeline of a losing run on Nova's own code, in a real headless Chromium: its why names
the server and the lists Nova's audit read, and its events are Nova's object calls and lock use.
``TESTBED_SCREENSHOTS=DIR`` keeps the screenshot (``timeline-nova.png``, shown in docs/nova.md).
Skipped, with the reason, where nova, Chromium or playwright is not installed."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from helpers import run_cli

pytest.importorskip("nova.version", reason="the nova system needs: pip install '.[nova]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium installed")


def test_the_nova_race_reads_as_nova_s_calls(tmp_path: Path) -> None:
    out = run_cli(
        "run", "--set", "cluster.system=nova", "--no-fix", "1896463",
        "--run-dir", str(tmp_path), "--json",
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    page_path = Path(json.loads(out.stdout)["timeline"])
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        args = ["--no-sandbox", "--disable-gpu"]
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.goto(page_path.as_uri())
            why = page.locator("p.why").inner_text()
            assert "vm1 was in neither the instance list" in why, why
            assert "host2 evacuate set vm1's host to host2" in why, why
            text = page.locator("body").inner_text()
            for call in (
                "InstanceList.get_by_host_and_node",
                "Instance.save",
                "Migration.save",
                "MigrationList.get_in_progress_and_error",
            ):
                assert call in text, call
            assert "clean_usage FREES" in text
            assert page.locator("#timeline td.lock").count() > 0  # compute_resources held
            page.mouse.move(0, 0)
            shot = tmp_path / "timeline-nova.png"
            page.screenshot(path=str(shot))
            assert shot.stat().st_size > 10_000
            if os.environ.get("TESTBED_SCREENSHOTS"):
                shutil.copyfile(shot, Path(os.environ["TESTBED_SCREENSHOTS"]) / shot.name)
        finally:
            browser.close()
    assert problems == []
