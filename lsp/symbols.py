"""Document symbols: the outline of a file — its brands (colours, fonts) and briefs (matrices,
components, edits, checks, outputs), each with its whole block as range and its name as the part
to select."""

from __future__ import annotations

from lsprotocol import types as lsp

from brief.lang import ast

from .analysis import Analysis

S = lsp.SymbolKind


def outline(analysis: Analysis) -> list[lsp.DocumentSymbol]:
    module = analysis.module
    lines = analysis.lines_of(analysis.path)
    if module is None or lines is None:
        return []

    def sym(name: str, kind, span: ast.Span, name_span: ast.Span, detail: str = "", children=None):
        return lsp.DocumentSymbol(name=name, kind=kind, range=lines.span_range(span),
                                  selection_range=lines.span_range(name_span), detail=detail or None,
                                  children=children or None)

    out = []
    for brand in module.brands:
        kids = [sym(c.name.value, S.Constant, c.span, c.name.span, c.color.text.upper())
                for c in brand.all(ast.BrandColor)]
        kids += [sym(f.name.value, S.File, f.span, f.name.span, f.path.value) for f in brand.all(ast.BrandFont)]
        out.append(sym(brand.name.value, S.Namespace, brand.span, brand.name.span, "brand", kids))
    for brief in module.briefs:
        kids = []
        for item in brief.items:
            if isinstance(item, ast.Matrix):
                values = [sym(v.name.value, S.EnumMember, v.span, v.name.span, v.text.value) for v in item.values]
                kids.append(sym(item.name.value, S.Enum, item.span, item.name.span, "matrix", values))
            elif isinstance(item, ast.Component):
                kind = "text" if item.first(ast.Text) else "asset" if item.first(ast.Asset) else "generated"
                kids.append(sym(item.name.value, S.Class, item.span, item.name.span, f"component ({kind})"))
            elif isinstance(item, ast.Edit):
                ops = ", ".join(op.keyword for op in item.ops)
                kids.append(sym(item.name.value, S.Function, item.span, item.name.span, f"edit ({ops})"))
            elif isinstance(item, ast.CHECK_RULES):
                name = getattr(item, "component", None)
                label = item.keyword + (f" {name.value}" if isinstance(name, ast.Name) else "")
                kids.append(sym(label, S.Event, item.span, item.span, "check"))
            elif isinstance(item, ast.Output):
                size = f"{item.size.width.text} x {item.size.height.text} {item.mode.value}"
                kids.append(sym(item.name.value, S.Interface, item.span, item.name.span, f"output {size}"))
        out.append(sym(brief.name.value, S.Module, brief.span, brief.name.span, "brief", kids))
    return out
