"""Brand rules, measured: pure functions over the rendered image, the layers and the rule's
parameters, each returning a result with the target, the measured figure and a status.

Colour science is CIELAB (D65) from sRGB and CIEDE2000 (scikit-image), reference colour first.
A status is `pass` when the target is met, `warn` while the measurement misses it by at most a
factor of WARN_FACTOR (1.75) of the target itself — up to 1.75 × an at-most target (p95 ΔE00), down
to target / 1.75 for an at-least one (palette coverage, minimum size) — and `fail` beyond, so every
rule can fail at every target it accepts; the warn band is printed in the target text. Clear space
and safe zone allow no intrusion at all: pass or fail. A rule about an empty or fully transparent
layer is `skipped` with a note, never a division by zero, except `minsize`: an invisible component
is below any minimum size, so it fails.
"""

from __future__ import annotations

import base64
import io
import math

import cv2
import numpy as np
from PIL import Image

from ..render import imaging
from ..store.tiles import Layer

WARN_FACTOR = 1.75
SAMPLE = 256  # longest side of the downsample used for palette statistics
VISIBLE = 128  # alpha above which a layer pixel counts as visible


def _status(measured: float, target: float, *, at_most: bool) -> str:
    """pass when `measured` meets `target` (≤ it if `at_most`, else ≥ it); warn while it misses by
    at most a factor of WARN_FACTOR of the target; fail beyond."""
    if at_most:
        return "pass" if measured <= target + 1e-9 else "warn" if measured <= target * WARN_FACTOR + 1e-9 else "fail"
    return "pass" if measured >= target - 1e-9 else "warn" if measured >= target / WARN_FACTOR - 1e-9 else "fail"


def _band(value: float) -> str:
    return f"{round(value, 1):g}"


def _downsample(rgb: np.ndarray) -> np.ndarray:
    h, w = rgb.shape[:2]
    scale = min(1.0, SAMPLE / max(h, w))
    return cv2.resize(rgb, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)


def _heatmap(delta: np.ndarray, within: float) -> str:
    """A PNG (base64) of where pixels miss the target: transparent where fine, red where not."""
    over = np.clip((delta - within) / max(within, 1.0), 0, 1)
    rgba = np.zeros(delta.shape + (4,), np.uint8)
    rgba[..., 0] = 255
    rgba[..., 3] = np.rint(40 + over * 90).astype(np.uint8) * (over > 0)  # see-through: the image shows
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def palette(params: dict, image: np.ndarray) -> dict:
    """Share of pixels within ΔE of some brand colour; and the image's colour clusters."""
    within, coverage = float(params["within"]), float(params["coverage"])
    colors = params["colors"]
    result = {"rule": "palette", "target": f"≥ {coverage:g}% within ΔE {within:g} (warn from "
                                           f"{_band(coverage / WARN_FACTOR)}%)", "unit": "%"}
    if not colors:
        return {**result, "status": "skipped", "measured": None, "note": "the brand has no colours"}
    small = _downsample(image)
    lab = imaging.to_lab(small)
    refs = [imaging.to_lab(np.array(imaging.hex_rgb(h), np.uint8).reshape(1, 1, 3))[0, 0] for h in colors.values()]
    delta = np.min(np.stack([imaging.delta_e(ref, lab) for ref in refs]), axis=0)
    share = float((delta <= within).mean() * 100)
    clusters = []
    samples = lab.reshape(-1, 3).astype(np.float32)
    k = min(5, len(samples))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centres = cv2.kmeans(samples, k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    counts = np.bincount(labels.ravel(), minlength=k)
    names = list(colors)
    for i in np.argsort(-counts):
        d = [float(imaging.delta_e(ref, centres[i].astype(np.float64))) for ref in refs]
        j = int(np.argmin(d))
        rgb = imaging.from_lab(centres[i].astype(np.float64).reshape(1, 1, 3))[0, 0]
        clusters.append({"hex": "#%02X%02X%02X" % tuple(int(c) for c in rgb), "share": round(float(counts[i] / counts.sum() * 100), 1),
                         "nearest": names[j], "delta_e": round(d[j], 2)})
    return {**result, "measured": round(share, 2), "status": _status(share, coverage, at_most=False),
            "clusters": clusters, "heatmap": _heatmap(delta, within)}


def sku_color(params: dict, image: np.ndarray, layer: Layer) -> dict:
    """The component's dominant colour cluster against its SKU colour: p95 CIEDE2000. `image`:
    the canvas's pixels over the layer's box."""
    within, target = float(params["within"]), params["target"]
    result = {"rule": "color", "component": params["component"], "unit": "ΔE00",
              "target": f"p95 ΔE00 ≤ {within:g} to {params['color']} {target} (warn to {_band(within * WARN_FACTOR)})"}
    x0, y0, x1, y1 = layer.box
    alpha = layer.alpha
    visible = alpha >= VISIBLE
    if not visible.any():
        return {**result, "status": "skipped", "measured": None, "note": f"`{params['component']}` is fully transparent"}
    pixels = image[visible]
    lab = imaging.to_lab(pixels.reshape(-1, 1, 3)).reshape(-1, 3)
    _, member = imaging.dominant_cluster(lab)
    ref = imaging.to_lab(np.array(imaging.hex_rgb(target), np.uint8).reshape(1, 1, 3))[0, 0]
    delta = imaging.delta_e(ref, lab[member])
    p95 = float(np.percentile(delta, 95))
    heat = np.zeros(alpha.shape, np.float64)
    where = np.zeros(alpha.shape, bool)
    where[visible] = member
    heat[where] = delta
    out = {**result, "measured": round(p95, 2), "status": _status(p95, within, at_most=True),
           "box": list(layer.box), "heatmap": _heatmap(heat, within)}
    if out["status"] != "pass":
        out["fix"] = f"edit fix_{params['component']} {{ recolor {params['component']} to {params['color']} }}"
    return out


def clearspace(params: dict, image: np.ndarray, layers: dict[str, Layer], canvas: tuple[int, int]) -> dict:
    """No other visible layer (backgrounds covering the whole canvas aside) inside the logo's box
    grown by k × its height, clipped at the canvas edge. With a brand logo, the component must
    place that very file (same sha256; the checker refuses others with E314, this guards graphs
    that did not come through it)."""
    name, k = params["component"], float(params["factor"])
    result = {"rule": "clearspace", "component": name, "target": f"0 px of other layers within {k:g} × logo height",
              "unit": "px"}
    if params.get("logo_sha256"):
        result["logo_sha256"] = params["logo_sha256"]
        if params.get("sha256") != params["logo_sha256"]:
            return {**result, "status": "fail", "measured": None,
                    "note": f"`{name}` (sha256 {str(params.get('sha256'))[:12]}) is not the brand's logo "
                            f"(sha256 {params['logo_sha256'][:12]})"}
    logo = layers[name]
    ys, xs = np.nonzero(logo.alpha >= VISIBLE)
    if not len(xs):
        return {**result, "status": "skipped", "measured": None, "note": f"`{name}` is fully transparent"}
    bx0, by0 = logo.box[0] + xs.min(), logo.box[1] + ys.min()
    bx1, by1 = logo.box[0] + xs.max() + 1, logo.box[1] + ys.max() + 1
    margin = int(round(k * (by1 - by0)))
    zone = imaging.grow((int(bx0), int(by0), int(bx1), int(by1)), margin, canvas)
    intruding = 0
    offenders = []
    for other, layer in layers.items():
        background = other in params["backgrounds"] if "backgrounds" in params else layer.box == (0, 0, *canvas)
        if other == name or background:
            continue
        count = int((imaging.layer_alpha_in(layer, zone) >= VISIBLE).sum())
        if count:
            intruding += count
            offenders.append(other)
    return {**result, "measured": intruding, "status": "pass" if not intruding else "fail", "zone": list(zone),
            "logo_box": [int(bx0), int(by0), int(bx1), int(by1)], "offenders": offenders}


def safezone(params: dict, layers: dict[str, Layer], canvas: tuple[int, int]) -> dict:
    """Placed assets and text stay inside the margins (top, right, bottom, left: the output's own safe
    zone, or the brand's on every side): pixels of theirs in the band."""
    top, right, bottom, left = (int(m) for m in params["margins"])
    W, H = canvas
    said = f"{top} px" if top == right == bottom == left else f"{top}/{right}/{bottom}/{left} px (top/right/bottom/left)"
    result = {"rule": "safezone", "target": f"0 px of assets and text within {said} of the edge", "unit": "px",
              "margins": [top, right, bottom, left]}
    inner = (left, top, W - right, H - bottom)
    intruding, offenders, notes = 0, [], []
    for name in params["components"]:
        layer = layers[name]
        alpha = layer.alpha >= VISIBLE
        if not alpha.any():
            notes.append(f"`{name}` is fully transparent")
            continue
        inside = imaging.layer_alpha_in(layer, inner) >= VISIBLE if imaging.intersect(layer.box, inner) else np.zeros(0)
        outside = int(alpha.sum()) - int(inside.sum())
        if outside:
            intruding += outside
            offenders.append(name)
    status = "pass" if not intruding else "fail"
    if not params["components"]:
        status, notes = "skipped", ["no placed assets to check"]
    return {**result, "measured": intruding, "status": status, "offenders": offenders, "notes": notes}


def minsize(params: dict, layer: Layer) -> dict:
    """The visible extent of the component against the minimum; an invisible one is 0 x 0: it fails."""
    name, (mw, mh) = params["component"], params["min"]
    warn_w, warn_h = (math.ceil(side / WARN_FACTOR - 1e-9) for side in (mw, mh))
    result = {"rule": "minsize", "component": name, "target": f"≥ {mw} x {mh} px (warn from {warn_w} x {warn_h})",
              "unit": "px"}
    ys, xs = np.nonzero(layer.alpha >= VISIBLE)
    if not len(xs):
        return {**result, "status": "fail", "measured": "0 x 0", "note": f"`{name}` is fully transparent"}
    w, h = int(xs.max() - xs.min() + 1), int(ys.max() - ys.min() + 1)
    ratio = min(w / max(mw, 1), h / max(mh, 1))
    return {**result, "measured": f"{w} x {h}", "status": _status(ratio, 1.0, at_most=False)}


def contrast(params: dict, image, layer: Layer, text: dict) -> dict:
    """WCAG 2 contrast of a text layer's colour against what lies under its glyphs. The canvas
    holds the text itself there, so "under" is read where a reader sees it: the pixels of the text's
    box next to its glyphs (within a few px of them) and not covered by them. The figure judged is
    the 5th percentile of the per-pixel ratios (runtime/brand/contrast.py). Without a ratio in the
    rule the WCAG AA minimum applies: 3.0 for large text (≥ 24 px, or ≥ 18.66 px bold), else 4.5."""
    from . import contrast as wcag

    name, colour = params["component"], params["color"]
    size, bold = text.get("size", 0), bool(text.get("bold"))
    target = params.get("ratio") or wcag.default_threshold(size, bold)
    result = {"rule": "contrast", "component": name, "unit": "",
              "target": f"≥ {_band(target)}:1 (WCAG 2{', large text' if params.get('ratio') is None and target < 4.5 else ''}; "
                        f"warn from {_band(target / WARN_FACTOR)})"}
    covered = layer.alpha >= VISIBLE
    if not covered.any():
        return {**result, "status": "skipped", "measured": "–", "note": f"`{name}` has no visible glyphs"}
    reach = max(2, round(size / 8)) if size else 3
    near = cv2.dilate(covered.astype(np.uint8), np.ones((2 * reach + 1, 2 * reach + 1), np.uint8)) > 0
    under = near & (layer.alpha == 0)
    pixels = image.read(layer.box)[..., :3][under]
    rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    measured = wcag.text_contrast(rgb, pixels)
    if measured["status"] == "skipped":
        return {**result, "status": "skipped", "measured": "–", "note": "nothing around the glyphs to measure"}
    ratio = measured["ratio"]
    return {**result, "measured": f"{ratio:.2f}:1", "value": round(ratio, 3), "median": round(measured["median"], 3),
            "status": _status(ratio, target, at_most=False)}


def visible(params: dict, layer: Layer) -> dict:
    """The component's visible pixels lie whole inside every output, where that output's mode puts
    the canvas (crop scales to cover and cuts; fit and outpaint keep all of it)."""
    from ..render.formats import Placement

    name, canvas = params["component"], tuple(params["canvas"])
    result = {"rule": "visible", "component": name, "target": "whole inside the output", "unit": ""}
    ys, xs = np.nonzero(layer.alpha >= VISIBLE)
    if not len(xs):
        return {**result, "status": "fail", "measured": "invisible", "note": f"`{name}` is fully transparent"}
    x0, y0 = layer.box[0] + int(xs.min()), layer.box[1] + int(ys.min())
    x1, y1 = layer.box[0] + int(xs.max()) + 1, layer.box[1] + int(ys.max()) + 1
    cut = []
    for output, spec in params["outputs"].items():
        ow, oh = spec["size"]
        place = Placement.of(canvas, (ow, oh), "fit" if spec["mode"] == "canvas" else spec["mode"])
        sx, sy = 1 / place.factors[0], 1 / place.factors[1]
        box = (place.box[0] + x0 * sx, place.box[1] + y0 * sy, place.box[0] + x1 * sx, place.box[1] + y1 * sy)
        inside = max(0.0, min(box[2], ow) - max(box[0], 0)) * max(0.0, min(box[3], oh) - max(box[1], 0))
        share = inside / max((box[2] - box[0]) * (box[3] - box[1]), 1e-9)
        if share < 0.999:
            cut.append(f"{output} ({share:.0%} inside)")
    if cut:
        return {**result, "status": "fail", "measured": "cut in " + ", ".join(cut)}
    return {**result, "status": "pass", "measured": "whole"}


def evaluate(params: dict, image, inputs: list[Layer], names: list[str], text: dict | None = None) -> dict:
    """Dispatch one rule. `image` is what the rule measures of the canvas (a tiled image, read only
    where the rule looks: `palette` gets the canvas's thumbnail); `inputs` are the layers the graph
    gave the check node, named by `names`."""
    rule = params["rule"]
    canvas = tuple(params["canvas"])
    if rule == "palette":
        return palette(params, image.to_array())
    if rule == "color":
        layer = inputs[0]
        return sku_color(params, image.read(layer.box), layer)
    if rule == "minsize":
        return minsize(params, inputs[0])
    if rule == "contrast":
        return contrast(params, image, inputs[0], text or {})
    if rule == "visible":
        return visible(params, image)  # its only input: the component's layer
    layers = dict(zip(names, inputs))
    if rule == "clearspace":
        return clearspace(params, image, layers, canvas)
    if rule == "safezone":
        return safezone(params, layers, canvas)
    raise ValueError(f"unknown rule {rule!r}")
