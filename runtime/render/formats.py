"""Output formats — `crop`, `fit` and the classical `outpaint` — made tile by tile, so that a change on
the canvas costs the output tiles it maps to, not the whole output.

A format places the canvas scaled by s at an offset in the output. Each output pixel samples the
canvas bilinearly at its centre's position, after a Gaussian prefilter when shrinking
(σ = (1/s − 1) / 2). Every output tile is computed from a window of the canvas that holds all it
reads (the filter's support and the interpolation's), by one function, in a full build and in an
incremental one alike: OpenCV's 8-bit Gaussian blur and its fixed-point remap are exact per pixel,
so an incremental output is bit-identical to a clean one (tested).

`fit` pads with the mean colour of the canvas's border; `outpaint` continues the canvas's edges
outward, blurred, with seeded grain, and fades the seam over a short ramp inside. Both depend on a
band along the canvas's border only: while no change touches that band, the padding, the margins
and the seam are the last output's, and only the interior tiles a change maps to are made again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from brief.lang.geometry import Box

from ..store.tiles import TILE, TiledImage
from .imaging import blend_masked, intersect

SUPPORT = 2  # px of canvas around a sample position that bilinear interpolation may read


@dataclass(frozen=True)
class Placement:
    """The canvas (W, H) scaled into an output (ow, oh), at `box` (output pixels; may exceed it)."""

    canvas: tuple[int, int]
    size: tuple[int, int]
    box: Box  # where the scaled canvas lies in the output: x0, y0, x1, y1 (x1 - x0 = nw)

    @classmethod
    def of(cls, canvas: tuple[int, int], size: tuple[int, int], mode: str) -> "Placement":
        W, H = canvas
        ow, oh = size
        scale = (max if mode == "crop" else min)(ow / W, oh / H)
        nw, nh = max(1, round(W * scale)), max(1, round(H * scale))
        x0, y0 = (ow - nw) // 2, (oh - nh) // 2
        return cls(canvas, size, (x0, y0, x0 + nw, y0 + nh))

    @property
    def factors(self) -> tuple[float, float]:
        """Canvas pixels per output pixel, per axis."""
        return self.canvas[0] / (self.box[2] - self.box[0]), self.canvas[1] / (self.box[3] - self.box[1])

    @property
    def sigma(self) -> float:
        f = max(self.factors)
        return (f - 1) / 2 if f > 1 else 0.0

    @property
    def reach(self) -> int:
        """Canvas px around a sample that can change it: the prefilter's radius and the interpolation's."""
        return (math.ceil(3 * self.sigma) if self.sigma else 0) + SUPPORT

    def to_canvas(self, x: np.ndarray, axis: int) -> np.ndarray:
        """Canvas coordinate sampled by output pixel index `x` along `axis` (0: x, 1: y)."""
        return (x - self.box[axis] + 0.5) * self.factors[axis] - 0.5

    def window(self, out: Box) -> Box:
        """The canvas box an output box reads."""
        W, H = self.canvas
        x0, x1 = self.to_canvas(np.array([out[0], out[2] - 1], np.float64), 0)
        y0, y1 = self.to_canvas(np.array([out[1], out[3] - 1], np.float64), 1)
        r = self.reach
        return (max(0, math.floor(x0) - r), max(0, math.floor(y0) - r),
                min(W, math.ceil(x1) + 1 + r), min(H, math.ceil(y1) + 1 + r))

    def affected(self, canvas_box: Box) -> Box | None:
        """The output box whose pixels may read `canvas_box` (inside the placement and the output)."""
        r = self.reach + 1
        fx, fy = self.factors
        x0 = math.floor((canvas_box[0] - r + 0.5) / fx - 0.5) + self.box[0]
        x1 = math.ceil((canvas_box[2] + r + 0.5) / fx - 0.5) + self.box[0] + 1
        y0 = math.floor((canvas_box[1] - r + 0.5) / fy - 0.5) + self.box[1]
        y1 = math.ceil((canvas_box[3] + r + 0.5) / fy - 0.5) + self.box[1] + 1
        ow, oh = self.size
        clip = (max(0, x0, self.box[0]), max(0, y0, self.box[1]), min(ow, x1, self.box[2]), min(oh, y1, self.box[3]))
        return clip if clip[0] < clip[2] and clip[1] < clip[3] else None

    def sample(self, image: TiledImage, out: Box) -> np.ndarray:
        """The scaled canvas's pixels over `out` (a box inside the placement), from the canvas window
        they read: the same bytes whatever box they are computed in (per-pixel exact)."""
        wx0, wy0, wx1, wy1 = win = self.window(out)
        pixels = image.read(win)
        if self.sigma:
            k = 2 * math.ceil(3 * self.sigma) + 1
            pixels = cv2.GaussianBlur(pixels, (k, k), self.sigma, borderType=cv2.BORDER_REFLECT)
        # positions on remap's 1/32 px grid first: then relative to any window origin they are exact
        # in float32, and every window gives each pixel the very same sample
        xs = (np.round(self.to_canvas(np.arange(out[0], out[2], dtype=np.float64), 0) * 32) / 32 - wx0).astype(np.float32)
        ys = (np.round(self.to_canvas(np.arange(out[1], out[3], dtype=np.float64), 1) * 32) / 32 - wy0).astype(np.float32)
        mx, my = np.meshgrid(xs, ys)
        return cv2.remap(pixels, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _tiles(size: tuple[int, int]) -> list[Box]:
    ow, oh = size
    return [(tx, ty, min(ow, tx + TILE), min(oh, ty + TILE)) for ty in range(0, oh, TILE) for tx in range(0, ow, TILE)]


def _touches_band(boxes: list[Box], canvas: tuple[int, int], band: int) -> bool:
    W, H = canvas
    inner = (band, band, W - band, H - band)
    return any(not (b[0] >= inner[0] and b[1] >= inner[1] and b[2] <= inner[2] and b[3] <= inner[3]) for b in boxes)


def _incremental(place: Placement, image: TiledImage, previous: TiledImage, changed: list[Box],
                 interior: Box) -> TiledImage:
    """The last output with the tiles that `changed` canvas boxes map to made again, inside `interior`."""
    out = previous
    for box in changed:
        hit = place.affected(box)
        hit = intersect(hit, interior) if hit else None
        for tile in (intersect(t, hit) for t in _tiles(place.size)) if hit else ():
            if tile:
                out = out.replaced(tile, place.sample(image, tile))
    return out


def _usable(previous, size: tuple[int, int], changed) -> bool:
    return (changed is not None and isinstance(previous, TiledImage) and previous.size == tuple(size)
            and previous.channels == 3)


def reframe(image: TiledImage, size: tuple[int, int], mode: str, previous: TiledImage | None = None,
            changed: list[Box] | None = None) -> TiledImage:
    """`crop` (scale to cover, centre) or `fit` (scale to fit, pad with the border's mean colour).
    With the last output and the canvas boxes changed since, only the tiles they map to are made."""
    place = Placement.of(image.size, size, mode)
    if _usable(previous, size, changed):
        if not changed:
            return previous
        if mode == "crop" or not _touches_band(changed, image.size, 1):
            return _incremental(place, image, previous, changed, place.box)
    ow, oh = size
    pad = _border_colour(image) if mode == "fit" else None
    out = TiledImage(ow, oh, 3)
    for tile in _tiles(size):
        pixels = np.empty((tile[3] - tile[1], tile[2] - tile[0], 3), np.uint8)
        if pad is not None:
            pixels[...] = pad
        placed = intersect(tile, place.box)
        if placed:
            pixels[placed[1] - tile[1]:placed[3] - tile[1], placed[0] - tile[0]:placed[2] - tile[0]] = \
                place.sample(image, placed)
        out.pixels[(tile[0] // TILE, tile[1] // TILE)] = pixels
    return out


def _border_colour(image: TiledImage) -> np.ndarray:
    W, H = image.size
    edges = [image.read((0, 0, W, 1)), image.read((0, H - 1, W, H)), image.read((0, 0, 1, H)), image.read((W - 1, 0, W, H))]
    return np.rint(np.concatenate([e.reshape(-1, 3) for e in edges]).mean(axis=0)).astype(np.uint8)


# ── outpaint ────────────────────────────────────────────────────────────────────

EDGE_DEPTH = 8  # output px of the placed canvas along each edge that the margins continue


def outpaint_band(place: Placement, reach: int = 0) -> tuple[int, int]:
    """(output px, canvas px): how deep into the placed canvas the margins and the seam read (and
    `reach` more output px, which a model painting the margins reads or blends in)."""
    inner = max(_ramp(place), EDGE_DEPTH, reach) + 4
    return inner, math.ceil((inner + 2) * max(place.factors)) + place.reach + 2


def margin_strips(place: Placement) -> list[Box]:
    """The output boxes beyond the placed canvas: the margins an out-paint fills."""
    x0, y0, x1, y1 = place.box
    ow, oh = place.size
    boxes = {"top": (0, 0, ow, y0), "bottom": (0, y1, ow, oh), "left": (0, max(0, y0), x0, min(oh, y1)),
             "right": (x1, max(0, y0), ow, min(oh, y1))}
    return [boxes[side] for side in _sides(place)]


def keeps_margins(image_size: tuple[int, int], size: tuple[int, int], previous, changed, reach: int = 0) -> bool:
    """Whether the last out-paint's margins and seam still hold: it is at hand, and nothing changed
    in the canvas's border band."""
    place = Placement.of(image_size, size, "fit")
    return _usable(previous, size, changed) and not _touches_band(changed, image_size, outpaint_band(place, reach)[1])


def _ramp(place: Placement) -> int:
    """The seam's width inside the placed canvas, in output px."""
    nw, nh = place.box[2] - place.box[0], place.box[3] - place.box[1]
    return max(4, min(nw, nh) // 40)


def _sides(place: Placement) -> list[str]:
    """The edges of the placed canvas that have a margin beyond them (a fit fills the other axis)."""
    x0, y0, x1, y1 = place.box
    ow, oh = place.size
    return [side for side, has in (("top", y0 > 0), ("bottom", y1 < oh), ("left", x0 > 0), ("right", x1 < ow)) if has]


def _seam(place: Placement, tile: Box) -> np.ndarray:
    """The seam's weight over a tile: 1 at an edge with a margin beyond it, fading to 0 over the ramp."""
    x0, y0, x1, y1 = place.box
    xs = np.arange(tile[0], tile[2])[None, :]
    ys = np.arange(tile[1], tile[3])[:, None]
    far = np.full((tile[3] - tile[1], tile[2] - tile[0]), np.inf, np.float32)
    to = {"top": ys - y0 + 1, "bottom": y1 - ys, "left": xs - x0 + 1, "right": x1 - xs}
    for side in _sides(place):
        far = np.minimum(far, np.broadcast_to(to[side], far.shape))
    return np.clip(1 - far / _ramp(place), 0, 1)


def _edge_lines(place: Placement, image: TiledImage) -> dict[str, np.ndarray]:
    """The colours along each edge with a margin: the placed canvas's first EDGE_DEPTH px there,
    averaged across and smoothed along (float32, one colour per output px of the edge)."""
    x0, y0, x1, y1 = place.box
    d = min(EDGE_DEPTH, x1 - x0, y1 - y0)
    strips = {"top": ((x0, y0, x1, y0 + d), 0), "bottom": ((x0, y1 - d, x1, y1), 0),
              "left": ((x0, y0, x0 + d, y1), 1), "right": ((x1 - d, y0, x1, y1), 1)}
    sigma = max(x1 - x0, y1 - y0) / 30
    lines = {}
    for side in _sides(place):
        box, across = strips[side]
        line = place.sample(image, box).astype(np.float32).mean(axis=across)  # (length, 3)
        lines[side] = cv2.GaussianBlur(line[None], (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)[0]
    return lines


def _soft_blur(rgb: np.ndarray, sigma: float) -> np.ndarray:
    """A wide Gaussian blur, done at a fraction of the size (cost independent of sigma)."""
    h, w = rgb.shape[:2]
    factor = max(1, int(sigma // 4))
    small = cv2.resize(rgb, (max(1, w // factor), max(1, h // factor)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=max(0.5, sigma / factor), borderType=cv2.BORDER_REPLICATE)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _margin(place: Placement, image: TiledImage, seed: int) -> np.ndarray:
    """The margins' pixels over the whole output (grain outside the placement): each edge's colours
    carried straight outward (and inward to the middle, for the seam), blurred wide. A function of
    the edge band only."""
    ow, oh = place.size
    x0, y0, x1, y1 = place.box
    lines = {side: np.clip(np.rint(line), 0, 255).astype(np.uint8) for side, line in _edge_lines(place, image).items()}
    margin = np.zeros((oh, ow, 3), np.uint8)
    if "top" in lines or "bottom" in lines:  # margins above and below: one line per row
        cx = np.clip(np.arange(ow), x0, x1 - 1) - x0
        middle = (y0 + y1) // 2
        for side, rows in (("top", slice(0, middle)), ("bottom", slice(middle, oh))):
            margin[rows] = lines.get(side, lines.get("bottom" if side == "top" else "top"))[cx][None]
    elif lines:  # margins left and right: one line per column
        cy = np.clip(np.arange(oh), y0, y1 - 1) - y0
        middle = (x0 + x1) // 2
        for side, cols in (("left", slice(0, middle)), ("right", slice(middle, ow))):
            margin[:, cols] = lines.get(side, lines.get("right" if side == "left" else "left"))[cy][:, None]
    margin = _soft_blur(margin, max(ow, oh) / 25)
    strips = [(slice(0, max(0, y0)), slice(0, ow)), (slice(min(oh, y1), oh), slice(0, ow)),  # the margins
              (slice(max(0, y0), min(oh, y1)), slice(0, max(0, x0))), (slice(max(0, y0), min(oh, y1)), slice(min(ow, x1), ow))]
    rng = np.random.default_rng(seed)
    for rows, cols in strips:
        view = margin[rows, cols]
        if view.size:
            grain = rng.normal(0, 3.0, view.shape[:2] + (1,)).astype(np.float32)
            margin[rows, cols] = np.clip(view.astype(np.float32) + grain, 0, 255).astype(np.uint8)
    return margin


def outpaint(image: TiledImage, size: tuple[int, int], seed: int, previous: TiledImage | None = None,
             changed: list[Box] | None = None, reach: int = 0) -> TiledImage:
    """Extend the canvas to another aspect ratio: scaled to fit, its edges continued outward, blurred,
    with seeded grain, fading into the canvas over a short ramp. With the last output and the canvas
    boxes changed since, and none of them near the border, only the interior tiles they map to are
    made again."""
    place = Placement.of(image.size, size, "fit")
    band_out, band_canvas = outpaint_band(place, reach)
    if _usable(previous, size, changed):
        if not changed:
            return previous
        if not _touches_band(changed, image.size, band_canvas):
            x0, y0, x1, y1 = place.box
            return _incremental(place, image, previous, changed,
                                (x0 + band_out, y0 + band_out, x1 - band_out, y1 - band_out))
    ow, oh = size
    margin = _margin(place, image, seed)
    out = TiledImage(ow, oh, 3)
    for tile in _tiles(size):
        pixels = np.ascontiguousarray(margin[tile[1]:tile[3], tile[0]:tile[2]])
        placed = intersect(tile, place.box)
        if placed:
            sub = (placed[1] - tile[1], placed[3] - tile[1], placed[0] - tile[0], placed[2] - tile[0])
            inner = place.sample(image, placed)
            seam = _seam(place, placed)
            if seam.any():  # near an edge with a margin: fade into it
                inner = blend_masked(inner, pixels[sub[0]:sub[1], sub[2]:sub[3]], seam ** 2 * 0.85)
            pixels[sub[0]:sub[1], sub[2]:sub[3]] = inner
        out.pixels[(tile[0] // TILE, tile[1] // TILE)] = pixels
    return out
