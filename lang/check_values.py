"""Value checks: units, ranges and sizes of every number in a brief, and the canvas limits.

Owns what each numeric setting accepts (a `Rule` per setting: units, range, whole or not) and the geometric sanity of
regions and formats (inside the canvas, not empty, not absurdly large). A canvas of
100000 x 100000 is refused here, long before anything could allocate it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

from . import ast
from .diagnostics import Diagnostic, error
from .geometry import MAX_PIXELS, MAX_SIDE, anchor_box, canvas_size, length

UNIT_WORDS = {"": "a plain number", "%": "a percentage", "px": "pixels"}


@dataclass(frozen=True)
class Rule:
    what: str
    units: tuple[str, ...]
    lo: float | None = None
    hi: float | None = None
    integer: bool = False
    lo_open: bool = False  # lo itself not allowed
    example: str = ""


SEED = Rule("a seed", ("",), 0, 2**32 - 1, integer=True, example="seed 42")
STEPS = Rule("steps", ("",), 1, 200, integer=True, example="steps 20")
Z = Rule("z", ("",), -100000, 100000, integer=True, example="z 10")
STRENGTH = Rule("strength", ("",), 0, 1, lo_open=True, example="strength 0.6")
FEATHER = Rule("feather", ("", "px"), 0, 1024, example="feather 8px")
DELTA_E = Rule("a ΔE", ("",), 0, 30, lo_open=True, example="within 2")  # above 30 almost any colour passes
COVERAGE = Rule("coverage", ("%",), 0, 100, lo_open=True, example="coverage 80%")  # 0%: a rule that cannot fail
CLEARSPACE = Rule("clear space", ("",), 0, 10, example="clearspace 0.5")
LORA_WEIGHT = Rule("a LoRA weight", ("",), -4, 4, example="weight 0.8")
CONTROL_WEIGHT = Rule("a control weight", ("",), 0, 2, example="weight 0.8")
GUIDANCE = Rule("guidance", ("",), 0, 30, example="guidance 7.5")  # 0: no classifier-free guidance (turbo)
BAND = Rule("a band", ("", "px"), 0, 4096, lo_open=True, example="24px")
SIDE = Rule("a side", ("", "px"), 1, MAX_SIDE, integer=True, example="1024 x 768")
LENGTH = Rule("a length", ("%", "px"), 0, None, example="160px or 20%")


def number(num: ast.Num | None, rule: Rule) -> Iterator[Diagnostic]:
    """Diagnostics for one number against its rule."""
    if num is None:
        return
    if num.unit not in rule.units:
        allowed = " or ".join(UNIT_WORDS[u] for u in rule.units)
        yield error("E201", f"`{num.text}` has the wrong unit for {rule.what}",
                    f"Use {allowed}" + (f", for example {rule.example}." if rule.example else "."), num.span)
        return
    v = num.value
    if rule.integer and v != int(v):
        yield error("E202", f"{rule.what} must be a whole number, not `{num.text}`",
                    f"Use a whole number, for example {rule.example}.", num.span)
        return
    limit = rule.hi
    too_low = rule.lo is not None and (v < rule.lo or (rule.lo_open and v == rule.lo))
    too_high = limit is not None and v > limit
    if too_low or too_high:
        lo = "" if rule.lo is None else (f"above {_n(rule.lo)}" if rule.lo_open else f"at least {_n(rule.lo)}")
        hi = "" if limit is None else f"at most {_n(limit)}"
        yield error("E203", f"{rule.what} of `{num.text}` is out of range",
                    f"Use a value {' and '.join(x for x in (lo, hi) if x)}.", num.span)


def _n(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _safezone(num: ast.Num | None) -> Iterator[Diagnostic]:
    if num is not None:  # a percentage of the shorter side, at most half of it; or pixels
        yield from number(num, Rule("a safe zone", ("%", "px"), 0, 50 if num.unit == "%" else None,
                                    lo_open=True, example="safezone 4%"))  # 0: a rule that cannot fail


def _opacity(num: ast.Num) -> Iterator[Diagnostic]:
    hi = 100 if num.unit == "%" else 1
    yield from number(num, Rule("opacity", ("", "%"), 0, hi, example="opacity 0.8 or opacity 80%"))


def _size(size: ast.Size, what: str) -> Iterator[Diagnostic]:
    found = [*number(size.width, SIDE), *number(size.height, SIDE)]
    yield from found
    if not found and size.width.value * size.height.value > MAX_PIXELS:
        yield error("E204", f"{what} {size.width.text} x {size.height.text} is too large "
                    f"({size.width.value * size.height.value / 1e6:.0f} megapixels)",
                    f"Keep it at or under {MAX_PIXELS // 1_000_000} megapixels and {MAX_SIDE} px a side.",
                    size.span)


def _within_canvas(box: tuple[int, int, int, int], canvas: tuple[int, int], span: ast.Span,
                   what: str, where: str = "canvas") -> Iterator[Diagnostic]:
    x0, y0, x1, y1 = box
    w, h = canvas
    if x1 <= x0 or y1 <= y0:
        yield error("E205", f"{what} is empty ({x0},{y0} to {x1},{y1} px)",
                    "Give x0 < x1 and y0 < y1: box x0 y0 x1 y1 lists the top-left corner, then the bottom-right.",
                    span)
    elif x0 < 0 or y0 < 0 or x1 > w or y1 > h:
        yield error("E206", f"{what} reaches outside the {w} x {h} {where} ({x0},{y0} to {x1},{y1} px)",
                    f"Move or shrink it so that it fits the {where}.", span)


def region_values(spec: ast.RegionSpec, canvas: tuple[int, int], what: str,
                  where: str = "canvas") -> Iterator[Diagnostic]:
    """A region's numbers, and its box inside `canvas` (an output's size, for `place`), not empty."""
    if isinstance(spec, ast.Box):
        found: list[Diagnostic] = []
        for num in (spec.x0, spec.y0, spec.x1, spec.y1):
            found += number(num, Rule("a box coordinate", ("%", "px"), 0, 100 if num.unit == "%" else None,
                                      example="box 10% 10% 50% 40%"))
        yield from found
        if not found:
            w, h = canvas
            box = (length(spec.x0, w), length(spec.y0, h), length(spec.x1, w), length(spec.y1, h))
            yield from _within_canvas(box, canvas, spec.span, what, where)
    elif isinstance(spec, ast.Anchor):
        found = [*number(spec.size.width, Rule("a width", ("%", "px"), 0, None, lo_open=True, example="160px")),
                 *number(spec.size.height, Rule("a height", ("%", "px"), 0, None, lo_open=True, example="80px")),
                 *number(spec.margin, LENGTH)]
        yield from found
        if not found:
            yield from _within_canvas(anchor_box(spec, canvas), canvas, spec.span, what, where)
    elif isinstance(spec, ast.Around):
        yield from number(spec.band, BAND)


def check_values(scope) -> Iterator[Diagnostic]:
    """Every number in the module against its rule; sizes against the limits."""
    for item in scope.module.items:
        if isinstance(item, ast.Brand):
            for s in item.items:
                if isinstance(s, ast.Clearspace):
                    yield from number(s.value, CLEARSPACE)
                elif isinstance(s, ast.Safezone):
                    yield from _safezone(s.value)
        elif isinstance(item, ast.Brief):
            yield from _brief_values(item)


def _brief_values(brief: ast.Brief) -> Iterator[Diagnostic]:
    canvas_item = brief.first(ast.Canvas)
    size_errors = list(_size(canvas_item.size, "canvas")) if canvas_item else []
    yield from size_errors
    canvas = canvas_size(brief)
    geometric = not size_errors
    for item in brief.items:
        if isinstance(item, ast.Seed):
            yield from number(item.value, SEED)
        elif isinstance(item, ast.Steps):
            yield from number(item.value, STEPS)
        elif isinstance(item, ast.Guidance):
            yield from number(item.value, GUIDANCE)
        elif isinstance(item, ast.Lora):
            yield from number(item.weight, LORA_WEIGHT)
        elif isinstance(item, (ast.Component, ast.Edit)):
            yield from _block_values(item, canvas, geometric)
        elif isinstance(item, ast.CheckPalette):
            yield from number(item.within, DELTA_E)
            yield from number(item.coverage, COVERAGE)
        elif isinstance(item, ast.CheckClearspace):
            yield from number(item.factor, CLEARSPACE)
        elif isinstance(item, ast.CheckSafezone):
            yield from _safezone(item.margin)
        elif isinstance(item, ast.CheckMinsize):
            for side in (item.size.width, item.size.height):
                yield from number(side, Rule("a minimum size", ("%", "px", ""), 0, None, lo_open=True,
                                             example="minsize logo 64px x 32px"))
        elif isinstance(item, ast.Output):
            yield from _size(item.size, f"output `{item.name.value}`")


def _block_values(block, canvas: tuple[int, int], geometric: bool) -> Iterator[Diagnostic]:
    kind = "component" if isinstance(block, ast.Component) else "edit"
    for s in block.items:
        if isinstance(s, ast.Seed):
            yield from number(s.value, SEED)
        elif isinstance(s, ast.Steps):
            yield from number(s.value, STEPS)
        elif isinstance(s, ast.Z):
            yield from number(s.value, Z)
        elif isinstance(s, ast.Strength):
            yield from number(s.value, STRENGTH)
        elif isinstance(s, ast.Guidance):
            yield from number(s.value, GUIDANCE)
        elif isinstance(s, ast.Lora):
            yield from number(s.weight, LORA_WEIGHT)
        elif isinstance(s, ast.Refine):
            yield from number(s.strength, STRENGTH)
        elif isinstance(s, ast.Control):
            yield from number(s.weight, CONTROL_WEIGHT)
        elif isinstance(s, ast.Feather):
            yield from number(s.value, FEATHER)
        elif isinstance(s, ast.Opacity):
            yield from _opacity(s.value)
        elif isinstance(s, ast.SkuColor):
            yield from number(s.within, DELTA_E)
        elif isinstance(s, ast.Harmonize):
            yield from number(s.band, BAND)
        elif isinstance(s, (ast.Region, ast.Inpaint, ast.Remove)) and geometric:
            spec = s.spec if isinstance(s, ast.Region) else s.region
            yield from region_values(spec, canvas, f"the region of {kind} `{block.name.value}`")
