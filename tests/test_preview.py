"""The live preview of `brief watch --serve` in headless Chromium: the page changes after a save."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
BRIEF_BIN = os.path.join(os.path.dirname(sys.executable), "brief")


def test_preview_page_updates_after_a_save(project):
    playwright = pytest.importorskip("playwright.sync_api")
    path = project.write("p.brief", 'brief p {\n  canvas 320 x 240\n  component sky {\n    prompt "summer park"\n  }\n'
                                    '  component kite {\n    prompt "a red kite"\n    region box 50% 10% 90% 50%\n  }\n}\n')
    proc = subprocess.Popen([BRIEF_BIN, "watch", str(path), "--serve", "0", "--cache", str(project.root / "c")],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        deadline = time.time() + 60
        while port is None and time.time() < deadline:
            line = proc.stderr.readline()
            m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
            port = int(m.group(1)) if m else None
        assert port, "the preview server did not start"
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.wait_for_function("document.body.dataset.seq >= 1", timeout=60000)
            first_src = page.get_attribute("img", "src")
            assert page.locator("h2").first.inner_text() == "p"
            path.write_text(path.read_text().replace("a red kite", "a blue kite"))
            page.wait_for_function("document.body.dataset.seq >= 2", timeout=60000)
            assert page.get_attribute("img", "src") != first_src
            assert page.locator("svg.changed rect").count() >= 1  # the kite's region is highlighted
            page.check("#hl")
            page.uncheck("#hl")
            assert page.locator("svg.changed").first.evaluate("s => s.style.display") == "none"
            path.write_text(path.read_text().replace("canvas 320 x 240", "canvas 320000 x 240"))
            page.wait_for_function("!document.getElementById('diag').hidden", timeout=60000)
            assert "out of range" in page.locator("#diag").inner_text()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
