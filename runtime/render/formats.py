"""Output formats — `crop`, `fit` and the classical `outpaint` — made tile by tile, so that a change on
the canvas costs the output tiles it maps to, not the whole output.

A format places the canvas scaled by s at an offset in the output. Each output pixel samples the
canvas bilinearly at its centre's position, after a Gaussian prefilter when shrinking
(σ = (1/s − 1) / 2). Every output tile is computed from a window of the canvas that holds all it
reads (the filter's support and the interpolation's), by one function, in a full build and in an
incremental one alike: OpenCV's 8-bit Gaussian blur and its fixed-point remap are exact per pixel,
so an incremental output is bit-identical to a clean one (tested).

`fit` pads with the mean colour of the canvas's border; `outpaint` places the canvas as `fit` does,
untouched, and makes each margin from the band of the canvas along its edge: mirrored outward,
blurred more with distance from the edge, with a seeded texture, so the seam is the canvas's own
edge. Both depend on a band along the canvas's border only: while no change touches that band, the
padding and the margins are the last output's, and only the tiles a change maps to are made again.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from brief.lang.geometry import Box, frame_box

from ..store.tiles import TILE, TiledImage
from .imaging import intersect

SUPPORT = 2  # px of canvas around a sample position that bilinear interpolation may read


@dataclass(frozen=True)
class Placement:
    """The canvas (W, H) scaled into an output (ow, oh), at `box` (output pixels; may exceed it)."""

    canvas: tuple[int, int]
    size: tuple[int, int]
    box: Box  # where the scaled canvas lies in the output: x0, y0, x1, y1 (x1 - x0 = nw)

    @classmethod
    def of(cls, canvas: tuple[int, int], size: tuple[int, int], mode: str) -> "Placement":
        return cls(canvas, size, frame_box(canvas, size, mode))

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

BLUR_RATE = 0.5  # the margin's blur (σ, px) per px of distance from the canvas's edge
TEXTURE_CELLS = (160, 56, 20)  # px: the sizes of the seeded texture's octaves
TEXTURE_LEVEL = 2  # the pyramid level (1/4 scale) the texture is added at: it is blurred up from there


def outpaint_band(place: Placement, reach: int = 0) -> tuple[int, int]:
    """(output px, canvas px): how deep into the placed canvas the margins read (and `reach` more
    output px, which a model painting the margins reads or blends in)."""
    inner = max(_depth(place), reach) + 4
    return inner, math.ceil((inner + 2) * max(place.factors)) + place.reach + 2


def margin_strips(place: Placement) -> list[Box]:
    """The output boxes beyond the placed canvas: the margins an out-paint fills."""
    x0, y0, x1, y1 = place.box
    ow, oh = place.size
    boxes = {"top": (0, 0, ow, y0), "bottom": (0, y1, ow, oh), "left": (0, max(0, y0), x0, min(oh, y1)),
             "right": (x1, max(0, y0), ow, min(oh, y1))}
    return [boxes[side] for side in _sides(place)]


def keeps_margins(image_size: tuple[int, int], size: tuple[int, int], previous, changed, reach: int = 0) -> bool:
    """Whether the last out-paint's margins still hold: it is at hand, and nothing changed in the
    canvas's border band."""
    place = Placement.of(image_size, size, "fit")
    return _usable(previous, size, changed) and not _touches_band(changed, image_size, outpaint_band(place, reach)[1])


def _depth(place: Placement) -> int:
    """How deep (output px) the band of the placed canvas is that a margin mirrors."""
    nw, nh = place.box[2] - place.box[0], place.box[3] - place.box[1]
    return max(1, min(32, nw, nh, max(12, min(nw, nh) // 24)))


SIDES = ("top", "bottom", "left", "right")


def _sides(place: Placement) -> list[str]:
    """The edges of the placed canvas that have a margin beyond them (a fit fills the other axis)."""
    x0, y0, x1, y1 = place.box
    ow, oh = place.size
    return [side for side, has in (("top", y0 > 0), ("bottom", y1 < oh), ("left", x0 > 0), ("right", x1 < ow)) if has]


def _fold(index: np.ndarray, n: int) -> np.ndarray:
    """Indices mirrored back and forth into 0 … n-1 (…, 1, 0 | 0, 1, …, n-1 | n-1, …): a mirror repeated."""
    period = np.mod(index, 2 * n)
    return np.where(period < n, period, 2 * n - 1 - period)


def _strip(place: Placement, image: TiledImage, side: str, seed: int) -> np.ndarray:
    """One margin's pixels, from the band of the placed canvas along its edge only. In the strip's own
    frame (rows: px outward from the edge; columns: along it) the band is mirrored outward, again and
    again, then blurred more with distance from the edge (σ = BLUR_RATE px per px, by blending the
    levels of a Gaussian pyramid row by row as it is collapsed), so the seam shows the canvas's own
    edge and far out no copy of it is legible; a seeded texture with the spread of the band's detail
    fades in as the blur grows."""
    x0, y0, x1, y1 = place.box
    ow, oh = place.size
    d = _depth(place)
    band, along, depth = {  # the band (output box), the strip's extent along the edge, its depth
        "top": ((x0, y0, x1, y0 + d), (0, ow, x0), y0), "bottom": ((x0, y1 - d, x1, y1), (0, ow, x0), oh - y1),
        "left": ((x0, y0, x0 + d, y1), (max(0, y0), min(oh, y1), y0), x0),
        "right": ((x1 - d, y0, x1, y1), (max(0, y0), min(oh, y1), y0), ow - x1)}[side]
    pixels = place.sample(image, band).astype(np.float32)
    if side in ("left", "right"):
        pixels = pixels.transpose(1, 0, 2)  # rows: across the edge
    if side in ("top", "left"):
        pixels = pixels[::-1]  # rows: from inside the canvas outward to its edge
    cols = _fold(np.arange(along[0], along[1]) - along[2], pixels.shape[1])
    if not np.array_equal(cols, np.arange(pixels.shape[1])):  # the margin reaches past the band's ends
        pixels = np.ascontiguousarray(pixels[:, cols])
    levels = [_mirrored(pixels, depth)]
    while min(levels[-1].shape[:2]) > 2 and 0.6 * 2 ** len(levels) < BLUR_RATE * depth * 2:
        levels.append(cv2.pyrDown(levels[-1]))
    # level j of the pyramid is blurred by about σ = 0.6·2^j px (its row i is frame row i·2^j); the row
    # at distance r from the edge wants σ = BLUR_RATE·r: level ℓ(r), between two levels, blended
    texture_level = min(TEXTURE_LEVEL, len(levels) - 2)
    out = levels[-1]
    for j in range(len(levels) - 2, -1, -1):
        out = cv2.pyrUp(out, dstsize=levels[j].shape[1::-1])
        distance = np.arange(levels[j].shape[0], dtype=np.float32) * 2 ** j - d + 1
        coarser = np.clip(np.log2(np.maximum(BLUR_RATE * distance / 0.6, 1)) - j, 0, 1)
        finer = np.flatnonzero(coarser < 1)  # the rows near the edge: this level, or a blend
        out[finer] = levels[j][finer] + coarser[finer, None, None] * (out[finer] - levels[j][finer])
        if j == texture_level:  # a seeded texture with the band's spread, none at the seam, all 3 bands out
            detail = pixels - cv2.GaussianBlur(pixels, (0, 0), max(1.0, d / 2))
            spread = np.clip(detail.reshape(-1, 3).std(axis=0), 0.5, 8.0).astype(np.float32)
            ramp = np.clip(distance / (3 * d), 0, 1)
            fade = (ramp * ramp * (3 - 2 * ramp))[:, None, None]
            out += _texture([seed, SIDES.index(side)], *out.shape[:2], 2 ** j)[..., None] * spread * fade
    out = np.clip(np.rint(out[d:]), 0, 255).astype(np.uint8)
    if side in ("top", "left"):
        out = out[::-1]  # back to output order: the edge last
    return out.transpose(1, 0, 2) if side in ("left", "right") else out


def _mirrored(band: np.ndarray, depth: int) -> np.ndarray:
    """The band (rows from inside the canvas out to its edge) and `depth` rows beyond it: the band
    mirrored at the edge, again and again. A mirror turns a slope that meets the edge into a ridge
    along it, so only the band's detail is mirrored: its broad shades go on from the edge's (the
    slope continued, levelling off over the band's depth)."""
    d = band.shape[0]
    broad = cv2.GaussianBlur(band, (0, 0), max(1.0, d / 4), borderType=cv2.BORDER_REFLECT)
    source = d - 1 - _fold(np.arange(2 * d), d)  # one period of the mirrors: the band row each row shows
    slope = broad[d - 1] - broad[source]
    period = band[source] + slope
    frame = np.empty((d + depth,) + band.shape[1:], np.float32)
    frame[:d] = band
    np.take(period, np.mod(np.arange(depth), 2 * d), axis=0, out=frame[d:])
    near = min(d, depth)
    lift = ((1 - np.arange(near, dtype=np.float32) / d) ** 2)[:, None, None]  # 1 at the edge, 0 a band out
    frame[d:d + near] += slope[:near] * lift
    return frame


def _texture(seed: list[int], h: int, w: int, scale: int) -> np.ndarray:
    """Seeded value noise over h x w px, each `scale` output px wide: octaves of TEXTURE_CELLS output
    px, unit spread (float32)."""
    rng = np.random.default_rng(seed)
    total = np.zeros((h, w), np.float32)
    for cell, weight in zip(TEXTURE_CELLS, (0.55, 0.3, 0.15)):
        step = max(1.0, cell / scale)
        grid = rng.standard_normal((math.ceil(h / step) + 2, math.ceil(w / step) + 2)).astype(np.float32)
        total += weight * cv2.resize(grid, None, fx=step, fy=step, interpolation=cv2.INTER_CUBIC)[:h, :w]
    return total * np.float32(1 / max(float(total.std()), 1e-6))


def _margin(place: Placement, image: TiledImage, seed: int) -> np.ndarray:
    """The margins over the whole output (the placement's pixels left unset): each strip from its
    own edge's band (`_strip`), seeded by the out-paint's seed and the side."""
    ow, oh = place.size
    margin = np.zeros((oh, ow, 3), np.uint8)
    for side, strip in zip(_sides(place), margin_strips(place)):
        if strip[0] < strip[2] and strip[1] < strip[3]:
            margin[strip[1]:strip[3], strip[0]:strip[2]] = _strip(place, image, side, seed)
    return margin


def outpaint(image: TiledImage, size: tuple[int, int], seed: int, previous: TiledImage | None = None,
             changed: list[Box] | None = None, reach: int = 0) -> TiledImage:
    """Extend the canvas to another aspect ratio: scaled to fit, exactly as `fit` places it, each margin
    its edge's band mirrored outward, blurred more with distance, with a seeded texture (`_strip`).
    With the last output and the canvas boxes changed since, and none of them in the border band,
    the margins hold and only the tiles the changes map to are made again."""
    place = Placement.of(image.size, size, "fit")
    if _usable(previous, size, changed):
        if not changed:
            return previous
        if not _touches_band(changed, image.size, outpaint_band(place, reach)[1]):
            return _incremental(place, image, previous, changed, place.box)
    ow, oh = size
    margin = _margin(place, image, seed)
    out = TiledImage(ow, oh, 3)
    for tile in _tiles(size):
        pixels = np.ascontiguousarray(margin[tile[1]:tile[3], tile[0]:tile[2]])
        placed = intersect(tile, place.box)
        if placed:
            pixels[placed[1] - tile[1]:placed[3] - tile[1], placed[0] - tile[0]:placed[2] - tile[0]] = \
                place.sample(image, placed)
        out.pixels[(tile[0] // TILE, tile[1] // TILE)] = pixels
    return out
