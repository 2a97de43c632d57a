"""Compiling brand rules: one `check` node per rule and per output, measured in that output's own
geometry (`Frame` of `lang/compile_outputs.py`): its pixels, its layers and boxes, its safe zone.
A crop that cuts the logo fails `visible` there; the logo's clear space in the story is measured
where the story placed it. A brief without outputs is checked on its canvas.
"""

from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING

from . import ast
from .compile_outputs import frame_layer
from .geometry import Box, grow, intersects, length

if TYPE_CHECKING:
    from .compile import _VariantCompiler
    from .compile_outputs import Frame

THUMBNAIL = 160  # px, the longest side of the image whole-image rules measure


def thumb_size(size: tuple[int, int]) -> tuple[int, int]:
    W, H = size
    s = min(1.0, THUMBNAIL / max(W, H))
    return max(1, round(W * s)), max(1, round(H * s))


def thumbnail(c: _VariantCompiler, frame: Frame) -> str:
    """A frame's pixels scaled to fit THUMBNAIL px (a `fit` format, made again only where they
    changed): what rules over the whole image measure."""
    W, H = frame.size
    return c.add("reframe", {"canvas": [W, H], "size": list(thumb_size(frame.size)), "mode": "fit"},
                    [frame.image], region=None, reads=[(0, 0, W, H)], span=c.brief.span,
                    label=f"thumbnail{frame.suffix}", space=frame.name)

def check(c: _VariantCompiler, rule: ast.CheckRule, frame: Frame) -> str:
    from .compile import DEFAULTS, _n

    W, H = frame.size
    short = min(W, H)
    boxes = frame.boxes

    def lay(name: str, within: Box | None = None) -> str:
        return frame_layer(c, frame, name, within)

    params: dict = {"rule": rule.keyword, "canvas": [W, H]}
    if frame.name is not None:
        params["output"] = frame.name
    inputs = [frame.image]
    brand_items = c.brand
    if isinstance(rule, ast.CheckPalette):  # measured on the frame's thumbnail, kept up to date by tiles
        params.update(colors=c.colors,
                      within=_n(rule.within.value) if rule.within else DEFAULTS["palette_within"],
                      coverage=_n(rule.coverage.value) if rule.coverage else DEFAULTS["palette_coverage"])
        inputs = [thumbnail(c, frame)]
    elif isinstance(rule, ast.CheckColor):
        sku = c.components[rule.component.value].first(ast.SkuColor)
        assert sku is not None, "checked: E311"
        params.update(component=rule.component.value, target=c.color(sku.color),
                      color=c.colour_name(sku.color), within=_n(sku.within.value))
        inputs.append(lay(rule.component.value))
    elif isinstance(rule, ast.CheckClearspace):
        brand_k = brand_items.first(ast.Clearspace) if brand_items else None
        k = rule.factor or (brand_k.value if brand_k else None)
        factor = _n(k.value) if k else DEFAULTS["clearspace"]
        name = rule.component.value
        logo_box = boxes[name]  # the zone can reach no further than the box grown by k × its height
        zone = grow(logo_box, math.ceil(factor * (logo_box[3] - logo_box[1])), (W, H))
        near = [n for n in c.v.layers if n == name or intersects(boxes[n], zone)]
        params.update(component=name, factor=factor, layers=near,
                      backgrounds=[n for n in near if c.boxes[n] == (0, 0, *c.canvas)])  # covering the canvas
        logo = brand_items.first(ast.Logo) if brand_items else None
        placed = c.g.graph.nodes[c.v.layers[name]]["params"].get("sha256")
        if logo and placed:  # the bytes it measures, and the brand logo's they must be (E314 in lang/check.py)
            assert brand_items is not None
            brand_module = c.g.program.modules[os.path.realpath(brand_items.span.file)]
            params.update(sha256=placed, logo_sha256=c.g.file(brand_module, logo.path.value)[1])
        inputs += [lay(n, None if n == name else zone) for n in near]  # the others: only what the zone holds
    elif isinstance(rule, ast.CheckSafezone):
        if rule.margin is None and frame.margins is not None:  # the output's own, else the brand's
            params["margins"] = list(frame.margins)
        else:
            brand_m = brand_items.first(ast.Safezone) if brand_items else None
            margin = rule.margin or (brand_m.value if brand_m else None)
            px = length(margin, short) if margin else length(
                ast.Num(rule.span, DEFAULTS["safezone"], "%", ""), short)
            params["margins"] = [px] * 4
        placed_names = [n for n in c.v.layers if c.components[n].first(ast.Prompt) is None]  # what it measures
        params.update(components=placed_names, layers=placed_names)
        inputs += [lay(n) for n in placed_names]
    elif isinstance(rule, ast.CheckMinsize):
        params.update(component=rule.component.value,
                      min=[length(rule.size.width, W), length(rule.size.height, H)])
        inputs.append(lay(rule.component.value))
    elif isinstance(rule, ast.CheckContrast):  # the text's colour against the pixels under its glyphs
        typeset = c.g.graph.nodes[c.v.layers[rule.component.value]]["params"]
        params.update(component=rule.component.value, color=typeset["color"],
                      ratio=_n(rule.ratio.value) if rule.ratio else None)
        inputs.append(lay(rule.component.value))
    elif isinstance(rule, ast.CheckVisible):  # whole inside the frame, where it puts the component
        name = rule.component.value
        lifted = name in frame.lifted or frame.name is None
        params.update(component=name, canvas=list(frame.size if lifted else c.canvas),
                      outputs={frame.name or "canvas": {"size": list(frame.size),
                                                        "mode": "fit" if lifted else frame.mode}})
        inputs = [lay(name) if lifted else c.v.layers[name]]
    # what of its first input's pixels it measures (clear space, safe zone and size: layers only)
    reads = [(0, 0, *thumb_size(frame.size))] if isinstance(rule, ast.CheckPalette) else \
        [boxes[rule.component.value]] if isinstance(rule, (ast.CheckColor, ast.CheckContrast)) else []
    named = getattr(rule, "component", None)  # `check color product`: one rule per component, told apart
    label = f"check {rule.keyword}" + (f" {named.value}" if named is not None else "") + frame.suffix
    return c.add("check", params, inputs, region=None, span=rule.span, label=label, reads=reads,
                    space=frame.name)
