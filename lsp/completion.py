"""Completion: the keywords the grammar accepts at the cursor (Lark's interactive parser, through
`lang.interactive`), and where a name is expected, the names that can stand there: components,
brands, brand colours and fonts, matrix axes and their fields, anchor positions and the words of
each setting (`context`, `fit`, `align`, output modes, formats, backends).

What a name means is read from the words just before it on the parser's stack (`recolor X to` →
a colour; `anchor` → a position; `check contrast` → a text component); the names come from the
document's last good analysis, so completion still works while the line being typed is broken.
"""

from __future__ import annotations

from lsprotocol import types as lsp

from brief.lang import ast
from brief.lang.check import BACKENDS, CONTEXTS, FITS, OUTPUT_MODES
from brief.lang.check_catalogue import ALIGNS, FORMATS
from brief.lang.check_controls import CONTROLS, RESOLUTIONS, SCHEDULERS
from brief.lang.colour import hex_rgb
from brief.lang.geometry import ANCHORS
from brief.lang.interactive import accepted_at
from brief.lang.reference import VALUES, lookup, markdown
from brief.lang.scope import brand_colors, scopes

from .analysis import Analysis

K = lsp.CompletionItemKind
_WORDS = {"context": CONTEXTS, "fit": FITS, "align": ALIGNS, "format": FORMATS, "backend": BACKENDS,
          "anchor": tuple(ANCHORS), "resolution": RESOLUTIONS, "scheduler": SCHEDULERS, "control": CONTROLS,
          "controlnet": CONTROLS}
_COMPONENT_AFTER = {"recolor", "harmonize", "around", "place", "from"}
_CHECK_COMPONENT = {"color", "clearspace", "minsize", "contrast", "visible"}


def _block(before) -> str:
    """The innermost block the cursor is in, by the keyword that opened it."""
    depth = 0
    for i in range(len(before) - 1, -1, -1):
        v = str(before[i])
        if v == "}":
            depth += 1
        elif v == "{":
            if depth == 0:
                opener = next((str(t) for t in reversed(before[:i]) if str(t) in
                               ("brief", "brand", "component", "edit", "matrix", "output")), "file")
                return opener
            depth -= 1
    return "file"


def _brief_at(analysis: Analysis, offset: int) -> ast.Brief | None:
    module = analysis.loaded.module if analysis.loaded else None
    if module is None:
        return None
    for brief in module.briefs:
        if brief.span.start <= offset <= brief.span.end:
            return brief
    briefs = module.briefs
    return briefs[-1] if briefs else None


def _names(analysis: Analysis, brief: ast.Brief | None):
    """(components, brands, colours, fonts, axes) visible from `brief`."""
    program = analysis.loaded
    if program is None or brief is None:
        return {}, {}, {}, {}, {}
    scope = next((s for s in scopes(program) if s.module is program.module), None)
    brands = dict(scope.brands) if scope else {}
    ref = brief.first(ast.BrandRef)
    brand = brands.get(ref.name.value) if ref else None
    colours = brand_colors(brand)
    fonts = {f.name.value: f for f in brand.all(ast.BrandFont)} if brand else {}
    comps = {c.name.value: c for c in brief.components}
    axes = {m.name.value: m for m in brief.matrices}
    return comps, brands, colours, fonts, axes


def _item(label: str, kind, detail: str = "", doc: str = "", sort: str = "1") -> lsp.CompletionItem:
    return lsp.CompletionItem(label=label, kind=kind, detail=detail or None, sort_text=sort + label,
                              documentation=lsp.MarkupContent(lsp.MarkupKind.Markdown, doc) if doc else None)


def _component_kind(comp: ast.Component) -> str:
    return "text" if comp.first(ast.Text) else "asset" if comp.first(ast.Asset) else "generated"


def complete(analysis: Analysis | None, text: str, offset: int) -> list[lsp.CompletionItem]:
    accepted = accepted_at(text, offset)
    if accepted is None:
        return []
    before = accepted.before
    words = [str(t) for t in before]
    last = words[-1] if words else ""
    block = _block(before)
    items: list[lsp.CompletionItem] = []
    for kw in accepted.keywords:
        entry = lookup("check" if last == "check" else block, kw)
        items.append(_item(kw, K.Keyword, entry.syntax if entry else "", entry.meaning if entry else ""))
    if "NAME" not in accepted.terminals or analysis is None:
        return items
    brief = _brief_at(analysis, offset)
    comps, brands, colours, fonts, axes = _names(analysis, brief)
    prev = words[-2] if len(words) > 1 else ""

    def colour_items() -> None:
        for name, c in colours.items():
            r, g, b = hex_rgb(c.color.text)
            items.append(lsp.CompletionItem(label=name, kind=K.Color, detail=c.color.text.upper(),
                                            documentation=f"rgb({r}, {g}, {b})", sort_text="0" + name))
        axis_fields("colour")

    def holds(value, what: str) -> bool:
        if what == "colour":
            return isinstance(value, ast.HexColor) or (isinstance(value, ast.Name) and value.value in colours)
        if what == "font":
            return isinstance(value, ast.Name) and value.value in fonts
        return True

    def fields_of(m: ast.Matrix, what: str) -> list[str]:
        """The fields every value of which holds a `what` (a colour, a font; "any": all)."""
        names = sorted({f.name.value for v in m.values for f in v.fields})
        return [n for n in names if all(holds(f.value, what) for v in m.values if (f := v.field(n)))]

    def axis_fields(what: str) -> None:
        for axis, m in axes.items():
            for f in fields_of(m, what):
                items.append(_item(f"{axis}.{f}", K.Field, f"matrix field ({what})", sort="2"))

    if last == "." and prev in axes:  # AXIS.FIELD: the fields of the kind the setting takes
        setting = words[-3] if len(words) > 2 else ""
        what = "colour" if setting in ("color", "to") else "font" if setting == "font" else "any"
        return [_item(f, K.Field, f"field of matrix `{prev}`") for f in fields_of(axes[prev], what)]
    opened = max((i for i, w in enumerate(words) if w in "{}"), default=-1)
    in_fields = block == "matrix" and opened > 0 and words[opened] == "{" and before[opened - 1].type == "STRING"
    if in_fields and (len(words) - opened - 1) % 2 == 1:
        colour_items()  # a matrix field's value: a brand colour or font by name
        for name in fonts:
            items.append(_item(name, K.Reference, "font", sort="1"))
        return [i for i in items if i.kind != K.Field]
    if last == "to" or (last == "color" and block == "component"):
        colour_items()
    elif last == "font" and block == "component":
        for name, f in fonts.items():
            items.append(_item(name, K.Reference, f"font {f.path.text}", sort="0"))
        axis_fields("font")
    elif last == "brand" and block == "brief":
        for name in sorted(brands):
            items.append(_item(name, K.Module, "brand", sort="0"))
    elif last in _COMPONENT_AFTER or (prev == "check" and last in _CHECK_COMPONENT):
        for name, comp in comps.items():
            if last == "contrast" and not comp.first(ast.Text):
                continue
            items.append(_item(name, K.Class, f"component ({_component_kind(comp)})", sort="0"))
    elif last in _WORDS:
        for w in _WORDS[last]:
            items.append(_item(w, K.EnumMember, VALUES.get(w, ""), sort="0"))
    elif len(words) >= 5 and words[-5] == "output" and words[-2] == "x":  # output NAME W x H ▌
        for w in OUTPUT_MODES:
            items.append(_item(w, K.EnumMember, VALUES.get(w, ""), sort="0"))
    return items


def keyword_doc(block: str, keyword: str) -> str | None:
    entry = lookup(block, keyword)
    return markdown(entry) if entry else None
