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

import json
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


def flatten(size: tuple[int, int], layers: list[tuple[str, Box, np.ndarray]]) -> np.ndarray:
    """`layers` (kind, box, RGBA or RGB pixels) flattened in order: a scene is taken whole, every
    other layer blended over what is below with the renderer's own compositing."""
    from ..render import imaging  # (OpenCV, scikit-image): imported by what flattens, not by an export

    W, H = size
    out = np.empty((H, W, 3), np.uint8)
    out[...] = imaging.BACKGROUND
    for kind, box, pixels in layers:
        if kind == "scene":
            out[box[1]:box[3], box[0]:box[2]] = pixels[..., :3]
        else:
            imaging.blend_into(out, (0, 0, W, H), Layer(box, pixels))
    return out


def verify_folder(folder: Path) -> list[tuple[str, str]]:
    """Each delivered image of a variant's folder against its layers: (image, "ok" or what differs)."""
    from PIL import Image

    manifest = json.loads((folder / "manifest.json").read_text())
    results = []
    for name, stack in manifest.get("stacks", {}).items():
        target = folder / stack["image"]
        with Image.open(target) as im:
            want = np.asarray(im.convert("RGB"))
        size = (want.shape[1], want.shape[0])
        layers = []
        for entry in stack["layers"]:
            with Image.open(folder / entry["file"]) as im:
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
    from ..store.cache import png_bytes
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


def stacks(executor, plan, hows: dict, stale, png_of, psd: bool = False) -> tuple[list, dict]:
    """The files of every stack of a variant (jobs for the export: ([files], make() → bytes)), and the
    manifest's `stacks`: per delivered image, the image it flattens to and its layers in order (and,
    with `psd`, its PSD). `stale(rel, key)` says whether a file must be written; `png_of(node)` is a
    node's PNG bytes."""
    import hashlib

    v, g = plan.variant, executor.g
    result = executor.result  # read only when a file is written: a no-op export decodes nothing

    def pixels(e: Entry, size: tuple[int, int]) -> tuple[str, str, Box, np.ndarray]:
        node = g.nodes[e.node]
        name = node["params"]["text"] if node["op"] == "text" else e.name  # a text layer: named by its text
        if e.kind == "scene":
            return name, e.kind, e.box, result(e.node, plan).read(e.box)
        if e.kind == "edit":
            return name, e.kind, e.box, patch(result(e.before, plan), result(e.node, plan), e.box)
        rgba, box = component_pixels(result(e.node, plan), e.box, size)
        return name, e.kind, box, rgba

    def add_psd(rel: str, entries: list[Entry], top: str, size: tuple[int, int]) -> None:
        key = hashlib.sha256(":".join(["psd:1", top, *(e.node for e in entries)]).encode()).hexdigest()
        if psd and stale(rel, key):
            from .psd import psd_bytes

            jobs.append(([rel], lambda: [psd_bytes(size, [pixels(e, size) for e in entries],
                                                   result(top, plan).to_array())]))
    jobs: list = []
    out: dict = {}
    outputs_of = {key: name for name, key in v.outputs.items()}

    def add(prefix: str, entry: Entry, size: tuple[int, int]) -> dict:
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
        if entry.kind == "edit":
            box = entry.box
            if any([stale(f, entry.node) for f in (rel, mask)]):
                jobs.append(([rel, mask], lambda e=entry: layer_files(
                    patch(result(e.before, plan), result(e.node, plan), e.box), e.box)))
        else:
            box = cut(entry.box, size)
            if any([stale(f, entry.node) for f in (rel, mask)]):
                jobs.append(([rel, mask], lambda e=entry, s=size: layer_files(
                    *component_pixels(result(e.node, plan), e.box, s))))
        node = g.nodes[entry.node]
        record.update(box=list(box), mask=mask, **({"text": node["params"]["text"]} if node["op"] == "text" else {}))
        return record

    canvas_image = "canvas.png" if v.image not in outputs_of else hows[outputs_of[v.image]]["file"]
    entries = canvas_stack(g, v)
    out["canvas"] = {"image": canvas_image, "size": list(v.canvas), "layers": [add("", e, v.canvas) for e in entries]}
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
            layers = [add(name, e, size) for e in entries]
        image = how["file"]
        if how["format"] != "png":  # lossy: the layers flatten to its PNG master, delivered beside them
            image = f"layers/{name}/@flat.png"
            if stale(image, key):
                jobs.append(([image], lambda k=key: [png_of(k)]))
        out[name] = {"image": image, "size": list(size), "layers": layers}
        add_psd(f"{v.brief}-{name}.psd", entries, key, size)
    return jobs, out
