"""Geometry: canvas sizes, lengths and regions of a brief resolved to canvas pixels.

Owns the meaning of `N%` and `Npx` in each position, the anchor positions, and the pixel box of
every region form. Shared by the checker (is it inside the canvas?) and the compiler (the
`region` of each node). Boxes are `(x0, y0, x1, y1)` in integer pixels, end exclusive.
"""

from __future__ import annotations

import math

from . import ast

DEFAULT_CANVAS = (1024, 1024)
MAX_SIDE = 16384
MAX_PIXELS = 8192 * 8192
CONTEXT_PAD = 32  # px of surrounding pixels a regional component sees (ADetailer's default)
# px around its region an in-paint or a removal reads, by backend: the draft backend's in-paint
# reads only its region and its Telea removal 16 px around it; diffusers reads the context and up to
# 8 px more where it aligns the crop to its VAE's scale. Each backend's ops keep to these (tested).
EDIT_READ_PADS = {"draft": {"inpaint": 0, "remove": 16}, "diffusers": {"inpaint": CONTEXT_PAD + 8, "remove": CONTEXT_PAD + 8}}
EDIT_READ_PAD = CONTEXT_PAD + 8  # for a backend not in the table: the widest


def edit_read_pad(backend: str, op: str) -> int:
    return EDIT_READ_PADS.get(backend, {}).get(op, EDIT_READ_PAD)

Box = tuple[int, int, int, int]

ANCHORS = {
    "top-left": (0.0, 0.0), "top": (0.5, 0.0), "top-right": (1.0, 0.0),
    "left": (0.0, 0.5), "center": (0.5, 0.5), "right": (1.0, 0.5),
    "bottom-left": (0.0, 1.0), "bottom": (0.5, 1.0), "bottom-right": (1.0, 1.0),
}


def px(value: float) -> int:
    """Round half up, the same on every platform."""
    return int(math.floor(value + 0.5))


def length(num: ast.Num, total: int) -> int:
    """`N%` of `total`, or `N`/`Npx` pixels."""
    return px(num.value * total / 100.0) if num.unit == "%" else px(num.value)


def canvas_size(brief: ast.Brief) -> tuple[int, int]:
    canvas = brief.first(ast.Canvas)
    if canvas is None:
        return DEFAULT_CANVAS
    return px(canvas.size.width.value), px(canvas.size.height.value)


def area(box: Box | None) -> int:
    if box is None:
        return 0
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])


def intersects(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def union_area(boxes) -> int:
    """Area covered by rectangles (coordinate compression; pure Python)."""
    if not boxes:
        return 0
    xs = sorted({b[0] for b in boxes} | {b[2] for b in boxes})
    total = 0
    for x0, x1 in zip(xs, xs[1:]):
        spans = sorted((b[1], b[3]) for b in boxes if b[0] <= x0 and b[2] >= x1)
        covered, end = 0, None
        for y0, y1 in spans:
            if end is None or y0 > end:
                covered += y1 - y0
                end = y1
            elif y1 > end:
                covered += y1 - end
                end = y1
        total += covered * (x1 - x0)
    return total


def grow(box: Box, by: int, canvas: tuple[int, int]) -> Box:
    w, h = canvas
    return (max(0, box[0] - by), max(0, box[1] - by), min(w, box[2] + by), min(h, box[3] + by))


def anchor_box(spec: ast.Anchor, canvas: tuple[int, int]) -> Box:
    w, h = canvas
    bw, bh = length(spec.size.width, w), length(spec.size.height, h)
    margin = length(spec.margin, min(w, h)) if spec.margin is not None else 0
    fx, fy = ANCHORS.get(spec.position.value, (0.5, 0.5))
    x0 = margin + px(fx * (w - bw - 2 * margin))
    y0 = margin + px(fy * (h - bh - 2 * margin))
    return (x0, y0, x0 + bw, y0 + bh)


def region_box(spec: ast.RegionSpec | None, canvas: tuple[int, int], boxes: dict[str, Box]) -> Box:
    """The pixel box of a region; `boxes` holds those of components already resolved (for around)."""
    w, h = canvas
    if spec is None or isinstance(spec, (ast.Full, ast.Mask)):
        return (0, 0, w, h)  # a mask's extent is known only when the mask is read: assume all of it
    if isinstance(spec, ast.Box):
        return (length(spec.x0, w), length(spec.y0, h), length(spec.x1, w), length(spec.y1, h))
    if isinstance(spec, ast.Anchor):
        return anchor_box(spec, canvas)
    if isinstance(spec, ast.Around):
        inner = boxes.get(spec.component.value, (0, 0, w, h))
        return grow(inner, length(spec.band, min(w, h)), canvas)
    raise TypeError(f"unknown region {spec!r}")


def component_region(component: ast.Component) -> ast.RegionSpec | None:
    region = component.first(ast.Region)
    return region.spec if region else None


def component_boxes(brief: ast.Brief, canvas: tuple[int, int]) -> dict[str, Box]:
    """Every component's box, resolving `around` references in dependency order.

    Assumes the checker has ruled out cycles; a leftover cycle resolves to the full canvas rather
    than looping.
    """
    specs = {c.name.value: component_region(c) for c in brief.components}
    boxes: dict[str, Box] = {}
    for name in specs:
        chain, node = [], name
        while node not in boxes and node in specs and node not in chain:  # walk the around chain
            chain.append(node)
            spec = specs[node]
            if not isinstance(spec, ast.Around):
                break
            node = spec.component.value
        for item in reversed(chain):
            boxes[item] = region_box(specs[item], canvas, boxes)
    return boxes


class GridIndex:
    """Boxes placed so far, bucketed in 256 px cells, to find those under a crop without comparing
    every pair: the work per query follows the layers near it, not the number of components."""

    CELL = 256

    def __init__(self, canvas: tuple[int, int]):
        self.cw = self.ch = self.CELL
        self.cols, self.rows = -(-canvas[0] // self.CELL), -(-canvas[1] // self.CELL)
        self.buckets: dict[tuple[int, int], list[int]] = {}
        self.items: list[tuple[Box, tuple, str]] = []

    def _cells(self, box: Box):
        x0, y0 = max(box[0], 0) // self.cw, max(box[1], 0) // self.ch
        x1, y1 = max(box[2] - 1, 0) // self.cw, max(box[3] - 1, 0) // self.ch
        for cx in range(x0, min(x1, self.cols - 1) + 1):
            for cy in range(y0, min(y1, self.rows - 1) + 1):
                yield cx, cy

    def add(self, box: Box, order: tuple, value: str) -> None:
        self.items.append((box, order, value))
        for cell in self._cells(box):
            self.buckets.setdefault(cell, []).append(len(self.items) - 1)

    def below(self, box: Box, order: tuple) -> list[str]:
        """Values of the boxes added so far that overlap `box` and sort before `order`, bottom first."""
        hits = {i for cell in self._cells(box) for i in self.buckets.get(cell, ())}
        found = [self.items[i] for i in hits if self.items[i][1] < order and intersects(self.items[i][0], box)]
        return [value for _, _, value in sorted(found, key=lambda item: item[1])]


def frame_box(canvas: tuple[int, int], size: tuple[int, int], mode: str) -> Box:
    """Where an output puts the whole canvas, in its own pixels: scaled to cover it (`crop`, which
    cuts what falls outside) or to fit inside it (`fit`, `outpaint`), centred. The one definition:
    the runtime's resampling (runtime/render/formats.py) and every box mapped into an output use it."""
    W, H = canvas
    ow, oh = size
    scale = (max if mode == "crop" else min)(ow / W, oh / H)
    nw, nh = max(1, round(W * scale)), max(1, round(H * scale))
    x0, y0 = (ow - nw) // 2, (oh - nh) // 2
    return (x0, y0, x0 + nw, y0 + nh)


def frame_scale(canvas: tuple[int, int], size: tuple[int, int], mode: str) -> float:
    """Output pixels per canvas pixel (the smaller of the two axes' factors)."""
    x0, y0, x1, y1 = frame_box(canvas, size, mode)
    return min((x1 - x0) / canvas[0], (y1 - y0) / canvas[1])


def map_box(box: Box, canvas: tuple[int, int], size: tuple[int, int], mode: str) -> Box:
    """A canvas box in an output's pixels (rounded outward; it may reach past the output's edges)."""
    fx0, fy0, fx1, fy1 = frame_box(canvas, size, mode)
    sx, sy = (fx1 - fx0) / canvas[0], (fy1 - fy0) / canvas[1]
    return (fx0 + math.floor(box[0] * sx), fy0 + math.floor(box[1] * sy),
            fx0 + math.ceil(box[2] * sx), fy0 + math.ceil(box[3] * sy))


def clip(box: Box, size: tuple[int, int]) -> Box:
    """A box cut to an image of `size` (possibly empty: x1 ≤ x0)."""
    return (max(0, box[0]), max(0, box[1]), min(size[0], box[2]), min(size[1], box[3]))


# How deep (output px) an out-paint's margins may read into the placed canvas, per backend (the
# draft mirrors a band of at most 32 px; a model also reads what it blends in): the runtime's band
# (runtime/render/formats.py `outpaint_band`) stays within it (tests/test_formats.py holds it to
# that). A change farther from the canvas's edge keeps every margin.
OUTPAINT_BANDS = {"draft": 40, "diffusers": 64}


def outpaint_band(canvas: tuple[int, int], size: tuple[int, int], backend: str) -> int:
    """The canvas px along its edges an out-paint's margins depend on (at most)."""
    x0, y0, x1, y1 = frame_box(canvas, size, "fit")
    f = max(canvas[0] / (x1 - x0), canvas[1] / (y1 - y0))
    depth = OUTPAINT_BANDS.get(backend, max(OUTPAINT_BANDS.values()))
    return math.ceil((depth + 2) * f) + math.ceil(3 * max(0.0, (f - 1) / 2)) + 4
