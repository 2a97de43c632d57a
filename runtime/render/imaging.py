"""Pixel operations shared by the backends: placing assets, masks and bands, exact integer alpha
compositing and colour science (sRGB → CIELAB D65, CIEDE2000). Output formats are formats.py's.

Everything is deterministic and local: an operation on a box reads a fixed neighbourhood of it
and writes only inside it, so computing a region alone gives the same bytes as computing the
whole canvas. Compositing uses integer arithmetic, identical on every machine.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image
from skimage.color import deltaE_ciede2000, lab2rgb, rgb2lab

from brief.lang import geometry

from . import images
from ..store.tiles import Layer

Box = tuple[int, int, int, int]
BACKGROUND = (255, 255, 255)  # what shows where no layer covers the canvas
grow = geometry.grow  # one definition of growing a box on the canvas, for the backends


def intersect(a: Box, b: Box) -> Box | None:
    box = (max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3]))
    return box if box[0] < box[2] and box[1] < box[3] else None


# ── placing ───────────────────────────────────────────────────────────────────

def fit_image(img: Image.Image, box: Box, fit: str) -> np.ndarray:
    """An RGBA image resized into the box: contain (letterboxed, transparent), cover (cropped) or
    stretch. Returns box-sized RGBA uint8."""
    bw, bh = box[2] - box[0], box[3] - box[1]
    img = img.convert("RGBA")
    if fit == "stretch":
        return np.asarray(img.resize((bw, bh), Image.LANCZOS))
    scale = (min if fit == "contain" else max)(bw / img.width, bh / img.height)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    resized = np.asarray(img.resize((w, h), Image.LANCZOS))
    out = np.zeros((bh, bw, 4), np.uint8)
    ox, oy = (bw - w) // 2, (bh - h) // 2
    sx0, sy0 = max(0, -ox), max(0, -oy)
    dx0, dy0 = max(0, ox), max(0, oy)
    cw, ch = min(w - sx0, bw - dx0), min(h - sy0, bh - dy0)
    out[dy0:dy0 + ch, dx0:dx0 + cw] = resized[sy0:sy0 + ch, sx0:sx0 + cw]
    return out


def soften(rgba: np.ndarray, feather: int, opacity: float) -> np.ndarray:
    """Feather the alpha edge by `feather` px and scale it by `opacity`."""
    if feather <= 0 and opacity >= 1:
        return rgba
    alpha = rgba[..., 3].astype(np.float32)
    if feather > 0:
        eroded = cv2.erode(alpha, np.ones((3, 3), np.uint8), iterations=max(1, feather // 2), borderValue=0)
        alpha = cv2.GaussianBlur(eroded, (0, 0), sigmaX=feather / 2, borderType=cv2.BORDER_CONSTANT)
        alpha = np.minimum(alpha, rgba[..., 3])
    out = rgba.copy()
    out[..., 3] = np.clip(np.rint(alpha * opacity), 0, 255).astype(np.uint8)
    return out


def layer_alpha_in(layer: Layer, box: Box) -> np.ndarray:
    """The layer's alpha over `box` (zero outside the layer), uint8."""
    out = np.zeros((box[3] - box[1], box[2] - box[0]), np.uint8)
    inter = intersect(layer.box, box)
    if inter:
        out[inter[1] - box[1]:inter[3] - box[1], inter[0] - box[0]:inter[2] - box[0]] = layer.read(inter)[..., 3]
    return out


def band_mask(layer: Layer, band: int, box: Box) -> np.ndarray:
    """A band `band` px wide around the layer's alpha (outside it), over `box`, float32 0..1."""
    alpha = layer_alpha_in(layer, box).astype(np.float32) / 255.0
    size = 2 * band + 1
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    grown = cv2.dilate(alpha, kernel, borderValue=0)
    return np.clip(grown - alpha, 0.0, 1.0)


def mask_from_file(path, canvas: tuple[int, int], box: Box, expected_sha256: str | None = None) -> np.ndarray:
    """A mask image (read like any user image: limits, hash, orientation, 16-bit) scaled to the
    canvas, cut to `box`, float32 0..1."""
    img = images.open_image(path, expected_sha256, mode="L")
    full = np.asarray(img.resize(canvas, Image.BILINEAR), np.float32) / 255.0
    return full[box[1]:box[3], box[0]:box[2]]


# ── compositing ───────────────────────────────────────────────────────────────

def blend_into(dst: np.ndarray, dst_box: Box, layer: Layer) -> None:
    """Alpha-blend `layer` over the RGB pixels `dst` (covering `dst_box`) in place, exactly."""
    inter = intersect(dst_box, layer.box)
    if inter is None:
        return
    src = layer.read(inter)
    view = dst[inter[1] - dst_box[1]:inter[3] - dst_box[1], inter[0] - dst_box[0]:inter[2] - dst_box[0]]
    a = src[..., 3:4].astype(np.uint32)
    mixed = (src[..., :3].astype(np.uint32) * a + view.astype(np.uint32) * (255 - a) + 127) // 255
    view[...] = mixed.astype(np.uint8)


def composite_region(box: Box, layers: list[Layer]) -> np.ndarray:
    """The RGB composite of `layers` (bottom first) over the background, inside `box`."""
    out = np.empty((box[3] - box[1], box[2] - box[0], 3), np.uint8)
    out[...] = BACKGROUND
    for layer in layers:
        blend_into(out, box, layer)
    return out


def blend_masked(base: np.ndarray, top: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """base·(1-m) + top·m for a float mask 0..1, rounded; pixels where m == 0 stay bit-identical."""
    m = mask[..., None].astype(np.float32)
    out = np.rint(base.astype(np.float32) * (1 - m) + top.astype(np.float32) * m)
    out = np.clip(out, 0, 255).astype(np.uint8)
    untouched = mask <= 0
    out[untouched] = base[untouched]
    return out


# ── in-painting ───────────────────────────────────────────────────────────────

def fill_hole(pixels: np.ndarray, hole: np.ndarray, seed: int = 0) -> np.ndarray:
    """The hole's pixels (a bool mask) made from the pixels around it, RGB uint8 (known pixels as
    they were). Multi-scale ("push-pull") in-painting: the known pixels are averaged down a Gaussian
    pyramid until every coarse pixel has some, then each level is filled from the one below it and
    carried back up, so the fill is smooth at every scale, meets the surroundings at the hole's edge
    and has none of the creases of a front-propagating fill (Telea). Grain with the statistics of
    the surroundings' fine detail (seeded) is added, so the fill is not a flat smear. Cost ∝ the pixels given."""
    known = ~hole
    img = pixels.astype(np.float32)
    if not known.any():  # nothing around to continue: the region's own mean colour
        return np.broadcast_to(np.rint(img.reshape(-1, 3).mean(axis=0)).astype(np.uint8), pixels.shape).copy()
    if not hole.any():
        return pixels.copy()
    weight = known.astype(np.float32)
    levels = [(img * weight[..., None], weight)]
    while levels[-1][1].min() <= 1e-3 and min(levels[-1][1].shape) > 1:
        sums, weight = levels[-1]
        levels.append((cv2.pyrDown(sums), cv2.pyrDown(weight)))
    sums, weight = levels[-1]  # where a thin crop's coarsest level still has none: the known pixels' mean
    value = np.where((weight > 1e-6)[..., None], sums / np.maximum(weight, 1e-6)[..., None], img[known].mean(axis=0))
    for sums, weight in reversed(levels[:-1]):
        up = cv2.pyrUp(value, dstsize=(weight.shape[1], weight.shape[0]))
        w = np.clip(weight, 0, 1)[..., None]
        value = w * (sums / np.maximum(weight, 1e-6)[..., None]) + (1 - w) * up
    # grain: the detail of the pixels a few px clear of the hole, in two bands of frequencies (finer
    # than 1 px, 1 to 3 px), matched by a seeded noise field filtered into the same bands
    clear = cv2.erode(known.astype(np.uint8), np.ones((7, 7), np.uint8), borderValue=1).astype(bool)
    if clear.sum() >= 16:
        noise = np.random.default_rng(seed).standard_normal(hole.shape).astype(np.float32)
        for seen, made in zip(_detail_bands(value), _detail_bands(noise)):
            scale = seen[clear].std(axis=0) / max(float(made.std()), 1e-6)
            value += made[..., None] * scale.astype(np.float32)
    out = pixels.copy()
    out[hole] = np.clip(np.rint(value[hole]), 0, 255).astype(np.uint8)
    return out


def _detail_bands(img: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An image's detail finer than 1 px and between 1 and 3 px (differences of Gaussians)."""
    once, thrice = cv2.GaussianBlur(img, (0, 0), 1), cv2.GaussianBlur(img, (0, 0), 3)
    return img - once, once - thrice


# ── colour ────────────────────────────────────────────────────────────────────

def hex_rgb(text: str) -> tuple[int, int, int]:
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (… x 3) → CIELAB (D65), float64."""
    return rgb2lab(rgb.astype(np.float64) / 255.0)


def from_lab(lab: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(lab2rgb(lab) * 255.0), 0, 255).astype(np.uint8)


def delta_e(lab_ref: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """CIEDE2000, reference colour first."""
    return deltaE_ciede2000(np.broadcast_to(lab_ref, lab.shape), lab)


def dominant_cluster(lab: np.ndarray, k: int = 4, seed: int = 0, merge: float = 20.0) -> tuple[np.ndarray, np.ndarray]:
    """k-means in Lab: the largest cluster, with the clusters whose centres lie within `merge` (ΔE*ab)
    of it (one shaded colour split in two is still one colour). Returns (centre, membership)."""
    samples = lab.reshape(-1, 3).astype(np.float32)
    k = max(1, min(k, len(samples)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(seed)
    _, labels, centres = cv2.kmeans(samples, k, None, criteria, 3, cv2.KMEANS_PP_CENTERS)
    labels = labels.ravel()
    biggest = int(np.argmax(np.bincount(labels, minlength=k)))
    near = np.linalg.norm(centres - centres[biggest], axis=1) < merge
    member = near[labels]
    return samples[member].mean(axis=0).astype(np.float64), member.reshape(lab.shape[:-1])


def recolor_pixels(rgb: np.ndarray, weight: np.ndarray, target_hex: str, within: float) -> np.ndarray:
    """Move the dominant colour of the weighted pixels to `target_hex`, keeping their shading, so
    that the 95th percentile CIEDE2000 of that colour cluster to the target is within `within`;
    other colours (a white sole, a black logo) are left alone. Returns the new RGB pixels."""
    inside = weight > 0.5
    if inside.sum() < 4:
        return rgb
    lab = to_lab(rgb)
    centre, member = dominant_cluster(lab[inside])
    cluster = np.zeros(rgb.shape[:2], bool)
    cluster[inside] = member
    target = to_lab(np.array(hex_rgb(target_hex), np.uint8).reshape(1, 1, 3))[0, 0]
    # each distinct colour once (flat-shaded art has a few hundred among tens of thousands of pixels)
    packed = rgb[cluster].astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], np.int32)
    _, first, inverse, counts = np.unique(packed, return_index=True, return_inverse=True, return_counts=True)
    offsets = lab[cluster][first] - centre

    def moved_by(scale: float) -> tuple[np.ndarray, float]:
        """target + scale·(pixel − centre): the shading kept at `scale`; and its p95 ΔE00 (over pixels)."""
        rgb_new = from_lab((target + scale * offsets)[:, None, :])[:, 0, :]
        distances = delta_e(target, to_lab(rgb_new[:, None, :])[:, 0, :])
        return rgb_new, float(np.percentile(np.repeat(distances, counts), 95))

    goal = within * 0.95  # a margin for the rounding to 8-bit
    moved, p95 = moved_by(1.0)
    if p95 > goal:  # flatten the shading just enough
        lo, hi, moved = 0.0, 1.0, moved_by(0.0)[0]
        for _ in range(10):
            mid = (lo + hi) / 2
            candidate, p95 = moved_by(mid)
            if p95 <= goal:
                lo, moved = mid, candidate
            else:
                hi = mid
    out = rgb.copy()
    out[cluster] = moved[inverse]
    return out
