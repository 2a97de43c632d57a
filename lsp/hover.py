"""Hover: what the word under the cursor is.

A keyword: its meaning and default, from the language reference (`lang.reference`). A brand
colour: its hex, sRGB and CIELAB values. A component: its kind, its box in canvas pixels, and,
when a build has left a cache, its node key and when it was last rendered, per variant. A region
(on its `box`, `anchor`, … word): its box in canvas pixels. A font, brand, axis or field: where it
is defined and what it holds.
"""

from __future__ import annotations

import time

from lsprotocol import types as lsp

from brief.lang import ast
from brief.lang.colour import hex_rgb, srgb_to_lab
from brief.lang.geometry import canvas_size, component_boxes, region_box
from brief.lang.interactive import keyword_of, tokens
from brief.lang.reference import VALUES

from . import builds
from .analysis import Analysis
from .completion import _block, keyword_doc
from .positions import Lines

_REGION_WORDS = {"full", "box", "anchor", "mask", "around"}


def _token_at(text: str, offset: int):
    toks, _ = tokens(text)
    for i, tok in enumerate(toks):
        if tok.start_pos <= offset <= tok.start_pos + len(tok.value) and tok.type != "$END":
            return toks, i
    return toks, None


def _colour(c: ast.BrandColor, brand: str) -> str:
    hex_text = c.color.text.upper()
    try:
        rgb = hex_rgb(hex_text)
    except ValueError:
        return f"colour `{c.name.value}` of brand `{brand}`: `{hex_text}` (not a valid hex colour)"
    lab = srgb_to_lab(rgb)
    return (f"**colour** `{c.name.value}` (brand `{brand}`)\n\n`{hex_text}` · sRGB {rgb[0]}, {rgb[1]}, {rgb[2]}"
            f" · CIELAB L* {lab[0]:.1f}, a* {lab[1]:.1f}, b* {lab[2]:.1f}")


def _brief_of(analysis: Analysis, name: str) -> ast.Brief | None:
    module = analysis.module
    return next((b for b in module.briefs if b.name.value == name), None) if module else None


def _component(analysis: Analysis, brief_name: str, name: str) -> str:
    brief = _brief_of(analysis, brief_name)
    comp = next((c for c in brief.components if c.name.value == name), None) if brief else None
    if brief is None or comp is None:
        return f"component `{name}`"
    kind = "text" if comp.first(ast.Text) else "placed asset" if comp.first(ast.Asset) else "generated"
    canvas = canvas_size(brief)
    box = component_boxes(brief, canvas).get(name)
    lines = [f"**component** `{name}` ({kind})"]
    if box:
        lines.append(f"box in canvas pixels: x {box[0]}–{box[2]}, y {box[1]}–{box[3]} "
                     f"({box[2] - box[0]} × {box[3] - box[1]} of {canvas[0]} × {canvas[1]})")
    records = builds.rendered(analysis.path, analysis.variant_names(), f"component {name}")
    if records:
        lines.append("last build" + ("" if analysis.saved else " (of the saved file; this text is not saved)") + ":")
        for r in records[:6]:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.when)) if r.when else "no longer in the cache"
            lines.append(f"- `{r.variant}`: node `{r.key[:16]}…` ({r.op}), rendered {when}")
        if len(records) > 6:
            lines.append(f"- and {len(records) - 6} more variants")
    else:
        lines.append("not built yet (no cache beside the brief)")
    return "\n\n".join(lines[:2]) + ("\n\n" + "\n".join(lines[2:]) if len(lines) > 2 else "")


def _symbol(analysis: Analysis, occ) -> str | None:
    program = analysis.program
    kind = occ.symbol[0]
    if kind == "colour" or kind == "font" or kind == "brand":
        module = next((m for k, m in program.modules.items() if k == occ.symbol[1]), None)
        brand = next((b for b in module.brands if b.name.value == occ.symbol[2]), None) if module else None
        if brand is None:
            return None
        if kind == "brand":
            return f"**brand** `{brand.name.value}`, defined in `{module.path}`"
        if kind == "colour":
            c = next((c for c in brand.all(ast.BrandColor) if c.name.value == occ.symbol[3]), None)
            return _colour(c, brand.name.value) if c else None
        f = next((f for f in brand.all(ast.BrandFont) if f.name.value == occ.symbol[3]), None)
        return f"**font** `{f.name.value}` (brand `{brand.name.value}`): {f.path.text}" if f else None
    if kind == "component":
        return _component(analysis, occ.symbol[2], occ.symbol[3])
    if kind == "axis" or kind == "field":
        brief = _brief_of(analysis, occ.symbol[2])
        m = next((m for m in brief.matrices if m.name.value == occ.symbol[3]), None) if brief else None
        if m is None:
            return None
        if kind == "axis":
            values = ", ".join(f"`{v.name.value}`" for v in m.values)
            return f"**matrix axis** `{m.name.value}`: {len(m.values)} values ({values})"
        rows = [f"- `{v.name.value}`: {getattr(f.value, 'text', None) or f.value.value}"
                for v in m.values if (f := v.field(occ.symbol[4]))]
        return f"**field** `{occ.symbol[4]}` of matrix `{m.name.value}`\n\n" + "\n".join(rows)
    if kind == "file":
        return f"**file** `{occ.symbol[1]}`"
    return None


def _region_at(analysis: Analysis, offset: int) -> str | None:
    """The canvas box of the region whose spec holds `offset` (a component's, an edit's)."""
    module = analysis.module
    if module is None:
        return None
    for brief in module.briefs:
        if not brief.span.start <= offset <= brief.span.end:
            continue
        canvas = canvas_size(brief)
        boxes = component_boxes(brief, canvas)
        for block in brief.components + brief.edits:
            for item in block.items:
                spec = item.spec if isinstance(item, ast.Region) else getattr(item, "region", None)
                if spec is not None and spec.span.start <= offset <= spec.span.end:
                    b = region_box(spec, canvas, boxes)
                    return (f"region of `{block.name.value}` in canvas pixels: x {b[0]}–{b[2]}, y {b[1]}–{b[3]} "
                            f"({b[2] - b[0]} × {b[3] - b[1]} of {canvas[0]} × {canvas[1]})")
    return None


def hover(analysis: Analysis | None, text: str, offset: int) -> lsp.Hover | None:
    if analysis is not None and analysis.index is not None:
        occ = analysis.index.at(analysis.path, offset)
        if occ is not None:
            body = _symbol(analysis, occ)
            if body:
                lines = analysis.lines_of(analysis.path)
                return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, body),
                                 lines.span_range(occ.span) if lines else None)
    toks, i = _token_at(text, offset)
    if i is None:
        return None
    tok = toks[i]
    word = keyword_of(tok.type)
    body = None
    if word and word.isalpha():
        block = "check" if i > 0 and str(toks[i - 1]) == "check" else _block(toks[:i])
        body = keyword_doc(block, word)
        if word in _REGION_WORDS and analysis is not None:
            box = _region_at(analysis, tok.start_pos)
            body = f"{body}\n\n{box}" if body and box else body
    elif tok.type == "HEX_COLOR":
        try:
            rgb = hex_rgb(str(tok)) if len(str(tok)) in (4, 7) else None
        except ValueError:
            rgb = None
        if rgb:
            lab = srgb_to_lab(rgb)
            body = (f"`{str(tok).upper()}` · sRGB {rgb[0]}, {rgb[1]}, {rgb[2]} · "
                    f"CIELAB L* {lab[0]:.1f}, a* {lab[1]:.1f}, b* {lab[2]:.1f}")
    elif tok.type == "NAME" and str(tok) in VALUES:
        body = f"`{tok}`: {VALUES[str(tok)]}"
    if not body:
        return None
    end = tok.start_pos + len(tok.value)
    return lsp.Hover(lsp.MarkupContent(lsp.MarkupKind.Markdown, body), Lines(text).range(tok.start_pos, end))
