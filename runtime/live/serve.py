"""The live preview of `brief watch --serve`: a page on 127.0.0.1 that updates on each rebuild
through server-sent events, showing the current canvas, a toggle that highlights the regions the
last rebuild re-rendered, the brand-check results, and the diagnostics when the brief is broken.
Only files of the last build are served; nothing listens beyond the loopback interface, and only
requests addressed to it (Host 127.0.0.1:PORT, localhost:PORT or [::1]:PORT) are answered: a page
elsewhere that rebinds its own name to 127.0.0.1 (DNS rebinding) gets 403 and no data. A port that
cannot be bound is a `ServeError` with a one-line reason.
"""

from __future__ import annotations

import errno
import json
import queue
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>brief preview</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}#status{color:#555}.variant{margin:1em 0}
.stage{position:relative;display:inline-block}.stage img{max-width:90vw;display:block;border:1px solid #ddd}
.stage svg{position:absolute;left:0;top:0;width:100%;height:100%;pointer-events:none}
pre#diag{background:#fee;border:1px solid #e99;padding:1em;white-space:pre-wrap}
.outputs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}.outputs img{max-height:260px;border:1px solid #ddd}
figure{margin:0}
td,th{border:1px solid #ccc;padding:2px 8px}.fail{color:#c22;font-weight:bold}.warn{color:#b80}.pass{color:#282}</style>
</head><body><h1>brief preview</h1>
<label><input id="hl" type="checkbox" checked> highlight what the last rebuild re-rendered</label>
<div id="status">waiting for the first build…</div><pre id="diag" hidden></pre><div id="variants"></div>
<script>
const hl = document.getElementById('hl');
hl.onchange = () => document.querySelectorAll('svg.changed').forEach(s => s.style.display = hl.checked ? '' : 'none');
function esc(t){const d=document.createElement('div');d.textContent=String(t);return d.innerHTML}
function show(state){
  document.body.dataset.seq = state.seq;
  const diag = document.getElementById('diag');
  diag.hidden = !state.error; diag.textContent = state.error || '';
  document.getElementById('status').textContent = state.error ? 'the brief does not build: the last good render is shown'
      : `build ${state.seq}: ${state.summary}`;
  document.getElementById('variants').innerHTML = (state.variants || []).map(v => `
    <div class="variant"><h2>${esc(v.name)}</h2><div class="stage">
    <img src="${v.image}?v=${state.seq}" alt="${esc(v.name)}">
    <svg class="changed" viewBox="0 0 ${v.canvas[0]} ${v.canvas[1]}" preserveAspectRatio="none" style="display:${hl.checked?'':'none'}">
    ${v.changed.map(b => `<rect x="${b[0]}" y="${b[1]}" width="${b[2]-b[0]}" height="${b[3]-b[1]}" fill="rgba(255,0,120,.18)" stroke="#f07" stroke-width="3"/>`).join('')}
    </svg></div>
    <div class="outputs">${(v.outputs || []).map(o => `<figure><img src="${o.image}?v=${state.seq}" alt="${esc(o.name)}">
    <figcaption>${esc(o.name)} ${o.checks.some(c => c.status === 'fail') ? '<span class="fail">fails</span>' : ''}</figcaption>
    </figure>`).join('')}</div>
    <table><tr><th>rule</th><th>measured</th><th>status</th></tr>${v.checks.map(c =>
      `<tr><td>${esc(c.rule)} ${esc(c.component||'')}</td><td>${esc(c.measured ?? '—')}</td><td class="${c.status}">${c.status}</td></tr>`).join('')}</table></div>`).join('');
}
const events = new EventSource('/events');
events.onmessage = e => show(JSON.parse(e.data));
</script></body></html>"""


LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


class ServeError(Exception):
    """The preview cannot listen where asked (a port in use, a privileged port): one line."""


class LoopbackHandler(BaseHTTPRequestHandler):
    """What the preview's and the review app's request handlers share: quiet, uncached answers."""

    def log_message(self, *args):  # quiet
        pass

    def _send(self, code, kind, body):
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)


def bind(port: int, handler: type[BaseHTTPRequestHandler], what: str) -> ThreadingHTTPServer:
    """A threaded server on 127.0.0.1:`port` (0: any free one); a port it cannot take is a ServeError."""
    try:
        httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
    except OSError as exc:
        why = "the port is in use (pick another, or 0 for any free one)" if exc.errno == errno.EADDRINUSE \
            else exc.strerror or str(exc)
        raise ServeError(f"cannot serve the {what} on 127.0.0.1:{port}: {why}") from None
    httpd.daemon_threads = True
    return httpd


def allowed_hosts(port: int) -> frozenset[str]:
    """The Host headers the preview answers: its loopback names with its port (bare on port 80)."""
    hosts = {f"{name}:{port}" for name in LOOPBACK_NAMES}
    return frozenset(hosts | set(LOOPBACK_NAMES) if port == 80 else hosts)


def state_of(rebuild, seq: int) -> dict:
    if rebuild.error:
        return {"seq": seq, "error": rebuild.error}
    variants = []
    for b in rebuild.built:
        changed = [list(box) for box in b.plan.boxes]  # where pixels changed: the plan's answer (lang/impact)
        i = len(variants)
        outputs = [{"name": name, "image": f"/files/{i}/{o['file']}", "size": o.get("size"),
                    "checks": [c["result"] for c in b.manifest["checks"] if c["result"].get("output") == name]}
                   for name, o in b.manifest["outputs"].items()]
        variants.append({"name": b.variant.name, "canvas": list(b.variant.canvas), "changed": changed,
                         "image": f"/files/{i}/" + ("canvas.png" if (b.folder / "canvas.png").exists()
                                                    else b.manifest["outputs"][next(iter(b.variant.outputs))]["file"]),
                         "outputs": outputs if (b.folder / "canvas.png").exists() else [],
                         "checks": [c["result"] for c in b.manifest["checks"]], "folder": str(b.folder)})
    summary = ", ".join(f"{v['name']}: {len(b.run.ran)} nodes" for v, b in zip(variants, rebuild.built))
    return {"seq": seq, "error": "", "variants": variants, "summary": summary}


class PreviewServer:
    def __init__(self, port: int = 8377):
        self.state: dict = {"seq": 0, "error": "", "variants": [], "summary": ""}
        self.listeners: list[queue.Queue] = []
        self.lock = threading.Lock()
        server = self

        class Handler(LoopbackHandler):
            def do_GET(self):
                if (self.headers.get("Host") or "").strip().lower() not in server.hosts:
                    return self._send(403, "text/plain", b"forbidden: this preview answers only on its loopback address")
                if self.path == "/":
                    return self._send(200, "text/html; charset=utf-8", PAGE.encode())
                if self.path == "/events":
                    return server._stream(self)
                if self.path.startswith("/files/"):
                    return server._file(self)
                return self._send(404, "text/plain", b"not found")

        self.httpd = bind(port, Handler, "preview")
        self.port = self.httpd.server_address[1]
        self.hosts = allowed_hosts(self.port)

    def start(self) -> None:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        with self.lock:
            for q in self.listeners:
                q.put(None)

    def publish(self, rebuild) -> None:
        with self.lock:
            new = state_of(rebuild, self.state["seq"] + 1)
            if new.get("error"):
                new = {**self.state, "seq": new["seq"], "error": new["error"]}  # keep the last good render
            self.state = new
            for q in self.listeners:
                q.put(new)

    def _stream(self, handler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-store")
        handler.end_headers()
        q: queue.Queue = queue.Queue()
        with self.lock:
            self.listeners.append(q)
            first = self.state
        try:
            item = first
            while item is not None:
                if item["seq"]:
                    handler.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                    handler.wfile.flush()
                try:
                    item = q.get(timeout=15)
                except queue.Empty:
                    handler.wfile.write(b": keep-alive\n\n")
                    handler.wfile.flush()
                    item = {"seq": 0}
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            with self.lock:
                self.listeners.remove(q)

    def _file(self, handler) -> None:
        parts = handler.path.split("?")[0].split("/")
        try:
            variant = self.state["variants"][int(parts[2])]
            name = parts[3]
        except (IndexError, ValueError, KeyError):
            return handler._send(404, "text/plain", b"not found")
        from urllib.parse import unquote

        name = unquote(name)
        path = Path(variant["folder"]) / name
        served = {Path(variant["image"]).name} | {Path(unquote(o["image"])).name for o in variant.get("outputs", [])}
        if name not in served or not path.is_file():  # only the images of the last build
            return handler._send(404, "text/plain", b"not found")
        kind = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}.get(path.suffix.lower(), "image/png")
        handler._send(200, kind, path.read_bytes())
