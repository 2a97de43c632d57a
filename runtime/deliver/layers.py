"""Layered deliverables: each image a variant delivers as the stack of layers that flattens to it,
byte for byte (DESIGN house style 13: the layered export is the delivered image).

The canvas is its components in z order over the background, then one patch per edit, in the
order the edits ran: a patch holds the edit's pixels where it changed the canvas (alpha 255) and
nothing elsewhere (alpha 0), placed above what the edit read. An output is its scene (the canvas
through the output's mode, or, where the output lays components out itself, the scene without
them), then the components it lays out in its own pixels, then the patches of the edits that
followed them there. Flattening uses the compositing the renderer uses (`imaging.blend_into`), so
`flatten(stack) == the delivered pixels` holds by construction, and `verify_folder` checks it on
what was written: every layer file read back, flattened in manifest order, compared with the
delivered image (for JPEG and WebP: the PNG master beside it).
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..store.tiles import Layer, TiledImage

Box = tuple[int, int, int, int]
EDIT_OPS = ("inpaint", "remove", "recolor", "harmonize")


@dataclass
class Entry:
    """One layer of a stack: what it is, the node it comes from, and how to get its pixels."""

    name: str
    kind: str  # "component", "edit" or "scene"
    node: str
    box: Box
    before: str | None = None  # an edit: the image it changed


def canvas_stack(g, variant) -> list[Entry]:
    """The canvas: components bottom to top, then the edits' patches in the order they ran."""
    entries = [Entry(name, "component", key, tuple(g.nodes[key]["region"])) for name, key in variant.layers.items()]
    return entries + _patches(g, variant.image)


def output_stack(g, name: str, key: str, size: tuple[int, int]) -> list[Entry]:
    """An output: its scene, the components it lays out itself, the patches of the edits that
    followed them into it."""
    patches = _patches(g, key)
    top = patches[0].before if patches else key  # the output before its own edits
    a = g.nodes[top]
    if a["op"] != "layout":
        return [Entry("scene", "scene", top, (0, 0, *size))] + patches
    scene = Entry("scene", "scene", a["inputs"][0], (0, 0, *size))
    lifted = [Entry(n, "component", k, tuple(g.nodes[k]["region"]))
              for n, k in zip(a["params"]["layers"], a["inputs"][1:])]
    return [scene, *lifted, *patches]


def _patches(g, key: str) -> list[Entry]:
    """The edits that made `key` from the image they started from, first to last."""
    out = []
    while g.nodes[key]["op"] in EDIT_OPS:
        a = g.nodes[key]
        name = a["label"].split(" ", 1)[1]  # "edit shadow in story" → "shadow in story"
        out.append(Entry(name, "edit", key, tuple(a["region"]), before=a["inputs"][0]))
        key = a["inputs"][0]
    return out[::-1]


def patch(before: TiledImage, after: TiledImage, box: Box) -> np.ndarray:
    """An edit's pixels where it changed the image inside `box` (alpha 255), transparent elsewhere."""
    was, now = before.read(box), after.read(box)
    rgba = np.zeros(now.shape[:2] + (4,), np.uint8)
    changed = np.any(was != now, axis=2)
    rgba[..., :3] = np.where(changed[..., None], now, 0)
    rgba[..., 3] = changed * 255
    return rgba


def fold(g, entries: list[Entry], size: tuple[int, int], result) -> list[tuple[Box, np.ndarray]]:
    """The pixels of each layer of a stack (scene RGB, component and patch RGBA), with every recolour
    folded into the component it recolours: where that layer is opaque, it takes the recolour's
    pixels, and the recolour's patch keeps only what still differs (anti-aliased edges, pixels of
    the component that another layer covers), so the stack still flattens to the image exactly."""
    out: list[tuple[Box, np.ndarray]] = []
    for e in entries:
        if e.kind == "scene":
            out.append((e.box, result(e.node).read(e.box)))
        elif e.kind == "edit":
            out.append((e.box, patch(result(e.before), result(e.node), e.box)))
        else:
            rgba, box = component_pixels(result(e.node), e.box, size)
            out.append((box, np.array(rgba)))
    for i, e in enumerate(entries):
        a = g.nodes[e.node]
        if a["op"] != "recolor":
            continue
        j = next((k for k in range(i) if entries[k].kind == "component" and entries[k].node == a["inputs"][1]), None)
        if j is None:
            continue
        before, after = result(e.before).read(e.box), result(e.node).read(e.box)
        cbox, layer = out[j]
        x0, y0, x1, y1 = max(cbox[0], e.box[0]), max(cbox[1], e.box[1]), min(cbox[2], e.box[2]), min(cbox[3], e.box[3])
        if x1 > x0 and y1 > y0:
            mine = layer[y0 - cbox[1]:y1 - cbox[1], x0 - cbox[0]:x1 - cbox[0]]
            now = after[y0 - e.box[1]:y1 - e.box[1], x0 - e.box[0]:x1 - e.box[0]]
            was = before[y0 - e.box[1]:y1 - e.box[1], x0 - e.box[0]:x1 - e.box[0]]
            take = (mine[..., 3] == 255) & np.any(now != was, axis=2)
            mine[..., :3][take] = now[take]
        below = flatten_window(e.box, [(entries[k].kind, *out[k]) for k in range(i)])
        residual = np.zeros(after.shape[:2] + (4,), np.uint8)
        differs = np.any(below != after, axis=2)
        residual[..., :3][differs] = after[differs]
        residual[..., 3] = differs * 255
        out[i] = (e.box, residual)
    return out


def flatten_window(window: Box, layers: list[tuple[str, Box, np.ndarray]]) -> np.ndarray:
    """`flatten`, computed only inside `window`."""
    from ..render import imaging

    x0, y0, x1, y1 = window
    out = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    out[...] = imaging.BACKGROUND
    for kind, box, pixels in layers:
        if kind == "scene":
            ix0, iy0, ix1, iy1 = max(x0, box[0]), max(y0, box[1]), min(x1, box[2]), min(y1, box[3])
            if ix1 > ix0 and iy1 > iy0:
                src = pixels[iy0 - box[1]:iy1 - box[1], ix0 - box[0]:ix1 - box[0], :3]
                out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = src
        else:
            imaging.blend_into(out, window, Layer(box, pixels))
    return out


def flatten(size: tuple[int, int], layers: list[tuple[str, Box, np.ndarray]]) -> np.ndarray:
    """`layers` (kind, box, RGBA or RGB pixels) flattened in order: a scene is taken whole, every
    other layer blended over what is below with the renderer's own compositing."""
    return flatten_window((0, 0, *size), layers)


def _fingerprint(path: Path) -> list | None:
    """What the export remembered of a file (`publish.fingerprint`: size and mtime), as it is now."""
    from .publish import fingerprint

    try:
        return fingerprint(path.stat())
    except FileNotFoundError:
        return None


def verify_folder(folder: Path) -> list[tuple[str, str]]:
    """Each delivered image of a variant's folder against its layers: (image, "ok" or what differs)."""
    from PIL import Image

    manifest = json.loads((folder / "manifest.json").read_text())
    stacks, printed = manifest.get("stacks", {}), manifest.get("fingerprints", {})
    if not isinstance(stacks, dict):
        raise ValueError("manifest.json: `stacks` is not an object")
    inside = folder.resolve()

    def file(rel: str) -> Path:
        path = (folder / rel).resolve()
        if inside not in path.parents:
            raise ValueError(f"manifest.json names {rel!r}, outside the folder")
        return path

    results = []
    for name, stack in stacks.items():
        changed = [rel for rel in {stack["image"], *(e["file"] for e in stack["layers"])}
                   | ({m["file"] for m in manifest.get("outputs", {}).values()} if name != "canvas" else set())
                   if rel in printed and _fingerprint(file(rel)) != printed[rel]]
        if changed:
            results.append((name, f"changed since the export: {', '.join(sorted(changed))}"))
            continue
        target = file(stack["image"])
        with Image.open(target) as im:
            want = np.asarray(im.convert("RGB"))
        size = (want.shape[1], want.shape[0])
        layers = []
        for entry in stack["layers"]:
            with Image.open(file(entry["file"])) as im:
                pixels = np.asarray(im.convert("RGBA" if entry["kind"] != "scene" else "RGB"))
            x0, y0, x1, y1 = entry["box"]
            if pixels.shape[:2] != (y1 - y0, x1 - x0):
                results.append((name, f"layer {entry['name']} is {pixels.shape[1]} x {pixels.shape[0]} px, "
                                      f"its box {x1 - x0} x {y1 - y0}"))
                break
            layers.append((entry["kind"], tuple(entry["box"]), pixels))
        else:
            got = flatten(size, layers)
            differ = int(np.any(got != want, axis=2).sum())
            results.append((name, "ok" if not differ else
                            f"{differ} px differ from {stack['image']} (of {size[0] * size[1]})"))
    return results


def layer_files(rgba: np.ndarray, box: Box) -> list[bytes]:
    """A layer's RGBA and its alpha as PNGs cropped to its box (the offset in an oFFs chunk)."""
    from ..store.png import png_bytes
    from . import pngstream
    from .export import OUTPUT_PNG_LEVEL

    rgba = np.ascontiguousarray(rgba)
    return [pngstream.tag_srgb(png_bytes(rgba, OUTPUT_PNG_LEVEL), box[:2]),
            pngstream.tag_srgb(png_bytes(np.ascontiguousarray(rgba[..., 3]), OUTPUT_PNG_LEVEL), box[:2])]


def cut(box: Box, size: tuple[int, int]) -> Box:
    """A box cut to the edges of an image of `size`."""
    return (max(0, box[0]), max(0, box[1]), min(size[0], box[2]), min(size[1], box[3]))


def component_pixels(layer: Layer, box: Box, size: tuple[int, int]) -> tuple[np.ndarray, Box]:
    """A component layer's RGBA inside the image (its box cut to the image's edges)."""
    inside = cut(box, size)
    return layer.read(inside), inside


def stacks(executor, plan, hows: dict, stale, png_of, psd: bool = False, current=None) -> tuple[list, dict]:
    """The files of every stack of a variant (jobs for the export: ([files], make() → bytes)), and the
    manifest's `stacks`: per delivered image, the image it flattens to and its layers in order (and,
    with `psd`, its PSD; without, a PSD still true is kept). `stale(rel, key)` says whether a file
    must be written (and keeps it); `current(rel, key)` whether the folder holds it as it should be;
    `png_of(node)` is a node's PNG bytes."""
    v, g = plan.variant, executor.g
    result = executor.result  # read only when a file is written: a no-op export decodes nothing
    jobs: list = []
    out: dict = {}
    outputs_of = {key: name for name, key in v.outputs.items()}
    memo: dict[int, list] = {}
    lock = threading.Lock()

    def arrays(entries: list[Entry], size: tuple[int, int]) -> list[tuple[Box, np.ndarray]]:
        """Every layer's pixels of a stack, recolours folded into their components (made once)."""
        with lock:
            if id(entries) not in memo:
                memo[id(entries)] = fold(g, entries, size, lambda key: result(key, plan))
            return memo[id(entries)]

    def keyed(entries: list[Entry]) -> Callable[[Entry], str]:
        """What a layer file holds: its node's pixels; a component's also those of the recolours
        folded into it (a recolour's residual is decided by its own node: everything below it is
        upstream of it)."""
        folded: dict[str, list[str]] = {}
        for e in entries:
            a = g.nodes[e.node]
            if a["op"] == "recolor":
                folded.setdefault(a["inputs"][1], []).append(e.node)
        return lambda e: (hashlib.sha256(":".join(["fold:1", e.node, *folded[e.node]]).encode()).hexdigest()
                          if e.kind == "component" and e.node in folded else e.node)

    def named(e: Entry) -> str:
        node = g.nodes[e.node]
        return node["params"]["text"] if node["op"] == "text" else e.name  # a text layer: named by its text

    def add_psd(rel: str, entries: list[Entry], top: str, size: tuple[int, int]) -> None:
        said = [f"{e.node}={named(e)}" for e in entries]  # a renamed layer is a changed file
        key = hashlib.sha256(":".join(["psd:3", top, *said]).encode()).hexdigest()
        if not psd:
            if current(rel, key):  # a build without --psd keeps a PSD that still holds
                stale(rel, key)
            return
        if stale(rel, key):
            from .psd import psd_bytes

            jobs.append(([rel], lambda: [psd_bytes(size, [(named(e), e.kind, box, px) for e, (box, px)
                                                          in zip(entries, arrays(entries, size))],
                                                   result(top, plan).to_array())]))

    def add(prefix: str, entries: list[Entry], i: int, size: tuple[int, int]) -> dict:
        entry = entries[i]
        stem = entry.name.removesuffix(f" in {prefix}") if prefix else entry.name
        folder = f"{prefix}/" if prefix else ""
        rel, mask = f"layers/{folder}{stem}.png", f"masks/{folder}{stem}.png"
        if entry.kind == "scene":  # "@": no component or edit name holds one
            rel = f"layers/{folder}@scene.png"
        record = {"name": entry.name, "kind": entry.kind, "node": entry.node, "file": rel}
        if entry.kind == "scene":
            record["box"] = list(entry.box)
            if stale(rel, entry.node):
                jobs.append(([rel], lambda key=entry.node: [png_of(key)]))
            return record
        box = entry.box if entry.kind == "edit" else cut(entry.box, size)
        key = keyed(entries)(entry)
        if any([stale(f, key) for f in (rel, mask)]):
            jobs.append(([rel, mask], lambda: layer_files(*arrays(entries, size)[i][::-1])))
        node = g.nodes[entry.node]
        record.update(box=list(box), mask=mask, **({"text": node["params"]["text"]} if node["op"] == "text" else {}))
        return record

    canvas_image = "canvas.png" if v.image not in outputs_of else hows[outputs_of[v.image]]["file"]
    entries = canvas_stack(g, v)
    out["canvas"] = {"image": canvas_image, "size": list(v.canvas),
                     "layers": [add("", entries, i, v.canvas) for i in range(len(entries))]}
    add_psd(f"{v.brief}.psd", entries, v.image, v.canvas)
    for name, key in v.outputs.items():
        if key == v.image:
            continue
        size = tuple(v.formats[name]["size"])
        entries = output_stack(g, name, key, size)
        how = hows[name]
        if len(entries) == 1 and how["format"] == "png":  # the output itself is its one layer
            layers = [{"name": "scene", "kind": "scene", "node": key, "file": how["file"], "box": [0, 0, *size]}]
        else:
            layers = [add(name, entries, i, size) for i in range(len(entries))]
        image = how["file"]
        if how["format"] != "png":  # lossy: the layers flatten to its PNG master, delivered beside them
            image = f"layers/{name}/@flat.png"
            if stale(image, key):
                jobs.append(([image], lambda k=key: [png_of(k)]))
        out[name] = {"image": image, "size": list(size), "layers": layers}
        add_psd(f"{v.brief}-{name}.psd", entries, key, size)
    return jobs, out
