"""Per-output layout: components laid over an output's scene in its own pixels, and canvas layers
mapped into an output (what the output's brand rules measure).

`layout` blends the layers an output lays out itself (rendered at its resolution: placed assets and
typeset text) over the output's scene, tile by tile, in z order, exactly like the canvas composite.
`reframe_layer` carries a canvas layer into an output by the output's mode: the same frame
(`lang/geometry.frame_box`) the output's pixels were resampled into, sampled bilinearly at the
output pixels' centres, transparent outside the layer.
"""

from __future__ import annotations

import cv2
import numpy as np

from brief.lang.geometry import Box, frame_box

from ..store.tiles import Layer, TiledImage
from . import imaging


def layout(scene: TiledImage, layers: list[Layer]) -> TiledImage:
    """`layers` (bottom first) blended over `scene`; tiles no layer reaches are shared, untouched."""
    out = scene
    for tile in sorted({t for layer in layers for t in scene.tiles_in(layer.box)}):
        box = scene.tile_box(*tile)
        pixels = scene.read(box).copy()
        for layer in layers:
            imaging.blend_into(pixels, box, layer)
        out = out.replaced(box, pixels)
    return out


def reframe_layer(layer: Layer, canvas: tuple[int, int], size: tuple[int, int], mode: str, box: Box) -> Layer:
    """`layer` (canvas pixels) as it falls in an output of `size` framed by `mode`, cut to `box`
    (the output box the compiler mapped it to)."""
    x0, y0, x1, y1 = box
    if x1 <= x0 or y1 <= y0:
        return Layer((x0, y0, x0, y0), np.zeros((0, 0, 4), np.uint8))
    fx0, fy0, fx1, fy1 = frame_box(canvas, size, mode)
    sx, sy = canvas[0] / (fx1 - fx0), canvas[1] / (fy1 - fy0)  # canvas px per output px
    xs = (np.arange(x0, x1, dtype=np.float32) + 0.5 - fx0) * sx - 0.5 - layer.box[0]
    ys = (np.arange(y0, y1, dtype=np.float32) + 0.5 - fy0) * sy - 0.5 - layer.box[1]
    map_x = np.broadcast_to(xs[None, :], (y1 - y0, x1 - x0)).astype(np.float32)
    map_y = np.broadcast_to(ys[:, None], (y1 - y0, x1 - x0)).astype(np.float32)
    src = np.ascontiguousarray(layer.rgba)
    interpolation = cv2.INTER_AREA if max(sx, sy) > 1.5 else cv2.INTER_LINEAR
    if interpolation == cv2.INTER_AREA:  # shrinking: average first, so thin strokes are not lost
        small = cv2.resize(src, (max(1, round(src.shape[1] / sx)), max(1, round(src.shape[0] / sy))),
                           interpolation=cv2.INTER_AREA)
        kx, ky = src.shape[1] / small.shape[1], src.shape[0] / small.shape[0]
        map_x = ((map_x + 0.5) / kx - 0.5).astype(np.float32)
        map_y = ((map_y + 0.5) / ky - 0.5).astype(np.float32)
        src = small
    rgba = cv2.remap(src, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    return Layer((x0, y0, x1, y1), rgba)
