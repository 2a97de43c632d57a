"""The draft backend: real compositing, colour and classical image operations; procedural
placeholders instead of a diffusion model. No weights, no torch, deterministic, fast.

`OPS` maps each graph op to a plain function `op(ctx, params, inputs) -> result`. The diffusers
backend reuses the ops that need no model (placing assets, compositing, recolouring, formats).
"""

from __future__ import annotations

from brief.lang.geometry import edit_read_pad

from ..context import OpContext, OpError
from ..store.tiles import TILE, Layer, TiledImage
from . import lazy_module, version_of

# imported by the first op that runs: compiling, planning and a build with nothing to render do without
np = lazy_module("numpy")
cv2 = lazy_module("cv2")
checks = lazy_module("brief.runtime.brand.checks")
images = lazy_module("brief.runtime.render.images")
imaging = lazy_module("brief.runtime.render.imaging")
formats = lazy_module("brief.runtime.render.formats")
tex = lazy_module("brief.runtime.backends.draft_textures")
edits = lazy_module("brief.runtime.backends.draft_edits")

REMOVE_PAD = edit_read_pad("draft", "remove")  # px of surroundings a removal's in-painting reads around its region


def encode_prompt(ctx: OpContext, params: dict, inputs: list) -> dict:
    return tex.describe(params["prompt"], params.get("negative", ""))


def _shape_alpha(ctx: OpContext, params: dict, ref: Layer | None) -> np.ndarray | None:
    """The alpha a region's shape imposes inside its box (mask file or band), or None for a box."""
    box = tuple(params["box"])
    if params.get("shape") == "mask":
        return imaging.mask_from_file(ctx.path("mask"), ctx.canvas, box, params.get("mask_sha256"))
    if params.get("shape") == "around" and ref is not None:
        return imaging.band_mask(ref, params["band"], box)
    return None


def _finish_layer(ctx: OpContext, params: dict, rgba: np.ndarray, ref: Layer | None) -> Layer:
    shape = _shape_alpha(ctx, params, ref)
    if shape is not None:
        rgba = rgba.copy()
        rgba[..., 3] = np.rint(rgba[..., 3] * shape).astype(np.uint8)
    return Layer(tuple(params["box"]), imaging.soften(rgba, params.get("feather", 0), params.get("opacity", 1)))


_fitted: dict[tuple, object] = {}  # (asset sha256, w, h, fit) → its pixels: one asset placed at one size many times
FITTED_BYTES = 64 * 2**20  # what that memo may hold


def load_asset(ctx: OpContext, params: dict, inputs: list) -> Layer:
    box = tuple(params["box"])
    memo = (params.get("sha256"), box[2] - box[0], box[3] - box[1], params.get("fit", "contain"))
    rgba = _fitted.get(memo) if memo[0] else None
    if rgba is None:
        img = images.open_image(ctx.path("asset"), params.get("sha256"))
        rgba = imaging.fit_image(img, box, memo[3])
        if memo[0] and rgba.nbytes <= FITTED_BYTES // 4:
            while _fitted and sum(a.nbytes for a in _fitted.values()) + rgba.nbytes > FITTED_BYTES:
                _fitted.pop(next(iter(_fitted)))
            _fitted[memo] = rgba  # never changed in place: the layer's softening copies it
    return _finish_layer(ctx, params, rgba, inputs[0] if inputs else None)


def text(ctx: OpContext, params: dict, inputs: list) -> Layer:
    """A text layer, typeset with its brand font into its box (runtime/render/text.py); the same in
    every backend: text is never generated."""
    import hashlib

    from ..render.text import TextError, typeset

    font = ctx.path("font")
    try:
        data = font.read_bytes()
    except OSError as exc:
        raise OpError(f"cannot read the font {font.name}: {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != params["font_sha256"]:
        raise OpError(f"the font {font.name} changed since the brief was compiled; build again")
    box = params["box"]
    colour = params["color"]
    try:
        layout = typeset(params["text"], font, (box[2] - box[0], box[3] - box[1]), size=params.get("size"),
                         auto=tuple(params["auto"]) if "auto" in params else None,
                         color=(int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)),
                         align=params.get("align", "left"))
    except TextError as exc:
        raise OpError(str(exc)) from None
    ctx.meta["text"] = {"size": layout.size, "lines": list(layout.lines), "bold": layout.bold}
    return _finish_layer(ctx, params, layout.rgba, inputs[0] if inputs else None)


def generate(ctx: OpContext, params: dict, inputs: list) -> Layer:
    if params.get("control"):  # the guiding layer comes last; a placeholder has no model to guide
        inputs = inputs[:-1]
    desc, rest = inputs[0], inputs[1:]
    ref = rest[0] if params.get("shape") == "around" and rest else None
    below = rest[1:] if ref is not None else rest
    box = tuple(params["box"])
    w, h = box[2] - box[0], box[3] - box[1]
    full = box == (0, 0, *ctx.canvas)
    rgb = tex.texture(desc, w, h, params["seed"], full_height=ctx.canvas[1], y_offset=box[1])
    if below:  # generated over the scene: take on a little of the colour beneath (a band at a time)
        total = np.zeros(3, np.float64)
        for y0 in range(box[1], box[3], tex.BAND):
            band = (box[0], y0, box[2], min(box[3], y0 + tex.BAND))
            total += imaging.composite_region(band, below).reshape(-1, 3).sum(axis=0, dtype=np.float64)
        tint = (total / (w * h) * 0.15).astype(np.float32)
        for y0 in range(0, h, tex.BAND):
            rows = rgb[y0:y0 + tex.BAND]
            rows[...] = np.clip(np.rint(rows * np.float32(0.85) + tint), 0, 255).astype(np.uint8)
    strength = float(params.get("strength", 1))
    if not full:
        rgb = tex.label(rgb, desc["label"])
        alpha = tex.blob_alpha(w, h, params["seed"]) if params.get("shape") in ("box", "anchor", "full") else \
            np.full((h, w), 255, np.uint8)
    else:
        alpha = np.full((h, w), 255, np.uint8)
    rgba = np.empty((h, w, 4), np.uint8)
    rgba[..., :3] = rgb
    del rgb
    rgba[..., 3] = alpha if strength >= 1 else np.rint(alpha * strength).astype(np.uint8)
    return _finish_layer(ctx, params, rgba, ref)


def composite(ctx: OpContext, params: dict, inputs: list[Layer]) -> TiledImage:
    """Layers in z order over the background. With the previous composite of this brief at hand,
    only the tiles under layers that changed (their old and new boxes) are recomputed."""
    W, H = ctx.canvas
    keys = list(ctx.node["inputs"])
    boxes = [list(layer.box) for layer in inputs]
    ctx.meta.update(layers=[[k, b] for k, b in zip(keys, boxes)])
    dirty = _changed_boxes(ctx, keys, boxes)
    if dirty is None:  # every tile, one at a time (memory ∝ a tile, whatever the canvas)
        out = TiledImage(W, H, 3)
        on: dict[tuple[int, int], list[Layer]] = {}  # the layers over each tile, bottom to top
        for layer in inputs:
            for tile in out.tiles_in(layer.box):
                on.setdefault(tile, []).append(layer)
        for ty in range(-(-H // TILE)):
            for tx in range(-(-W // TILE)):
                out.pixels[(tx, ty)] = imaging.composite_region(out.tile_box(tx, ty), on.get((tx, ty), []))
        return out
    base, tiles = dirty
    out = base
    for tx, ty in tiles:
        tbox = base.tile_box(tx, ty)
        out = out.replaced(tbox, imaging.composite_region(tbox, [l for l in inputs if imaging.intersect(l.box, tbox)]))
    return out


def _changed_boxes(ctx: OpContext, keys: list[str], boxes: list) -> tuple[TiledImage, set] | None:
    prev = ctx.previous
    if not prev or prev.get("key") == ctx.key:
        return None
    got = ctx.cache.get(prev["key"])
    record = ctx.cache.get_json(prev["key"]) if got else None
    if record is None or got[1].get("layers") is None or record.get("size") != [*ctx.canvas]:
        return None
    base = TiledImage.load(record, ctx.cache)
    if not all(ctx.cache.has(k) for k in base.tile_keys()):
        return None
    old = {k: tuple(b) for k, b in got[1]["layers"]}
    old_order = [k for k, _ in got[1]["layers"]]
    changed: list[tuple] = []
    if [k for k in old_order if k in keys] != [k for k in keys if k in old]:  # restacked: all of them
        changed = [tuple(b) for b in boxes] + list(old.values())
    else:
        changed += [tuple(b) for k, b in zip(keys, boxes) if k not in old]
        changed += [b for k, b in old.items() if k not in keys]
    tiles = {t for box in changed for t in base.tiles_in(box)}
    return base, tiles


def _edit_mask(ctx: OpContext, params: dict, ref: Layer | None) -> np.ndarray:
    box = tuple(params["box"])
    shape = _shape_alpha(ctx, params, ref)
    if shape is None:
        return np.ones((box[3] - box[1], box[2] - box[0]), np.float32)
    return shape.astype(np.float32)


def inpaint(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """What the prompt asks of the region, without a model (draft_edits: a shadow prompt around a
    component is a contact shadow under it; another prompt, its texture blended in softly)."""
    image, desc = inputs[0], inputs[1]
    ref = inputs[2] if len(inputs) > 2 else None
    box = tuple(params["box"])
    alpha = imaging.layer_alpha_in(ref, box).astype(np.float32) / 255 if ref is not None else None
    out = edits.inpaint(image.read(box), desc, _edit_mask(ctx, params, ref), params.get("shape", "box"),
                        params["seed"], float(params.get("strength", 1)), alpha, int(params.get("band", 0)))
    return image.replaced(box, out)


def remove(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """The region made again from its surroundings (REMOVE_PAD px around it): multi-scale in-painting
    with the surroundings' grain (imaging.fill_hole), blended by the region's own soft edge."""
    image, ref = inputs[0], (inputs[1] if len(inputs) > 1 else None)
    box = tuple(params["box"])
    crop = imaging.grow(box, REMOVE_PAD, image.size)
    weight = np.zeros((crop[3] - crop[1], crop[2] - crop[0]), np.float32)
    inside = (slice(box[1] - crop[1], box[3] - crop[1]), slice(box[0] - crop[0], box[2] - crop[0]))
    weight[inside] = np.clip(_edit_mask(ctx, params, ref), 0, 1)
    weight[weight <= 0.02] = 0
    pixels = image.read(crop)
    filled = imaging.fill_hole(np.ascontiguousarray(pixels), weight > 0, seed=edits.region_seed(box))
    return image.replaced(crop, imaging.blend_masked(pixels, filled, weight))


def recolor(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    image, layer = inputs
    box = layer.box
    weight = layer.alpha.astype(np.float32) / 255.0
    rgb = image.read(box)
    moved = imaging.recolor_pixels(rgb, weight, params["target"], float(params["within"]))
    return image.replaced(box, imaging.blend_masked(rgb, moved, weight))


def harmonize(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """Soften the seam around a component: blend a blurred copy into a band around its alpha, most at
    its edge and fading to nothing at the band's outer edge (draft_edits.fading_band)."""
    image, layer = inputs
    box = tuple(params["box"])
    band = edits.fading_band(imaging.layer_alpha_in(layer, box).astype(np.float32) / 255, params["band"])
    pixels = image.read(box)
    blurred = cv2.GaussianBlur(pixels, (0, 0), max(1.0, params["band"] / 3))
    return image.replaced(box, imaging.blend_masked(pixels, blurred, band * 0.8))


def reframe(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """A `crop` or `fit` format, tile by tile: after a change, only the tiles it reaches."""
    return formats.reframe(inputs[0], tuple(params["size"]), params["mode"], ctx.before, ctx.changed)


def outpaint(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """The classical out-paint, tile by tile: after a change away from the border, only the tiles it reaches."""
    return formats.outpaint(inputs[0], tuple(params["size"]), params.get("seed", 0), ctx.before, ctx.changed)


def layout(ctx: OpContext, params: dict, inputs: list) -> TiledImage:
    """An output's own layout: the layers it lays out itself over its scene (runtime/render/layout.py)."""
    from ..render.layout import layout as lay_out

    return lay_out(inputs[0], list(inputs[1:]))


def reframe_layer(ctx: OpContext, params: dict, inputs: list) -> Layer:
    """A canvas layer mapped into an output by its mode (what the output's rules measure)."""
    from ..render.layout import reframe_layer as mapped

    layer = mapped(inputs[0], tuple(params["canvas"]), tuple(params["size"]), params["mode"], tuple(params["box"]))
    text = (ctx.cache.get_meta(ctx.node["inputs"][0]) or {}).get("text")
    if text:  # a text layer's size, as it reads in this output (the contrast rule's large-text test)
        scale = (params["box"][2] - params["box"][0]) / max(1, inputs[0].box[2] - inputs[0].box[0])
        ctx.meta["text"] = {**text, "size": text["size"] * scale}
    return layer


def check(ctx: OpContext, params: dict, inputs: list) -> dict:
    """A brand rule measured on the rendered image and layers (runtime/brand/checks.py)."""
    image, layers = inputs[0], inputs[1:]
    text = None
    if params["rule"] == "contrast":  # what the text layer was typeset at (its size and weight)
        text = (ctx.cache.get_meta(ctx.node["inputs"][1]) or {}).get("text", {})
    result = checks.evaluate(params, image, layers, params.get("layers", []), text)
    return {**result, "output": params["output"]} if params.get("output") else result


VERSION = 3  # bump when an op's pixels change for the same inputs (2: textures by bands, a palette table;
#             3: multi-scale removal, contact shadows, faded bands, mirrored out-paint margins)


def lock(declared: dict, options: dict | None = None) -> dict:
    """What draft results depend on besides the graph: this module's version and the libraries
    whose arithmetic makes the pixels (from their metadata: nothing is imported to ask)."""
    return {**declared, "draft": VERSION, **draft_versions()}


def refine(ctx: OpContext, params: dict, inputs: list) -> Layer:
    """A placed image relit toward the scene under it, without a model: its lightness (CIELAB L*)
    moved toward that of its surroundings in the padded crop by half of `strength`, its hue and
    chroma kept, inside its own alpha (the model backends repaint it by image to image)."""
    placed, below = inputs[1], list(inputs[2:])
    box, crop = tuple(params["box"]), tuple(params["crop"])
    rgba = placed.rgba
    alpha = rgba[..., 3]
    if not below or not (alpha > 0).any():
        return placed
    scene = imaging.composite_region(crop, below)
    ring = np.ones(scene.shape[:2], bool)
    ring[box[1] - crop[1]:box[3] - crop[1], box[0] - crop[0]:box[2] - crop[0]] = False
    if not ring.any():
        return placed
    lab = imaging.to_lab(rgba[..., :3])
    inside = alpha > 0
    shift = 0.5 * float(params["strength"]) * (float(imaging.to_lab(scene[ring])[..., 0].mean())
                                               - float(lab[..., 0][inside].mean()))
    lab[..., 0] = np.clip(lab[..., 0] + shift * (alpha / 255.0), 0, 100)
    out = rgba.copy()
    out[..., :3] = imaging.from_lab(lab)
    return Layer(box, out)


def draft_versions() -> dict[str, str]:
    return {"numpy": version_of("numpy", "numpy"),
            "opencv": version_of("cv2", "opencv-python-headless", "opencv-python", "opencv-contrib-python-headless",
                                 "opencv-contrib-python"),
            "pillow": version_of("PIL", "pillow"), "scikit-image": version_of("skimage", "scikit-image")}


# Each edit op writes only inside its region and reads only inside the node's `reads` boxes
# (lang/compile.py: the region grown by EDIT_READ_PAD for inpaint and remove): the plan reuses an
# edit's last pixels when nothing it reads changed (lang/impact.py). tests/test_draft.py holds
# every op to it.

OPS = {
    "encode_prompt": encode_prompt, "load_asset": load_asset, "text": text, "generate": generate,
    "composite": composite,
    "inpaint": inpaint, "remove": remove, "recolor": recolor, "harmonize": harmonize,
    "reframe": reframe, "outpaint": outpaint, "layout": layout, "reframe_layer": reframe_layer, "check": check,
    "refine": refine,
}
