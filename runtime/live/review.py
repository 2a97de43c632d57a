"""`brief review`: a local web app over the last build of a brief — every variant × output as a
thumbnail with its state (approved, unapproved, rejected, changed, unbuilt, failing), filters, a
detail view (the image at 100% or fitted, the failing rules) and approve/reject with a note, which
writes `brief.approvals` like `brief approve` (runtime/live/approvals.py).

Served like the watch preview (runtime/live/serve.py): on 127.0.0.1 only, answering only requests
addressed to it (DNS rebinding gets 403). A decision is a POST of JSON, which a page on another
site cannot send without the browser asking first (and it is refused: no CORS headers), and whose
Origin, when the browser gives one, must be this app. Thumbnails are made once per image content
and kept under out/@thumbs.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlparse

from . import approvals
from .serve import LoopbackHandler, allowed_hosts, bind

THUMB = 320  # px, the longest side of a grid thumbnail
MIME = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp"}

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>brief review</title>
<style>body{font:14px system-ui,sans-serif;margin:1.5em}
#grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:12px}
.tile{border:1px solid #ccc;padding:6px;cursor:pointer}
.tile img{max-width:100%;max-height:200px;display:block;margin:auto}
.pick{display:flex;flex-wrap:wrap;gap:12px}.pick img{max-height:200px;border:1px solid #ddd}figure{margin:0}
.tile div{overflow-wrap:anywhere;font-size:12px}
.state{font-weight:bold}.approved{color:#282}.unapproved,.changed{color:#b80}
.rejected,.failing{color:#c22}.unbuilt{color:#777}
#detail{border:1px solid #999;padding:1em;margin:1em 0}#detail img.fit{max-width:90vw;max-height:70vh}
button.on{background:#333;color:#fff}</style></head><body>
<h1>brief review</h1><div id="summary"></div>
<div id="filters"><button data-f="all" class="on">all</button> <button data-f="pending">not approved</button>
<button data-f="failing">failing</button> <button data-f="changed">changed since decision</button>
<button data-f="unapproved">unapproved</button></div>
<div id="detail" hidden></div><div id="grid"></div><div id="candidates"></div>
<script>
let rows = [], filter = 'all';
const ENT = {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'};
function esc(t){return String(t??'').replace(/[&<>"']/g, c => ENT[c])}
function keep(r){return filter==='all'||(filter==='pending'?r.state!=='approved':r.state===filter)}
function draw(){
  document.getElementById('summary').textContent =
    `${rows.filter(r=>r.state==='approved').length} of ${rows.length} outputs approved`;
  document.getElementById('grid').innerHTML = rows.map((r,i)=>keep(r)?`<div class="tile" data-i="${i}"
    data-variant="${esc(r.variant)}" data-output="${esc(r.output)}" data-state="${r.state}">
    ${r.thumb?`<img src="${r.thumb}" alt="${esc(r.variant)} ${esc(r.output)}">`:'<div>(not built)</div>'}
    <div>${esc(r.variant)}</div>
    <div>${esc(r.output)} · <span class="state ${r.state}">${r.state}</span></div></div>`:'').join('');
  document.querySelectorAll('.tile').forEach(t=>t.onclick=()=>open(+t.dataset.i));
}
function open(i){
  const r = rows[i], d = document.getElementById('detail');
  d.hidden = false;
  d.innerHTML = `<h2>${esc(r.variant)} / ${esc(r.output)}</h2>
    <p class="state ${r.state}">${r.state}: ${esc(r.why)}</p>
    ${r.failing.length?`<p class="failing">fails: ${r.failing.map(esc).join(', ')}</p>`:''}
    ${r.image?`<p><label><input type="checkbox" id="full"> 100%</label></p>
    <img id="big" class="fit" src="${r.image}">`:''}
    ${r.layers.length?`<h3>layers</h3><p>${r.layers.map((l,j)=>`<label><input type="checkbox" class="lay" data-j="${j}"
    checked> ${esc(l.name)}</label>`).join(' ')} · <label><input type="checkbox" id="masks"> masks</label></p>
    <div id="stack" style="position:relative;display:inline-block;background:#fff">
    <img class="fit" src="${r.image}" style="visibility:hidden">${r.layers.map((l,j)=>`<img class="layer" data-j="${j}"
    src="${l.image}" data-mask="${l.mask||''}" data-image="${l.image}" style="position:absolute;
    left:${l.box[0]/r.size[0]*100}%;top:${l.box[1]/r.size[1]*100}%;width:${(l.box[2]-l.box[0])/r.size[0]*100}%;
    height:${(l.box[3]-l.box[1])/r.size[1]*100}%">`).join('')}</div>`:''}
    ${r.before?`<h3>against the image last decided on</h3><p>before ⟷ now
    <input type="range" id="slide" min="0" max="100" value="50"></p>
    <div id="pair" style="position:relative;display:inline-block"><img class="fit" src="${r.image}">
    <img id="was" class="fit" src="${r.before}" style="position:absolute;left:0;top:0;clip-path:inset(0 50% 0 0)"></div>
    <p>where they differ:</p><div style="position:relative;display:inline-block"><img class="fit" src="${r.image}">
    <img id="heat" class="fit" src="${r.difference}" style="position:absolute;left:0;top:0"></div>`:''}
    <p><a href="/report?variant=${encodeURIComponent(r.variant)}" target="_blank">brand report with overlays</a></p>
    <p><input id="note" placeholder="note (optional)" size="50">
    <button id="approve">approve</button> <button id="reject">reject</button> <button id="close">close</button></p>`;
  document.querySelectorAll('input.lay').forEach(c => c.onchange = () =>
    document.querySelector(`img.layer[data-j="${c.dataset.j}"]`).style.display = c.checked ? '' : 'none');
  const masks = document.getElementById('masks');
  if (masks) masks.onchange = () => document.querySelectorAll('img.layer').forEach(i =>
    i.src = masks.checked && i.dataset.mask ? i.dataset.mask : i.dataset.image);
  const slide = document.getElementById('slide');
  if (slide) slide.oninput = () => document.getElementById('was').style.clipPath = `inset(0 ${100-slide.value}% 0 0)`;
  const full = document.getElementById('full');
  if (full) full.onchange = () => document.getElementById('big').className = full.checked ? '' : 'fit';
  document.getElementById('close').onclick = () => d.hidden = true;
  for (const decision of ['approve','reject']) document.getElementById(decision).onclick = async () => {
    const res = await fetch('/api/decide', {method:'POST', headers:{'Content-Type':'application/json'},
      body: JSON.stringify({variant:r.variant, output:r.output, decision, node:r.node,
                            note:document.getElementById('note').value})});
    const got = await res.json();
    if (!res.ok) { alert(got.error); return; }
    await load(); d.hidden = true;
  };
}
async function load(){
  const res = await fetch('/api/state'), got = await res.json();
  if (!res.ok) { document.getElementById('summary').textContent = got.error; return; }
  rows = got; draw(); document.body.dataset.loaded = rows.length;
  const found = await (await fetch('/api/candidates')).json();
  document.getElementById('candidates').innerHTML = found.map(g => `<h2>candidates: ${esc(g.component)}
    (${esc(g.variant)})</h2><div class="pick">${g.seeds.map(c => `<figure><img src="${c.image}" alt="seed ${c.seed}">
    <figcaption>seed ${c.seed} <button class="choose" data-variant="${esc(g.variant)}"
    data-component="${esc(g.component)}" data-seed="${c.seed}">
    choose</button></figcaption></figure>`).join('')}</div>`).join('');
  document.querySelectorAll('button.choose').forEach(b => b.onclick = async () => {
    const res = await fetch('/api/pick', {method:'POST', headers:{'Content-Type':'application/json'},
      body: JSON.stringify({variant:b.dataset.variant, component:b.dataset.component, seed:+b.dataset.seed})});
    const got = await res.json();
    document.getElementById('summary').textContent = res.ok ? got.said : got.error;
  });
}
document.querySelectorAll('#filters button').forEach(b=>b.onclick=()=>{filter=b.dataset.f;
  document.querySelectorAll('#filters button').forEach(x=>x.classList.toggle('on',x===b)); draw();});
load();
</script></body></html>"""


class ReviewServer:
    """The app over `path` (a .brief): `variants()` compiles it as it is now (each request sees the
    brief and the build of the moment), `out_root` is where its builds write."""

    def __init__(self, path: Path, variants, out_root: Path, port: int = 8378):
        self.path, self.compiled, self.out_root = path, variants, out_root
        import threading

        self.lock = threading.Lock()
        app = self

        class Handler(LoopbackHandler):
            def _allowed(self) -> bool:
                if (self.headers.get("Host") or "").strip().lower() not in app.hosts:
                    self._send(403, "text/plain", b"forbidden: this app answers only on its loopback address")
                    return False
                return True

            def do_GET(self):
                self._guarded(self._get)

            def do_POST(self):
                self._guarded(self._post)

            def _guarded(self, handle):
                """A damaged brief.approvals or a brief that no longer checks: the page says why."""
                from brief.lang.diagnostics import DiagnosticError

                try:
                    handle()
                except (ValueError, DiagnosticError) as exc:
                    said = "; ".join(d.summary for d in exc.diagnostics) if isinstance(exc, DiagnosticError) \
                        else str(exc)
                    self._send(409, "application/json", json.dumps({"error": said}).encode())

            def _get(self):
                if not self._allowed():
                    return
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                if url.path == "/":
                    return self._send(200, "text/html; charset=utf-8", PAGE.encode())
                if url.path == "/api/state":
                    return self._send(200, "application/json", json.dumps(app.state()).encode())
                if url.path == "/api/candidates":
                    return self._send(200, "application/json", json.dumps(app.candidates()).encode())
                if url.path == "/candidate":
                    found = app.candidate(query.get("variant", ""), query.get("component", ""), query.get("seed", ""))
                    if found is not None:
                        return self._send(200, "image/png", found.read_bytes())
                if url.path == "/layer":
                    found = app.layer(query.get("variant", ""), query.get("output", ""), query.get("i", ""),
                                      query.get("mask") == "1")
                    if found is not None:
                        return self._send(200, "image/png", found.read_bytes())
                if url.path == "/report":
                    found = app.report(query.get("variant", ""))
                    if found is not None:
                        return self._send(200, "text/html; charset=utf-8", found.read_bytes())
                if url.path == "/before":  # the image last decided on, kept under out/@approved
                    found = app.before(query.get("variant", ""), query.get("output", ""))
                    if found is not None:
                        return self._send(200, MIME.get(found.suffix.lower(), "application/octet-stream"),
                                          found.read_bytes())
                if url.path == "/difference":
                    data = app.difference(query.get("variant", ""), query.get("output", ""))
                    if data is not None:
                        return self._send(200, "image/png", data)
                if url.path in ("/image", "/thumb"):
                    found = app.image(query.get("variant", ""), query.get("output", ""), url.path == "/thumb")
                    if found is not None:
                        return self._send(200, MIME.get(found.suffix.lower(), "application/octet-stream"),
                                          found.read_bytes())
                return self._send(404, "text/plain", b"not found")

            def _post(self):
                if not self._allowed():
                    return
                origin = self.headers.get("Origin")
                if self.path not in ("/api/decide", "/api/pick") or \
                        self.headers.get("Content-Type", "").split(";")[0] != \
                        "application/json" or (origin and origin.split("//", 1)[-1].lower() not in app.hosts):
                    return self._send(403, "application/json", b'{"error": "refused"}')
                try:
                    body = json.loads(self.rfile.read(min(int(self.headers.get("Content-Length", 0)), 65536)))
                    note = body.get("note") or None
                    if not (note is None or (isinstance(note, str) and len(note) <= 2000)):
                        raise TypeError("a note is text, at most 2000 characters")
                    with app.lock:  # one decision at a time (the file is also locked for `brief approve`)
                        if self.path == "/api/pick":
                            code, said = app.pick(str(body["variant"]), str(body["component"]), int(body["seed"]))
                        else:
                            code, said = app.decide(str(body["variant"]), str(body["output"]), str(body["decision"]),
                                                    note, body.get("node"))
                except (json.JSONDecodeError, KeyError, TypeError) as exc:
                    code, said = 400, {"error": f"expected {{variant, output, decision, node, note}}: {exc}"}
                return self._send(code, "application/json", json.dumps(said).encode())

        self.httpd = bind(port, Handler, "review")
        self.port = self.httpd.server_address[1]
        self.hosts = allowed_hosts(self.port)

    @property
    def variants(self):
        return self.compiled()

    def rows(self) -> list[approvals.Row]:
        return approvals.status(self.variants, self.out_root, approvals.load(approvals.approvals_path(self.path)))

    def state(self) -> list[dict]:
        out = []
        for r in self.rows():
            built = approvals.built_outputs(self.out_root / r.variant).get(r.output, {})
            q = f"variant={_q(r.variant)}&output={_q(r.output)}"
            before = r.state == "changed" and self.before(r.variant, r.output) is not None
            stack = self.stack(r.variant, r.output) if r.image else None
            out.append({"variant": r.variant, "output": r.output, "state": r.state, "why": r.why, "node": r.node,
                        "failing": built.get("failing", []), "image": f"/image?{q}" if r.image else None,
                        "thumb": f"/thumb?{q}" if r.image else None,
                        "size": stack["size"] if stack else None,
                        "layers": [{"name": e["name"], "box": e["box"], "image": f"/layer?{q}&i={j}",
                                    "mask": f"/layer?{q}&i={j}&mask=1" if e.get("mask") else None}
                                   for j, e in enumerate(stack["layers"])] if stack else [],
                        "before": f"/before?{q}" if before else None,
                        "difference": f"/difference?{q}" if before else None})
        return out

    def image(self, variant: str, output: str, thumb: bool) -> Path | None:
        """A delivered image of the last build (only those: never another file), or its thumbnail."""
        row = next((r for r in self.rows() if r.variant == variant and r.output == output and r.image), None)
        if row is None:
            return None
        image = Path(row.image).resolve()
        if (self.out_root / variant).resolve() not in image.parents:  # only files of the variant's folder
            return None
        if not thumb:
            return image
        from PIL import Image

        cached = self.out_root / "@thumbs" / f"{approvals.pixel_hash(image)[:32]}.png"
        if not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            import io

            from ..store.files import atomic_write

            with Image.open(image) as im:
                im = im.convert("RGB")
                im.thumbnail((THUMB, THUMB), Image.LANCZOS)
                buf = io.BytesIO()
                im.save(buf, "PNG")
            atomic_write(cached, buf.getvalue(), durable=False)  # a unique temp name: parallel requests agree
        return cached

    def before(self, variant: str, output: str) -> Path | None:
        entry = approvals.load(approvals.approvals_path(self.path)).get(approvals.key(variant, output))
        return approvals.kept(self.out_root, entry["sha256"]) if entry else None

    def difference(self, variant: str, output: str) -> bytes | None:
        """A heat map of where the image differs from the one last decided on: transparent where
        equal, red where it differs (stronger the more), as PNG; None without both."""
        import io

        import numpy as np
        from PIL import Image

        was, now = self.before(variant, output), self.image(variant, output, False)
        if was is None or now is None:
            return None
        with Image.open(was) as a, Image.open(now) as b:
            if a.size != b.size:
                return None
            delta = np.abs(np.asarray(a.convert("RGB"), np.int16) - np.asarray(b.convert("RGB"), np.int16)).max(axis=2)
        rgba = np.zeros(delta.shape + (4,), np.uint8)
        rgba[..., 0] = 255
        rgba[..., 3] = np.where(delta > 0, np.clip(64 + delta * 3, 0, 255), 0).astype(np.uint8)
        buf = io.BytesIO()
        Image.fromarray(rgba).save(buf, "PNG")
        return buf.getvalue()

    def candidates(self) -> list[dict]:
        """What `brief explore` rendered for this brief's variants: per variant and component, the seeds."""
        root = self.out_root / "@candidates"
        names = {v.name for v in self.variants}
        out = []
        for folder in sorted(root.glob("*/*")) if root.is_dir() else []:
            variant, component = folder.parent.name, folder.name
            layers = next((v.layers for v in self.variants if v.name == variant), {})
            if variant not in names or component not in layers:  # only what explore could have made
                continue
            seeds = sorted(int(p.stem.removeprefix("seed-")) for p in folder.glob("seed-*.png")
                           if p.stem.removeprefix("seed-").isdigit())
            out.append({"variant": variant, "component": component, "seeds": [
                {"seed": s, "image": f"/candidate?variant={_q(variant)}&component={_q(component)}&seed={s}"}
                for s in seeds]})
        return out

    def candidate(self, variant: str, component: str, seed: str) -> Path | None:
        known = {(g["variant"], g["component"]): {c["seed"] for c in g["seeds"]} for g in self.candidates()}
        if not seed.isdigit() or int(seed) not in known.get((variant, component), set()):
            return None
        return self.out_root / "@candidates" / variant / component / f"seed-{int(seed)}.png"

    def stack(self, variant: str, output: str) -> dict | None:
        """The layers an output flattens from (its manifest's `stacks`), when it was exported with them."""
        try:
            manifest = json.loads((self.out_root / variant / "manifest.json").read_text(encoding="utf-8"))
            found = manifest["stacks"][output]
            return found if isinstance(found, dict) else None
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def layer(self, variant: str, output: str, i: str, mask: bool) -> Path | None:
        """One layer (or its mask) of an output's stack: only files the manifest lists, in its folder."""
        stack = self.stack(variant, output) if variant in {v.name for v in self.variants} else None
        if stack is None or not i.isdigit() or int(i) >= len(stack["layers"]):
            return None
        rel = stack["layers"][int(i)].get("mask" if mask else "file")
        folder = (self.out_root / variant).resolve()
        path = (folder / rel).resolve() if isinstance(rel, str) else None
        return path if path is not None and folder in path.parents and path.is_file() else None

    def report(self, variant: str) -> Path | None:
        if variant not in {v.name for v in self.variants}:
            return None
        found = self.out_root / variant / "report.html"
        return found if found.is_file() else None

    def pick(self, variant: str, component: str, seed: int) -> tuple[int, dict]:
        """Write `seed N` into the brief for a component (keeping its comments and layout)."""
        from brief.lang.edit import set_seed
        from brief.lang.load import read_source

        from ..store.files import atomic_write

        brief = next((v.brief for v in self.variants if v.name == variant and component in v.layers), None)
        if brief is None or not 0 <= seed < 2**32:
            return 400, {"error": f"no component {component!r}, or a seed out of range"}
        text = set_seed(read_source(str(self.path)), str(self.path), brief, component, seed)
        atomic_write(self.path, text.encode("utf-8"))
        return 200, {"ok": True, "said": f"{component} now has seed {seed} in {self.path.name}: build to use it"}

    def decide(self, variant: str, output: str, decision: str, note: str | None,
               seen: str | None = None) -> tuple[int, dict]:
        """Record a decision on the output the page showed (`seen`: its node): if it was built again
        since, the reviewer has not seen what is there now (409)."""
        if decision not in ("approve", "reject"):
            return 400, {"error": "decision is approve or reject"}
        v = next((x for x in self.variants if x.name == variant), None)
        row = next((r for r in self.rows() if r.variant == variant and r.output == output), None)
        if v is None or row is None or row.image is None:
            return 409, {"error": f"{variant} / {output} is not built from the brief as it is now"}
        if seen is not None and seen != row.node:
            return 409, {"error": f"{variant} / {output} changed since the page showed it: reload and look again"}
        entry = approvals.decide(approvals.approvals_path(self.path), v, output, Path(row.image), row.node,
                                 decision, note or None, self.out_root)
        return 200, {"ok": True, "entry": entry}

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def start(self) -> None:
        import threading

        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()


def _q(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")
