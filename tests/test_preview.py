"""The live preview of `brief watch --serve`: in headless Chromium the page changes after a save;
it answers only requests addressed to its loopback host (DNS rebinding); a port in use is one line."""

from __future__ import annotations

import base64
import http.client
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from brief.runtime.live.serve import PreviewServer
from runtime_helpers import pixels

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BRIEF_BIN = os.path.join(os.path.dirname(sys.executable), "brief")


# The image the page displays, decoded by the browser: drawn on a canvas and read back as RGBA.
SHOWN_JS = """() => {
  const img = document.querySelector('.stage img');
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const data = ctx.getImageData(0, 0, c.width, c.height).data;
  let bytes = '';
  for (let i = 0; i < data.length; i += 0x8000) bytes += String.fromCharCode.apply(null, data.subarray(i, i + 0x8000));
  return {src: img.getAttribute('src'), width: c.width, height: c.height, rgba: btoa(bytes)};
}"""
LOADED_JS = """() => {
  const img = document.querySelector('.stage img');
  return img && img.complete && img.naturalWidth > 0
      && img.getAttribute('src').endsWith('?v=' + document.body.dataset.seq);
}"""


def shown(page, out):
    """What the page displays now (its RGB pixels) beside the file of the last build it names."""
    page.wait_for_function(LOADED_JS, timeout=60000)
    got = page.evaluate(SHOWN_JS)
    rgba = np.frombuffer(base64.b64decode(got["rgba"]), np.uint8).reshape(got["height"], got["width"], 4)
    name = got["src"].split("?")[0].rsplit("/", 1)[-1]
    (file,) = out.glob(f"*/{name}")
    return SimpleNamespace(pixels=rgba[..., :3], on_disk=pixels(file)[..., :3])


def get(port: int, path: str, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest("GET", path, skip_host=True)
        conn.putheader("Host", host)
        conn.endheaders()
        res = conn.getresponse()
        return res.status, res.read(4096) if path != "/events" or res.status != 200 else res.fp.readline()
    finally:
        conn.close()


def test_preview_answers_only_its_own_loopback_host():
    server = PreviewServer(0)
    server.start()
    try:
        port = server.port
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"LOCALHOST:{port}", f"[::1]:{port}"):
            status, body = get(port, "/", host)
            assert status == 200 and b"brief preview" in body, host
        for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1:{port + 1}", f"127.0.0.1.evil.example:{port}",
                     ""):
            for path in ("/", "/events", "/files/0/canvas.png"):
                status, body = get(port, path, host)
                assert status == 403 and b"brief preview" not in body and b"data:" not in body, (host, path)
    finally:
        server.stop()


def test_a_preview_port_in_use_is_one_clear_line(project):
    path = project.write("p.brief", 'brief p {\n  canvas 64 x 48\n  component sky {\n    prompt "park"\n  }\n}\n')
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        res = subprocess.run([BRIEF_BIN, "watch", str(path), "--serve", str(port), "--cache", str(project.root / "c")],
                             capture_output=True, text=True, timeout=60, check=False)
    assert res.returncode == 2, res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and f"127.0.0.1:{port}" in lines[0] and "in use" in lines[0], res.stderr


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_preview_page_updates_after_a_save(project):
    playwright = pytest.importorskip("playwright.sync_api")
    path = project.write("p.brief", 'brief p {\n  canvas 320 x 240\n  component sky {\n    prompt "summer park"\n'
                                    '  }\n  component kite {\n    prompt "a red kite"\n'
                                    '    region box 50% 10% 90% 50%\n  }\n}\n')
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
            first = shown(page, project.root / "out")
            assert page.locator("h2").first.inner_text() == "p"
            path.write_text(path.read_text().replace("a red kite", "a blue kite"))
            page.wait_for_function("document.body.dataset.seq >= 2", timeout=60000)
            second = shown(page, project.root / "out")
            # the page shows the new render: its pixels, not only a new URL (the page's own `?v=seq`
            # cache-buster changes the URL whatever the server answers)
            assert np.array_equal(second.pixels, second.on_disk), "the page shows an image other than the new render"
            assert not np.array_equal(second.pixels, first.pixels), "the page still shows the first render"
            assert np.array_equal(first.pixels, first.on_disk)
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
