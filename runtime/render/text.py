"""Typesetting of text layers: a string, a font file and a box in target pixels become an RGBA layer
of exactly the box's size, plus what was laid out (the px size, the lines, the ink box and the glyph
coverage mask that the contrast check measures under).

Pillow + FreeType (`ImageFont.truetype`) shape and rasterise, with the Raqm layout engine (HarfBuzz
shaping, FriBiDi) where Pillow has it, else Pillow's basic layout; `text_engine()` names what is used,
with the library versions, for node keys: another engine or version may move a glyph by a pixel.

The layout rules, all in pixels of the target (an output re-typesets at its own resolution):
- Lines: each `\\n` starts a paragraph; a paragraph wraps greedily by words (runs of whitespace are
  one space) inside the box width. A word wider than the box is an error naming it: words are never
  broken or clipped.
- Line height: (ascent + descent) of the font at that size, times LINE_SPACING (1.15), rounded to
  whole pixels. The first baseline sits `ascent` below the top of the box (lower if the first line's
  ink rises above the ascent, e.g. `Å`); the block hangs from the top of the box.
- Horizontal: each line aligned on its own (left, center, right) by its extent: the advance width
  joined with the ink, so an overhanging glyph (`j`, `f`) stays inside the box.
- `size auto MIN MAX`: the largest whole px size in [MIN, MAX] at which the text fits, by bisection.
  Fitting is monotone in practice but not by law (hinting, wrapping), so the result is guaranteed
  to fit and the next size up is guaranteed not to (both were measured); a larger size beyond a
  non-fitting one is not searched.
- Overflow (at `size`, or at the auto minimum) and characters the font has no glyph for (read from
  its cmap with fontTools) raise TextError with the numbers or the characters: never a silent clip.
- Pixels: alpha is FreeType's anti-aliased coverage scaled by the opacity (imaging.soften's rule);
  RGB is exactly the colour where alpha > 0 and 0 elsewhere (not premultiplied). Same inputs and
  same engine: same bytes.
"""

from __future__ import annotations

import functools
import io
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import PIL
from fontTools.ttLib import TTFont, TTLibError
from PIL import Image, ImageDraw, ImageFont, features

from . import imaging

LINE_SPACING = 1.15  # line height = (ascent + descent) × this, the usual "normal" leading of 15 %
COVERED = 128  # coverage alpha at or above which a pixel counts as glyph (more than half covered)
ALIGNS = ("left", "center", "right")

Box = tuple[int, int, int, int]


class TextError(Exception):
    """Text that cannot be typeset as asked: overflow, a word wider than the box, missing glyphs,
    an unreadable font. The message is one sentence; the caller adds the component and variant."""


@dataclass(frozen=True)
class TextLayout:
    rgba: np.ndarray  # (h, w, 4) uint8, exactly the box; transparent outside the glyphs
    size: int  # the px size used (the chosen one for `auto`)
    lines: tuple[str, ...]  # the lines as laid out, after wrapping
    line_height: int  # px between baselines
    needed: tuple[int, int]  # (w, h) px the laid-out block takes, top-left anchored; ≤ the box
    ink: Box | None  # (x0, y0, x1, y1) of the pixels with any coverage, in box px; None if none
    coverage: np.ndarray  # (h, w) bool: pixels at least half covered by a glyph (before opacity)
    bold: bool  # the font says it is bold (OS/2 weight ≥ 700 or the head bold bit): WCAG large text


@functools.lru_cache(maxsize=1)
def text_engine() -> dict:
    """What shapes and rasterises text here, for node keys: the layout engine and library versions."""
    raqm = bool(features.check_feature("raqm"))
    return {
        "layout": "raqm" if raqm else "basic",
        "pillow": PIL.__version__,
        "freetype": features.version("freetype2"),
        "raqm": features.version("raqm") if raqm else None,
        "harfbuzz": features.version("harfbuzz") if raqm else None,
        "fribidi": features.version("fribidi") if raqm else None,
        "line_spacing": LINE_SPACING,
    }


def typeset(text: str, font_path: Path, box_size: tuple[int, int], size: int | None = None,
            auto: tuple[int, int] | None = None, color: tuple[int, int, int] = (0, 0, 0),
            align: str = "left", opacity: float = 1.0) -> TextLayout:
    """Typeset `text` with the font at `font_path` into a box of `box_size` (w, h) px, at `size` px
    or at the largest size in `auto` (min, max) that fits. Raises TextError when it cannot."""
    _validate(box_size, size, auto, color, align, opacity)
    font = _Font.load(Path(font_path))
    font.check_glyphs(text)
    paragraphs = [" ".join(p.split()) for p in text.splitlines()]
    if size is not None:
        plan = _plan(font, paragraphs, size, box_size)
        if isinstance(plan, str):
            raise TextError(plan)
    else:
        plan = _largest_fit(font, paragraphs, auto, box_size)
    return _render(font, plan, box_size, color, align, opacity)


# ── the font ──────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class _Font:
    name: str
    data: bytes
    cmap: frozenset[int]
    bold: bool

    @staticmethod
    def load(path: Path) -> _Font:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise TextError(f"cannot read the font {path.name}: {e.strerror or e}") from None
        return _parse(path.name, data)

    def at(self, size: int) -> ImageFont.FreeTypeFont:
        return _freetype(self.data, size)

    def check_glyphs(self, text: str) -> None:
        missing = [c for c in dict.fromkeys(text) if not c.isspace() and ord(c) not in self.cmap]
        if missing:
            named = ", ".join(f"'{c}' (U+{ord(c):04X})" if c.isprintable() else f"U+{ord(c):04X}" for c in missing)
            raise TextError(f"the font {self.name} has no glyph for {named}")


@functools.lru_cache(maxsize=16)
def _parse(name: str, data: bytes) -> _Font:
    try:
        tt = TTFont(io.BytesIO(data), fontNumber=0, lazy=True)
        cmap = tt.getBestCmap() or {}
        weight = tt["OS/2"].usWeightClass if "OS/2" in tt else 400
        bold = weight >= 700 or bool(tt["head"].macStyle & 1)
        _freetype(data, 12)  # FreeType must read it too
    except (TTLibError, OSError, KeyError, AssertionError, ValueError, IndexError, struct.error) as e:
        raise TextError(f"the font {name} is not a readable TrueType/OpenType font ({e})") from None
    return _Font(name, data, frozenset(cmap), bold)


def _freetype(data: bytes, size: int) -> ImageFont.FreeTypeFont:
    """A fresh FreeType face per use (tens of µs): faces are not shared between threads."""
    engine = ImageFont.Layout.RAQM if text_engine()["layout"] == "raqm" else ImageFont.Layout.BASIC
    return ImageFont.truetype(io.BytesIO(data), size, layout_engine=engine)


# ── layout ────────────────────────────────────────────────────────────────────

@dataclass(frozen=True)
class _Plan:
    size: int
    lines: tuple[str, ...]
    extents: tuple[tuple[int, int], ...]  # per line: (left, right) px around its origin, ink ∪ advance
    baselines: tuple[int, ...]
    line_height: int
    needed: tuple[int, int]


def _plan(font: _Font, paragraphs: list[str], size: int, box: tuple[int, int]) -> _Plan | str:
    """The layout at `size`, or a sentence saying why it does not fit the box."""
    ft = font.at(size)
    width, height = box
    lines: list[str] = []
    for para in paragraphs:
        wrapped = _wrap(ft, para, width, size)
        if isinstance(wrapped, str):
            return wrapped
        lines.extend(wrapped)
    ascent, descent = ft.getmetrics()
    line_height = round((ascent + descent) * LINE_SPACING)
    boxes = [ft.getbbox(line, anchor="ls") if line else (0, 0, 0, 0) for line in lines]
    extents = tuple((min(0, b[0]), b[2]) for b in boxes)
    first = max(ascent, -boxes[0][1]) if boxes else ascent
    baselines = tuple(first + i * line_height for i in range(len(lines)))
    need_w = max((right - left for left, right in extents), default=0)
    need_h = max((base + max(descent, b[3]) for base, b in zip(baselines, boxes)), default=0)
    if need_w > width or need_h > height:
        count = f"{len(lines)} line{'s' * (len(lines) != 1)}"
        return (f"the text needs {need_w} x {need_h} px ({count}) at {size} px "
                f"but the box is {width} x {height} px")
    return _Plan(size, tuple(lines), extents, baselines, line_height, (need_w, need_h))


def _wrap(ft: ImageFont.FreeTypeFont, para: str, width: int, size: int) -> list[str] | str:
    """Greedy word wrap of one paragraph; a sentence saying so if one word alone is too wide."""
    lines: list[str] = []
    current = ""
    for word in para.split(" ") if para else []:
        candidate = f"{current} {word}" if current else word
        if _extent(ft, candidate) <= width:
            current = candidate
            continue
        wide = _extent(ft, word)
        if wide > width:
            return f"the word '{word}' is {wide} px wide at {size} px but the box is {width} px wide"
        lines.append(current)
        current = word
    lines.append(current)
    return lines


def _extent(ft: ImageFont.FreeTypeFont, line: str) -> int:
    left, _, right, _ = ft.getbbox(line, anchor="ls")
    return right - min(0, left)


def _largest_fit(font: _Font, paragraphs: list[str], auto: tuple[int, int], box: tuple[int, int]) -> _Plan:
    """Bisection for the largest size in [lo, hi] that fits; `lo` fits and `hi` does not throughout."""
    lo, hi = auto
    best = _plan(font, paragraphs, lo, box)
    if isinstance(best, str):
        raise TextError(f"{best} (the smallest size `auto` allows)")
    top = _plan(font, paragraphs, hi, box)
    if not isinstance(top, str):
        return top
    while hi - lo > 1:
        mid = (lo + hi) // 2
        plan = _plan(font, paragraphs, mid, box)
        if isinstance(plan, str):
            hi = mid
        else:
            lo, best = mid, plan
    return best


# ── pixels ────────────────────────────────────────────────────────────────────

def _render(font: _Font, plan: _Plan, box: tuple[int, int], color: tuple[int, int, int], align: str,
            opacity: float) -> TextLayout:
    width, height = box
    cover = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(cover)
    draw.fontmode = "L"  # anti-aliased
    ft = font.at(plan.size)
    for line, (left, right), base in zip(plan.lines, plan.extents, plan.baselines):
        if not line:
            continue
        x = {"left": 0, "center": (width - (right - left)) // 2, "right": width - (right - left)}[align] - left
        draw.text((x, base), line, fill=255, font=ft, anchor="ls")
    alpha = np.asarray(cover)
    rgba = np.zeros((height, width, 4), np.uint8)
    rgba[..., 3] = alpha
    rgba = imaging.soften(rgba, 0, opacity)
    rgba[rgba[..., 3] > 0, :3] = color
    ys, xs = np.nonzero(alpha)
    ink = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else None
    return TextLayout(rgba, plan.size, plan.lines, plan.line_height, plan.needed, ink, alpha >= COVERED, font.bold)


def _validate(box_size, size, auto, color, align, opacity) -> None:
    width, height = box_size
    if width <= 0 or height <= 0:
        raise TextError(f"the text box is empty ({width} x {height} px)")
    if (size is None) == (auto is None):
        raise ValueError("typeset takes exactly one of size and auto")
    if size is not None and size < 1:
        raise ValueError(f"text size must be at least 1 px, not {size}")
    if auto is not None and not 1 <= auto[0] <= auto[1]:
        raise ValueError(f"auto sizes must satisfy 1 <= min <= max, not {auto}")
    if align not in ALIGNS:
        raise ValueError(f"align must be one of {', '.join(ALIGNS)}, not {align!r}")
    if len(color) != 3 or not all(0 <= c <= 255 for c in color):
        raise ValueError(f"color must be three values in 0..255, not {color}")
    if not 0 <= opacity <= 1:
        raise ValueError(f"opacity must be in 0..1, not {opacity}")
