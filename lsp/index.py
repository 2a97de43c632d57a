"""The symbol index of a loaded program: every definition and reference of a name, by symbol.

A symbol is a tuple naming what a name stands for, the same in every program that loads the file
defining it (files are keyed by real path): `("component", file, brief, name)`, `("brand", file,
name)`, `("colour", file, brand, name)`, `("font", file, brand, name)`, `("axis", file, brief,
axis)`, `("field", file, brief, axis, field)`, `("file", path)`. References are resolved the way the
checker and the compiler resolve them (a brief's brand from the brands its file sees, a colour name
in the brief's brand, `{axis.field}` placeholders at their exact place in the string), so go to
definition, find references, rename and highlighting all agree with what a build would do.
"""

from __future__ import annotations

import bisect
import os
from collections import defaultdict
from dataclasses import dataclass

from brief.lang import ast, matrix
from brief.lang.load import Program
from brief.lang.scope import brand_colors, scopes

Symbol = tuple


@dataclass(frozen=True)
class Occurrence:
    span: ast.Span
    symbol: Symbol
    definition: bool

    @property
    def kind(self) -> str:
        return self.symbol[0]


def _fonts(brand: ast.Brand | None) -> dict[str, ast.BrandFont]:
    return {f.name.value: f for f in brand.all(ast.BrandFont)} if brand else {}


def _regions(block) -> list[ast.RegionSpec]:
    out = []
    for item in block.items:
        spec = item.spec if isinstance(item, ast.Region) else getattr(item, "region", None)
        if spec is not None:
            out.append(spec)
    return out


class Index:
    """Occurrences of every name of a program, by file (sorted by offset) and by symbol."""

    def __init__(self, program: Program):
        self.program = program
        self.by_file: dict[str, list[Occurrence]] = defaultdict(list)
        self.by_symbol: dict[Symbol, list[Occurrence]] = defaultdict(list)
        self.shown: dict[str, str] = {}  # real path of a module → the path its spans carry
        for key, module in program.modules.items():
            self.shown[key] = module.path
        brand_home: dict[int, str] = {}
        for key, module in program.modules.items():
            for brand in module.brands:
                brand_home[id(brand)] = key
        for scope in scopes(program):
            key = os.path.realpath(scope.module.path)
            self._module(scope, key, brand_home)
        for occs in self.by_file.values():
            occs.sort(key=lambda o: (o.span.start, o.span.end))
        self._starts = {f: [o.span.start for o in occs] for f, occs in self.by_file.items()}

    def _add(self, span: ast.Span, symbol: Symbol, definition: bool = False) -> None:
        occ = Occurrence(span, symbol, definition)
        self.by_file[span.file].append(occ)
        self.by_symbol[symbol].append(occ)

    def _module(self, scope, key: str, brand_home: dict[int, str]) -> None:
        module, program = scope.module, self.program
        for (source, target), span in program.use_spans.items():
            if source == key:
                use = next((u for u in module.uses if u.span == span), None)
                if use is not None:
                    self._add(use.path.span, ("file", target))
        for brand in module.brands:
            self._add(brand.name.span, ("brand", key, brand.name.value), True)
            for c in brand.all(ast.BrandColor):
                self._add(c.name.span, ("colour", key, brand.name.value, c.name.value), True)
            for f in brand.all(ast.BrandFont):
                self._add(f.name.span, ("font", key, brand.name.value, f.name.value), True)
        for brief in module.briefs:
            self._brief(scope, key, brief, brand_home)

    def _brief(self, scope, key: str, brief: ast.Brief, brand_home: dict[int, str]) -> None:
        b = brief.name.value
        ref = brief.first(ast.BrandRef)
        brand = scope.brands.get(ref.name.value) if ref else None
        if ref is not None and brand is not None:
            self._add(ref.name.span, ("brand", brand_home[id(brand)], brand.name.value))
        colours, fonts = brand_colors(brand), _fonts(brand)
        home = brand_home[id(brand)] if brand is not None else ""

        def colour(name: ast.Name) -> None:
            if brand is not None and name.value in colours:
                self._add(name.span, ("colour", home, brand.name.value, name.value))

        def font(name: ast.Name) -> None:
            if brand is not None and name.value in fonts:
                self._add(name.span, ("font", home, brand.name.value, name.value))

        comps = {c.name.value for c in brief.components}

        def component(name: ast.Name) -> None:
            if name.value in comps:
                self._add(name.span, ("component", key, b, name.value))

        for m in brief.matrices:
            self._add(m.name.span, ("axis", key, b, m.name.value), True)
            for value in m.values:
                for f in value.fields:
                    self._add(f.name.span, ("field", key, b, m.name.value, f.name.value), True)
                    if isinstance(f.value, ast.Name):
                        (colour if f.value.value in colours else font)(f.value)
        axes = {m.name.value for m in brief.matrices}
        for use in matrix.uses(brief):
            if use.axis in axes:
                self._add(use.axis_span, ("axis", key, b, use.axis))
                if use.field and use.field != "name" and use.field_span is not None:
                    self._add(use.field_span, ("field", key, b, use.axis, use.field))
        for comp in brief.components:
            self._add(comp.name.span, ("component", key, b, comp.name.value), True)
            for item in comp.items:
                if isinstance(item, (ast.SkuColor, ast.TextColor)) and isinstance(item.color, ast.Name):
                    colour(item.color)
                elif isinstance(item, ast.FontRef) and isinstance(item.name, ast.Name):
                    font(item.name)
        for comp in brief.components:
            for control in comp.all(ast.Control):
                component(control.source)
        for block in brief.components + brief.edits:
            for spec in _regions(block):
                if isinstance(spec, ast.Around):
                    component(spec.component)
        for edit in brief.edits:
            for op in edit.items:
                if isinstance(op, ast.Recolor):
                    component(op.component)
                    if isinstance(op.target, ast.Name):
                        colour(op.target)
                elif isinstance(op, ast.Harmonize):
                    component(op.component)
        for rule in brief.checks:
            name = getattr(rule, "component", None)
            if isinstance(name, ast.Name):
                component(name)
        for out in brief.outputs:
            for place in out.places:
                component(place.component)
                if isinstance(place.region, ast.Around):
                    component(place.region.component)

    # ── queries ──
    def at(self, file: str, offset: int) -> Occurrence | None:
        """The occurrence whose span holds `offset` in `file` (its end included: a cursor just after
        a name is on it)."""
        occs = self.by_file.get(file, [])
        i = bisect.bisect_right(self._starts.get(file, []), offset) - 1
        while i >= 0:
            occ = occs[i]
            if occ.span.start <= offset <= occ.span.end:
                return occ
            if occ.span.end < offset - 200:
                break
            i -= 1
        return None

    def occurrences(self, symbol: Symbol) -> list[Occurrence]:
        return self.by_symbol.get(symbol, [])

    def definitions(self, symbol: Symbol) -> list[Occurrence]:
        return [o for o in self.occurrences(symbol) if o.definition]
