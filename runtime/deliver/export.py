"""Exporting a built variant to files under `out/<brief>[<axis=value,…>]/`:

    <output file>           one per output: <output>.png, or its `file` name and `format`
    canvas.png              the canvas after composition and edits (when no output is the canvas)
    layers/<name>.png       the canvas's layers: each component's, then each edit's patch, RGBA,
                            cropped to its box (the manifest gives the box; the PNG's oFFs chunk its
                            offset): its cost is its box's, not the canvas's
    layers/<output>/…       each output's layers: `@scene.png`, the components it lays out itself,
                            its own edits' patches; `@flat.png`: the PNG master of a JPEG/WebP output
    masks/…                 each layer's alpha, the same size
    manifest.json           `stacks` (per image: the layers that flatten to it, in order, with boxes and
                            node keys; runtime/deliver/layers.py), timings, cache hits, checks
    report.json, .html      the brand checks: figures, and each output with their overlays
    <brief>.psd, <brief>-<output>.psd   with --psd: each image as a layered Photoshop file

The folder is published whole (`publish.stage`): assembled aside and swapped in, so a reader sees
the last export or the new one, never a mix, and files of outputs or components that no longer
exist do not linger. Files are encoded only when the node behind them changed since the last export
into the same folder (the manifest remembers); unchanged ones are hard-linked from the old folder.
"""

from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import layers as stacked, pngstream, publish
from ..brand import report
from ..conditions import MALFORMED
from ..render.execute import BuildError, Executor
from ..render.plan import VariantPlan

OUTPUT_PNG_LEVEL = 1  # fast zlib; the pixels are lossless whatever the level
EXPORT_THREADS = 2


def variant_dir(out_root: Path, variant_name: str) -> Path:
    return out_root / variant_name


def export_variant(executor: Executor, plan: VariantPlan, out_root: Path, psd: bool = False,
                   creds=None) -> tuple[Path, dict]:
    """Write a variant's folder; with `creds` (runtime/deliver/credentials.py), every delivered
    image carries signed content credentials."""
    folder = variant_dir(out_root, plan.variant.name)
    publish.recover(folder)
    now = publish.Current(folder)
    try:
        return folder, _export(executor, plan, folder, now, psd, creds)
    except _Vanished:  # the last export's files were deleted while being carried over: write them all
        return folder, _export(executor, plan, folder, None, psd, creds)
    finally:
        now.close()


def _manifest_of(now: publish.Current | None) -> dict:
    try:
        before = json.loads(now.read("manifest.json") or b"") if now is not None else {}
    except MALFORMED:
        return {}
    ok = isinstance(before, dict) and all(isinstance(before.get(k), dict) for k in ("files", "fingerprints"))
    return before if ok else {}


def _export(executor: Executor, plan: VariantPlan, folder: Path, now: publish.Current | None, psd: bool,
            creds=None) -> dict:
    v = plan.variant
    before = _manifest_of(now)
    written: dict[str, str] = {}  # file (relative) → node key it holds
    jobs: list[tuple[list[str], object]] = []  # (files, make() → their bytes)

    def current(rel: str, key: str) -> bool:
        """The folder holds `rel` as the last export wrote it, for the same node."""
        return (before.get("files", {}).get(rel) == key and now is not None
                and now.fingerprint(rel) == before.get("fingerprints", {}).get(rel))

    def stale(rel: str, key: str) -> bool:
        written[rel] = key
        return not current(rel, key)

    memo: dict[str, bytes] = {}
    pngs: dict[str, bytes] = {}
    png_lock = threading.Lock()

    def png_of(key: str) -> bytes:
        """A node's image as PNG, encoded once (unchanged bands come from the cache)."""
        with png_lock:
            if key not in pngs:
                pngs[key] = pngstream.encode(executor.result(key, plan), executor.cache, OUTPUT_PNG_LEVEL)
            return pngs[key]

    def canvas_png() -> bytes:
        return png_of(v.image)

    assets = _assets(executor.g, v)

    def claimed(name: str, node: str) -> dict | None:
        """What a delivered image's content credentials say (None: nothing is signed)."""
        if creds is None:
            return None
        from ... import __version__ as version
        from .credentials import claims

        return {**claims(v, name, node, assets, version), "signer": creds.fingerprint}

    hows = {name: {**v.delivery.get(name, {"format": "png", "quality": None, "max": None, "file": f"{name}.png"}),
                   "node": key, "variant": v.name, "span": v.formats.get(name, {}).get("span", ""),
                   "claims": claimed(name, key), "creds": creds}
            for name, key in v.outputs.items()}
    locks = {name: threading.Lock() for name in hows}

    def output_bytes(name: str) -> bytes:
        """An output's delivered file, encoded once (the report shows the very bytes delivered)."""
        with locks[name]:
            if name not in memo:
                memo[name] = _encode(executor, executor.result(hows[name]["node"], plan), hows[name], name)
            return memo[name]

    canvas_claims = claimed("canvas", v.image)
    canvas_key = _delivered(v.image, {"format": "png", "max": None, "quality": None, "claims": canvas_claims})
    if v.image not in v.outputs.values() and stale("canvas.png", canvas_key):  # the canvas, before formats
        jobs.append((["canvas.png"], lambda: [_signed(canvas_png(), "png", "canvas.png", canvas_claims, creds)]))
    for name, how in hows.items():
        if stale(how["file"], _delivered(how["node"], how)):
            jobs.append(([how["file"]], lambda name=name: [output_bytes(name)]))
    layer_jobs, stacks = stacked.stacks(executor, plan, hows, stale, png_of, psd, current)  # each image as the layers it flattens from
    jobs += layer_jobs
    results = [executor.result(key, plan) for key in v.checks] if plan.checks else []
    report_key = hashlib.sha256("".join([v.image, *v.checks, *(_delivered(h["node"], h) for h in hows.values())])
                                .encode()).hexdigest()
    if results:
        doc = {"name": v.name, "canvas": list(v.canvas)}

        def images() -> dict:
            """What each section of the report shows: every output as delivered; the canvas when the
            brief declares no outputs (its rules measured the canvas)."""
            if not v.delivery and list(v.outputs.values()) == [v.image]:
                return {None: (canvas_png(), "image/png", tuple(v.canvas))}
            return {name: (output_bytes(name), MIME[how["format"]], tuple(_format(name, v)["size"]))
                    for name, how in hows.items()}

        if stale("report.json", report_key) | stale("report.html", report_key):
            jobs.append((["report.json", "report.html"],
                         lambda: [report.report_json(doc, results), report.report_html(doc, results, images())]))
    elif all(current(rel, report_key) for rel in ("report.json", "report.html")):
        written.update({"report.json": report_key, "report.html": report_key})  # still true: kept
    made = {rel for files, _ in jobs for rel in files}
    with publish.stage(folder, now) as stage:
        if not all(stage.keep(rel) for rel in written if rel not in made):  # deleted under us: start over
            raise _Vanished()
        with ThreadPoolExecutor(max_workers=EXPORT_THREADS) as pool:  # PNG encoding releases the GIL
            for files, data in zip([f for f, _ in jobs], pool.map(lambda job: job[1](), jobs)):
                for rel, blob in zip(files, data):
                    stage.write(rel, blob)
        manifest = _manifest(executor, plan, written, results)
        manifest["stacks"] = stacks
        if creds is not None:  # who signed, and the root to check them against (`brief verify`)
            manifest["credentials"] = {"signer": creds.fingerprint, "trust": creds.trust_file}
        manifest["fingerprints"] = stage.fingerprints(written)
        stage.write("manifest.json", (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


def _delivered(key: str, how: dict) -> str:
    """What a delivered file holds: the output's pixels, how they are encoded, what it claims."""
    claims = how.get("claims")
    if how["format"] == "png" and how["max"] is None and claims is None:
        return key
    said = json.dumps(claims, sort_keys=True) if claims is not None else ""
    return hashlib.sha256(f"{key}:{how['format']}:{how['quality']}:{how['max']}:{said}".encode()).hexdigest()


def _signed(data: bytes, fmt: str, title: str, claims: dict | None, creds) -> bytes:
    """`data` with its content credentials embedded, when the build signs."""
    if claims is None:
        return data
    from .credentials import sign

    return sign(data, fmt, title, claims, creds)


def _assets(g, v) -> list[tuple[str, str]]:
    """The real images a variant places (file, sha256): its credentials' ingredients."""
    found = {}
    for key in v.layers.values():
        a = g.nodes[key]
        if a["op"] == "load_asset":
            found[a["files"]["asset"]] = a["params"]["sha256"]
    return sorted(found.items())



def _encode(executor: Executor, image, how: dict, name: str) -> bytes:
    """An output's file in its delivery format (sRGB-tagged; a lossy one at the largest quality under
    its size cap). A cap no quality meets stops the export with the output named."""
    from ..context import OpError
    from . import encodings

    cap, fmt = how["max"], how["format"]
    try:
        if fmt == "png":
            data = pngstream.encode(image, executor.cache, OUTPUT_PNG_LEVEL)
            signed = _signed(data, fmt, how["file"], how["claims"], how["creds"])
            if cap is not None:  # the delivered file, its credentials included, is what the cap bounds
                encodings.check_png_cap(signed, cap)
            return signed
        rgb = image.to_array()[..., :3]
        data = encodings.encode_output(rgb, fmt, how["quality"], cap).data
        signed = _signed(data, fmt, how["file"], how["claims"], how["creds"])
        if cap is not None and len(signed) > cap:  # make room for the credentials: encode under less
            room = cap - (len(signed) - len(data)) - 512  # the manifest's size varies by a few bytes
            if room <= 0:
                raise OpError(f"its content credentials alone take {len(signed) - len(data)} bytes of max {cap}")
            data = encodings.encode_output(rgb, fmt, how["quality"], room).data
            signed = _signed(data, fmt, how["file"], how["claims"], how["creds"])
            if len(signed) > cap:
                raise OpError(f"with its content credentials it is {len(signed)} bytes, over max {cap}")
        return signed
    except OpError as exc:  # named by its own line: outputs of the same pixels share one node
        raise BuildError(how["span"], f"output {name} of {how['variant']}", str(exc)) from None


MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class _Vanished(Exception):
    """Files of the last export disappeared while this one was carrying them over."""


def _manifest(executor: Executor, plan: VariantPlan, written: dict[str, str], results: list[dict]) -> dict:
    v = plan.variant
    run, g = executor.run, executor.g
    return {
        "brief": v.brief, "variant": v.name, "file": v.file, "axes": v.axes, "canvas": list(v.canvas),
        "backend": v.backend, "export": v.export,
        "order": list(v.layers),
        "layers": {name: {"node": key, "box": g.nodes[key]["region"], "file": f"layers/{name}.png",
                          "mask": f"masks/{name}.png",
                          **({"text": g.nodes[key]["params"]["text"]} if g.nodes[key]["op"] == "text" else {})}
                   for name, key in v.layers.items()},
        "outputs": {name: {"node": key, "file": v.delivery.get(name, {}).get("file", f"{name}.png"),
                           "format": v.delivery.get(name, {}).get("format", "png"), **_format(name, v)}
                    for name, key in v.outputs.items()},
        "checks": [{"node": key, "label": g.nodes[key]["label"], "span": g.nodes[key]["span"],
                    "result": {k: val for k, val in result.items() if k != "heatmap"}}
                   for key, result in zip(v.checks, results)],
        "nodes": {key: {"op": g.nodes[key]["op"], "label": g.nodes[key]["label"],
                        "cached": key not in run.seconds, "seconds": round(run.seconds.get(key, 0.0), 4),
                        **_processing(executor, key, g.nodes[key]["op"])}
                  for key in plan.needed},
        "cache": {"rendered": sum(1 for k in plan.needed if k in run.seconds),
                  "hits": sum(1 for k in plan.needed if k not in run.seconds),
                  "pixel_share": round(plan.pixel_share, 4)},
        "files": written,
    }


def _processing(executor: Executor, key: str, op: str) -> dict:
    """The size a model denoised a node at (`resolution native` resamples; the backend records it)."""
    if op not in ("generate", "inpaint", "remove", "refine"):
        return {}
    meta = executor.cache.get_meta(key) or {}
    return {"processing": meta["processing"]} if isinstance(meta.get("processing"), dict) else {}


def _format(name: str, v) -> dict:
    """An output's size and mode (the canvas itself for a brief without outputs)."""
    f = v.formats.get(name)
    return {"size": f["size"], "mode": f["mode"]} if f else {"size": list(v.canvas), "mode": "canvas"}
