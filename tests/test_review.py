"""The review app (issue 14): in headless Chromium the grid shows every variant × output of the last
build with its state; approving one from the page writes brief.approvals and flips `brief status`;
changing the brief after approval makes `status` name the output; the app answers only its loopback
host, and refuses a decision posted as a cross-site form."""

from __future__ import annotations

import http.client
import io
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from brief.runtime.build import Options, build_file, compile_file
from brief.runtime.live.approvals import load
from brief.runtime.live.review import ReviewServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BRIEF = '''brief p {{
  canvas 160 x 120
  matrix tone {{
    warm "warm light"
    cool "cool light"
  }}
  component sky {{
    prompt "{{tone}}, {sky}"
  }}
  output square 100 x 100 crop
  output wide 200 x 100 fit
}}
'''


def status(path, cwd):
    return subprocess.run([sys.executable, "-m", "brief.cli", "status", str(path)], cwd=cwd, capture_output=True,
                          text=True)


def post(port: int, body: bytes, kind: str, origin: str | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": kind, "Host": f"127.0.0.1:{port}", **({"Origin": origin} if origin else {})}
    conn.request("POST", "/api/decide", body=body, headers=headers)
    return conn.getresponse().status


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_review_grid_approve_and_status(project):
    playwright = pytest.importorskip("playwright.sync_api")
    path = project.write("p.brief", BRIEF.format(sky="clouds"))
    options = Options(cache=project.root / "cache", out=project.root / "out")
    build_file(path, options)
    app = ReviewServer(path, lambda: compile_file(path, options).variants, project.root / "out", 0)
    app.start()
    try:
        assert app.layer("p[tone=warm]", "square", "9", False) is None  # only the files a stack lists
        body = b'{"variant": "p[tone=warm]", "output": "square", "decision": "approve"}'
        assert post(app.port, body, "text/plain") == 403  # what a cross-site form could send
        assert post(app.port, body, "application/json", origin="http://evil.example") == 403
        assert not (project.root / "brief.approvals").exists()
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                "--no-first-run", "--disable-sync"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{app.port}/")
            page.wait_for_function("document.body.dataset.loaded == 4", timeout=30000)
            tiles = page.locator(".tile")
            assert tiles.count() == 4  # 2 variants × 2 outputs
            assert {t.get_attribute("data-state") for t in tiles.all()} == {"unapproved"}
            page.wait_for_function(
                "[...document.querySelectorAll('.tile img')].every(i => i.complete && i.naturalWidth)")
            page.locator('.tile[data-variant="p[tone=warm]"][data-output="square"]').click()
            page.wait_for_function("document.querySelectorAll('img.layer').length == 1 &&"  # its stack: the scene
                                   " document.querySelector('img.layer').complete", timeout=30000)
            page.uncheck('input.lay[data-j="0"]')  # a layer toggled off
            assert "display: none" in page.get_attribute('img.layer[data-j="0"]', "style")
            page.fill("#note", "looks right")
            page.click("#approve")
            page.wait_for_function(
                "document.querySelector('.tile[data-variant=\"p[tone=warm]\"][data-output=\"square\"]')"
                ".dataset.state == 'approved'", timeout=30000)
            page.click('#filters button[data-f="pending"]')
            assert page.locator(".tile").count() == 3
            entry = load(project.root / "brief.approvals")["p[tone=warm] / square"]
            assert entry["decision"] == "approve" and entry["note"] == "looks right"
            run = status(path, project.root)
            assert run.returncode == 1 and "approved   p[tone=warm] / square" in run.stdout

            project.write("p.brief", BRIEF.format(sky="storm clouds"))  # a new version, built
            build_file(path, options)
            run = status(path, project.root)
            assert run.returncode == 1 and "changed    p[tone=warm] / square" in run.stdout, run.stdout
            page.reload()
            page.wait_for_function("document.body.dataset.loaded == 4", timeout=30000)
            page.locator('.tile[data-variant="p[tone=warm]"][data-output="square"]').click()
            page.wait_for_function("['was', 'heat'].every(id => { const i = document.getElementById(id);"
                                   " return i && i.complete && i.naturalWidth == 100; })", timeout=30000)
            page.fill("#slide", "20")  # the before/after slider moves the cut
            assert "80%" in page.get_attribute("#was", "style")
            browser.close()
    finally:
        app.stop()
    heat = Image.open(io.BytesIO(app.difference("p[tone=warm]", "square")))
    assert np.asarray(heat)[..., 3].max() > 0  # the new version differs from the approved one somewhere


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_the_watch_preview_shows_every_output_and_the_last_good_render_when_broken(project):
    from types import SimpleNamespace

    from brief.runtime.live.serve import PreviewServer

    playwright = pytest.importorskip("playwright.sync_api")
    path = project.write("p.brief", BRIEF.format(sky="clouds"))
    built = build_file(path, Options(cache=project.root / "cache", out=project.root / "out"))
    server = PreviewServer(0)
    server.start()
    try:
        server.publish(SimpleNamespace(error="", built=built))
        server.publish(SimpleNamespace(error="p.brief:8:5: unknown setting `promt`\n  help: Did you mean `prompt`?",
                                       built=[]))
        with playwright.sync_playwright() as pw:  # a page opened while the brief is broken
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{server.port}/")
            page.wait_for_function("document.body.dataset.seq >= 2", timeout=30000)
            assert "help: Did you mean `prompt`?" in page.inner_text("#diag")
            page.wait_for_function("[...document.querySelectorAll('figure img')].length == 4 && [...document"
                                   ".querySelectorAll('figure img')].every(i => i.complete && i.naturalWidth)",
                                   timeout=30000)  # 2 variants × (square, wide): the last good render
            captions = page.locator("figcaption").all_inner_texts()
            assert sorted(c.strip() for c in captions) == ["square", "square", "wide", "wide"]
            browser.close()
    finally:
        server.stop()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_candidates_side_by_side_and_chosen_in_the_app(project):
    playwright = pytest.importorskip("playwright.sync_api")
    path = project.write("p.brief", BRIEF.format(sky="clouds"))
    options = Options(cache=project.root / "cache", out=project.root / "out")
    build_file(path, options)
    res = subprocess.run([sys.executable, "-m", "brief.cli", "explore", str(path), "sky", "--seeds", "3", "--cache",
                          str(project.root / "cache")], cwd=project.root, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    app = ReviewServer(path, lambda: compile_file(path, options).variants, project.root / "out", 0)
    app.start()
    try:
        with playwright.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{app.port}/")
            page.wait_for_function("document.querySelectorAll('.pick img').length == 3 && [...document"
                                   ".querySelectorAll('.pick img')].every(i => i.complete && i.naturalWidth)",
                                   timeout=30000)
            page.click('button.choose[data-seed="3"]')
            page.wait_for_function("document.getElementById('summary').textContent.includes('seed 3')",
                                   timeout=30000)
            browser.close()
    finally:
        app.stop()
    assert "  component sky {\n    seed 3\n" in path.read_text()
    (built, _) = build_file(path, options)  # the chosen candidate's pixels are in the cache
    assert not [k for k in built.run.ran if built.graph.nodes[k]["label"] == "component sky"]
