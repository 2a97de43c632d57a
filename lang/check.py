"""Checking: the semantic rules of the language, as small pure functions over the AST.

Each check takes a `Scope` (one module, the brands it can see, the loaded program) and yields
diagnostics; none mutates anything. They are listed in `CHECKS` and all run, so one pass reports
every problem; `check_program` raises them together. Numbers and geometry are checked in
`lang/check_values.py`, the files a brief names in `lang/check_files.py`; what a module sees (its
`Scope`) is `lang/scope.py`'s.
"""

from __future__ import annotations

import os
import re
from typing import Iterator

from . import ast, matrix
from .check_backend import BACKENDS, HOSTED, check_backend  # noqa: F401  (BACKENDS, HOSTED re-exported)
from .check_catalogue import check_fields, check_output_blocks, check_rules, check_text
from .check_controls import CONTROLS, RESOLUTIONS, SCHEDULERS, controls_of
from .check_files import check_clearspace_logo, check_paths
from .check_values import check_values
from .cycles import cycles
from .diagnostics import (
    Diagnostic,
    DiagnosticError,
    Related,
    did_you_mean,
    error,
    replace_with_closest,
    sort_key,
    warning,
)
from .geometry import ANCHORS, CONTEXT_PAD, canvas_size, component_boxes, grow, intersects
from .load import Program
from .scope import Scope, brand_colors, brief_brand, placeholders, scopes

FITS = ("contain", "cover", "stretch")
CONTEXTS = ("scene", "none")
OUTPUT_MODES = ("outpaint", "crop", "fit")
GENERATION_ONLY: tuple[type[ast.Keyworded], ...] = (
    ast.Negative, ast.Steps, ast.Strength, ast.Context, ast.Resolution, ast.Guidance, ast.Scheduler, ast.Lora)
MAX_VARIANTS = 4096
HEX_RE = re.compile(r"#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})")


# ── the checks ────────────────────────────────────────────────────────────────


def check_duplicates(scope: Scope) -> Iterator[Diagnostic]:
    """Names given twice, and single-valued settings given twice in a block."""
    def dupes(nodes, what: str, code: str = "E301") -> Iterator[Diagnostic]:
        seen: dict[str, ast.Name] = {}
        for name in nodes:
            if name.value in seen:
                first = seen[name.value].span
                yield error(code, f"{what} `{name.value}` is defined twice",
                            f"Rename one of them; the first is on line {first.line}.", name.span,
                            related=(Related(first, f"`{name.value}` is first defined here"),))
            else:
                seen[name.value] = name

    def settings_once(block) -> Iterator[Diagnostic]:
        seen: dict[type, ast.Span] = {}
        for item in block.items:
            kind = type(item)
            if kind in (ast.Component, ast.Edit, ast.Matrix, ast.Output, ast.BrandColor, ast.BrandFont, ast.Lora,
                        ast.ControlNet) \
                    or kind in ast.CHECK_RULES:
                continue
            if kind in seen:
                yield error("E302", f"`{item.keyword}` is given twice in {block.keyword} `{block.name.value}`",
                            f"Keep one; the first is on line {seen[kind].line}.", item.span)
            else:
                seen[kind] = item.span

    yield from dupes((b.name for b in scope.module.briefs), "brief")
    yield from dupes((b.name for b in scope.module.brands), "brand")
    for brand in scope.module.brands:
        yield from settings_once(brand)
        yield from dupes((c.name for c in brand.all(ast.BrandColor)), "colour")
        yield from dupes((f.name for f in brand.all(ast.BrandFont)), "font")
    for brief in scope.module.briefs:
        yield from settings_once(brief)
        yield from dupes((b.name for b in brief.components + brief.edits), "component or edit")
        yield from dupes((o.name for o in brief.outputs), "output")
        yield from dupes((m.name for m in brief.matrices), "matrix axis")
        yield from dupes((n.kind for n in brief.all(ast.ControlNet)), "controlnet")
        for m in brief.matrices:
            yield from dupes((v.name for v in m.values), f"matrix `{m.name.value}`: value")
        for block in brief.components + brief.edits:
            yield from settings_once(block)


def check_brands(scope: Scope) -> Iterator[Diagnostic]:
    """Brand references resolve; brand colours are valid hex; colour names exist in the brand."""
    brand: ast.Brand | None
    for brand in scope.module.brands:
        for c in brand.all(ast.BrandColor):
            yield from _hex(c.color)
    yield from _brand_clashes(scope)
    for brief in scope.module.briefs:
        for hexcolour in _hex_colours(brief):
            yield from _hex(hexcolour)
        ref = brief.first(ast.BrandRef)
        if ref and ref.name.value not in scope.brands:
            yield _unknown_brand(scope, ref)
            continue  # its colours are unknown too: say nothing more about them
        brand = brief_brand(scope, brief)
        colors = brand_colors(brand)
        for name in _colour_names(brief):
            if brand is None:
                yield error("E304", f"colour `{name.value}` needs a brand",
                            "Add `brand NAME` to the brief, or write the colour as hex (#C8102E).", name.span)
            elif name.value not in colors:
                hint = did_you_mean(name.value, colors)
                yield error("E305", f"unknown colour `{name.value}` in brand `{brand.name.value}`",
                            (hint.strip() + " " if hint else "") +
                            f"Brand `{brand.name.value}` has: {', '.join(colors) or 'no colours'}.", name.span,
                            fixes=replace_with_closest(name.span, name.value, colors))
        palette = next((c for c in brief.checks if isinstance(c, ast.CheckPalette)), None)
        if brand is None and palette is not None:
            yield error("E306", "`check palette` needs a brand with colours",
                        "Add `brand NAME` to the brief.", palette.span)


def _brand_clashes(scope: Scope) -> Iterator[Diagnostic]:
    """The same brand name from two different files this one sees: which would win is arbitrary."""
    program, key = scope.program, os.path.realpath(scope.module.path)
    owners: dict[str, tuple[str, ast.Brand]] = {b.name.value: (key, b) for b in scope.module.brands}
    for used_key in program.uses.get(key, []):  # each used file once, in the order of their first `use`
        used = program.modules.get(used_key)
        for brand in used.brands if used else ():
            first, other = owners.setdefault(brand.name.value, (used_key, brand))
            if first != used_key:
                yield error("E308", f"brand `{brand.name.value}` is defined in two files this one uses",
                            f"It is in {os.path.relpath(first)} and in {os.path.relpath(used_key)}; "
                            "rename one, or `use` only one of them.", program.use_spans[(key, used_key)],
                            related=(Related(other.name.span, f"`{brand.name.value}` is defined here"),
                                     Related(brand.name.span, f"and `{brand.name.value}` is defined here")))


def _unknown_brand(scope: Scope, ref: ast.BrandRef) -> Diagnostic:
    name = ref.name.value
    where = scope.known_brands.get(name)
    if where:
        fix = f'It is defined in {where}; add `use "{where}"` at the top of this file.'
    else:
        fix = did_you_mean(name, scope.brands).strip() or \
            "Define it with `brand NAME { … }`, or `use` the file that does."
        if any(d.code.startswith("E01") and d.span and d.span.file == scope.module.path
               for d in scope.program.diagnostics):
            fix += " (A `use` in this file failed; the brand may be defined there.)"
    return error("E303", f"unknown brand `{name}`", fix, ref.name.span,
                 fixes=() if where else replace_with_closest(ref.name.span, name, scope.brands))


def _hex(color: ast.HexColor) -> Iterator[Diagnostic]:
    if not HEX_RE.fullmatch(color.text):
        digits = color.text[1:]
        bad = "".join(ch for ch in digits if ch not in "0123456789abcdefABCDEF")
        why = f"`{bad[0]}` is not a hex digit" if bad else f"it has {len(digits)} digits, not 3 or 6"
        yield error("E307", f"invalid hex colour `{color.text}`: {why}",
                    "Write # and 6 (or 3) hex digits, 0-9 and A-F, for example #C8102E.", color.span)


def _colours(brief: ast.Brief) -> Iterator[ast.ColourRef]:
    """Every colour a brief names: SKU and text colours, recolour targets, hex colours of fields."""
    for comp in brief.components:
        for item in comp.items:
            if isinstance(item, (ast.SkuColor, ast.TextColor)):
                yield item.color
    for edit in brief.edits:
        for op in edit.all(ast.Recolor):
            yield op.target
    for m in brief.matrices:
        for value in m.values:
            for f in value.fields:
                if isinstance(f.value, ast.HexColor):
                    yield f.value


def _colour_names(brief: ast.Brief) -> Iterator[ast.Name]:
    return (c for c in _colours(brief) if isinstance(c, ast.Name))


def _hex_colours(brief: ast.Brief) -> Iterator[ast.HexColor]:
    return (c for c in _colours(brief) if isinstance(c, ast.HexColor))


def check_references(scope: Scope) -> Iterator[Diagnostic]:
    """Edits, checks and regions name components that exist (and suitable ones)."""
    for brief in scope.module.briefs:
        comps = {c.name.value: c for c in brief.components}
        comp: ast.Component | None

        def known(name: ast.Name, role: str) -> Iterator[Diagnostic]:
            if name.value not in comps:
                hint = did_you_mean(name.value, comps)
                yield error("E310", f"unknown component `{name.value}` {role}",
                            (hint.strip() or f"Components here: {', '.join(comps) or 'none'}."), name.span,
                            fixes=replace_with_closest(name.span, name.value, comps))

        for comp in brief.components:
            spec = comp.first(ast.Region)
            if spec and isinstance(spec.spec, ast.Around):
                yield from known(spec.spec.component, "in `around`")
        for edit in brief.edits:
            for op in edit.ops:
                if isinstance(op, (ast.Recolor, ast.Harmonize)):
                    yield from known(op.component, f"in `{op.keyword}`")
                elif isinstance(op.region, ast.Around):
                    yield from known(op.region.component, "in `around`")
        for rule in brief.checks:
            name = getattr(rule, "component", None)
            if name is None:
                continue
            yield from known(name, f"in `check {rule.keyword}`")
            comp = comps.get(name.value)
            if isinstance(rule, ast.CheckColor) and comp is not None and comp.first(ast.SkuColor) is None:
                yield error("E311", f"`check color {name.value}` has no colour to check",
                            f"Give component `{name.value}` its SKU colour: color NAME within ΔE.", rule.span)


def check_region_cycles(scope: Scope) -> Iterator[Diagnostic]:
    """`region around X` chains must not loop (a component placed around itself), nor be drawn
    around a component that is itself generated over this one (a cycle through pixels)."""
    for brief in scope.module.briefs:
        yield from _around_generated_over(brief)
        edges, spans = [], {}
        for comp in brief.components:
            region = comp.first(ast.Region)
            if region and isinstance(region.spec, ast.Around):
                edges.append((comp.name.value, region.spec.component.value))
                spans[comp.name.value] = region.spec.span
        for cycle in cycles(edges):
            names = " → ".join(cycle + [cycle[0]])
            yield error("E312", f"region cycle: {names}",
                        "A component cannot be placed around itself, directly or through others; "
                        "give one of them a box or anchor region.", spans[cycle[0]])


def _around_generated_over(brief: ast.Brief) -> Iterator[Diagnostic]:
    comps = {c.name.value: (i, c) for i, c in enumerate(brief.components)}
    boxes = component_boxes(brief, canvas_size(brief))
    for i, comp in enumerate(brief.components):
        region = comp.first(ast.Region)
        if not (region and isinstance(region.spec, ast.Around)) or region.spec.component.value not in comps:
            continue
        j, ref = comps[region.spec.component.value]
        ref_region = ref.first(ast.Region)
        if ref_region and isinstance(ref_region.spec, ast.Around):
            continue  # chains and loops of `around` are reported as such
        context = ref.first(ast.Context)
        above = (_z(ref), j) > (_z(comp), i)
        if (ref.first(ast.Prompt) and above and (context is None or context.value.value == "scene")
                and intersects(grow(boxes[ref.name.value], CONTEXT_PAD, canvas_size(brief)), boxes[comp.name.value])):
            yield error("E313", f"`{comp.name.value}` is placed around `{ref.name.value}`, "
                        f"which is generated over it", f"That is a cycle: give `{ref.name.value}` `context none`, "
                        f"or raise `{comp.name.value}`'s z above it.", region.spec.span)


def _z(comp: ast.Component) -> float:
    z = comp.first(ast.Z)
    return z.value.value if z else 0


def check_components(scope: Scope) -> Iterator[Diagnostic]:
    """Prompt xor asset; settings that make sense for the kind; enumerated words."""
    for brief in scope.module.briefs:
        comps_by_name = {c.name.value: c for c in brief.components}
        nets = {n.kind.value: n for n in brief.all(ast.ControlNet)}
        used = {c.kind.value for comp in brief.components for c in comp.all(ast.Control)}
        for net in nets.values():
            yield from _word(net, CONTROLS, "controlnet kind", attr="kind")
            if net.kind.value in CONTROLS and net.kind.value not in used:
                yield warning("W369", f"`controlnet {net.kind.value}` is not used",
                              f"No component has `control {net.kind.value} from …`; remove the line, or add one.",
                              net.span)
        for comp in brief.components:
            prompt, asset, text = comp.first(ast.Prompt), comp.first(ast.Asset), comp.first(ast.Text)
            kinds_given = sorted((k for k in (prompt, asset, text) if k is not None), key=lambda k: k.span.start)
            if len(kinds_given) > 1:
                first, second = [k for k in (prompt, asset, text) if k is not None][:2]  # named in this order
                later = kinds_given[1]
                yield error("E320", f"component `{comp.name.value}` has both a{'n' if first is asset else ''} "
                            f"{first.keyword} and a{'n' if second is asset else ''} {second.keyword}",
                            "A component is generated (prompt), placed (asset) or typeset (text), one of "
                            "them; split it into several components.", later.span)
            elif not kinds_given:
                yield error("E321", f"component `{comp.name.value}` has neither a prompt, an asset nor a text",
                            'Add prompt "…" to generate it, asset "file.png" to place an image, or text "…" '
                            "to typeset words.", comp.name.span)
            if asset:  # a refined asset is repainted: the controls (but a component `strength`) apply
                kinds: tuple[type[ast.Keyworded], ...] = (ast.Context, ast.Strength, ast.Negative) \
                    if comp.first(ast.Refine) else GENERATION_ONLY
                for kind in kinds:
                    for s in comp.all(kind):
                        yield warning("W322", f"`{s.keyword}` has no effect on an asset component",
                                      "Remove it; it only applies to generated (prompt) components.", s.span)
            for p in list(comp.all(ast.Prompt)):
                if not p.text.value.strip():
                    yield error("E325", f"the prompt of `{comp.name.value}` is empty",
                                "Say what to generate, or place an image with asset \"file.png\".", p.text.span)
            yield from controls_of(comp, comps_by_name, nets)
            for refine in comp.all(ast.Refine):
                if not asset:
                    yield error("E326", "`refine` applies to placed (asset) components",
                                "A generated component is already drawn into the scene; a text is typeset. "
                                "Remove it, or place an image with asset \"file.png\".", refine.span)
                elif not refine.text.value.strip():
                    yield error("E325", f"the refine prompt of `{comp.name.value}` is empty",
                                'Say how to relight it: refine "soft window light from the left" strength 0.3.',
                                refine.text.span)
            if prompt:
                for s in comp.all(ast.Fit):
                    yield warning("W323", "`fit` has no effect on a generated component",
                                  "Remove it; it only applies to placed (asset) components.", s.span)
            yield from _word(comp.first(ast.Context), CONTEXTS, "context")
            yield from _word(comp.first(ast.Fit), FITS, "fit")
            yield from _word(comp.first(ast.Resolution), RESOLUTIONS, "resolution")
            yield from _word(comp.first(ast.Scheduler), SCHEDULERS, "scheduler")
            region = comp.first(ast.Region)
            if region and isinstance(region.spec, ast.Anchor):
                yield from _word(region.spec, ANCHORS, "anchor position", attr="position")
        for edit in brief.edits:
            for op in (o.region for o in edit.ops if isinstance(o, (ast.Inpaint, ast.Remove))):
                if isinstance(op, ast.Anchor):
                    yield from _word(op, ANCHORS, "anchor position", attr="position")


def _word(item, allowed, what: str, attr: str = "value") -> Iterator[Diagnostic]:
    if item is None:
        return
    name: ast.Name = getattr(item, attr)
    if name.value not in allowed:
        hint = did_you_mean(name.value, allowed)
        yield error("E324", f"unknown {what} `{name.value}`",
                    (hint.strip() + " " if hint else "") + f"Use one of: {', '.join(allowed)}.", name.span,
                    fixes=replace_with_closest(name.span, name.value, allowed))


def check_edits(scope: Scope) -> Iterator[Diagnostic]:
    """Each edit has exactly one operation; a prompt belongs to inpaint only."""
    for brief in scope.module.briefs:
        for edit in brief.edits:
            ops = edit.ops
            if not ops:
                yield error("E330", f"edit `{edit.name.value}` has no operation",
                            "Add one of: inpaint REGION, remove REGION, recolor COMPONENT to COLOR, "
                            "harmonize COMPONENT band N.", edit.name.span)
            for extra in ops[1:]:
                yield error("E331", f"edit `{edit.name.value}` has more than one operation",
                            "Split it: one operation per edit; edits apply in the order written.", extra.span)
            if ops and isinstance(ops[0], ast.Inpaint) and edit.first(ast.Prompt) is None:
                yield error("E332", f"inpaint edit `{edit.name.value}` needs a prompt",
                            'Say what to paint: prompt "soft contact shadow".', ops[0].span)
            yield from _word(edit.first(ast.Scheduler), SCHEDULERS, "scheduler")
            if ops and not isinstance(ops[0], ast.Inpaint):
                kinds: tuple[type[ast.Keyworded], ...] = (ast.Prompt, ast.Negative, ast.Steps, ast.Strength, ast.Seed,
                                                          ast.Guidance, ast.Scheduler)
                for kind in kinds:
                    for s in edit.all(kind):
                        yield warning("W333", f"`{s.keyword}` has no effect on a {ops[0].keyword} edit",
                                      "Remove it; only inpaint edits generate pixels from a prompt.", s.span)


def check_matrix(scope: Scope) -> Iterator[Diagnostic]:
    """`{axis}` placeholders name matrix axes; axes have values; the variant count is bounded."""
    for brief in scope.module.briefs:
        axes = {m.name.value: m for m in brief.matrices}
        used: set[str] = set()
        for m in brief.matrices:
            if not m.values:
                yield error("E340", f"matrix `{m.name.value}` has no values",
                            'Add at least one: summer "sunlit summer park".', m.name.span)
        yield from _brace_errors(brief)
        count = 1
        for m in brief.matrices:
            count *= max(len(m.values), 1)
        if count > MAX_VARIANTS:
            yield error("E341", f"the matrix expands to {count} variants (limit {MAX_VARIANTS})",
                        "Split the brief, or render a subset of the axes.", brief.matrices[-1].span)
        for use in matrix.uses(brief):
            if use.axis not in axes:
                hint = did_you_mean(use.axis, axes)
                shown = use.axis + (f".{use.field}" if use.field else "")
                yield error("E343", f"unknown matrix axis `{{{use.axis}}}`" if use.kind == "text" and not use.field
                            else f"unknown matrix axis `{use.axis}` in `{shown}`",
                            (hint.strip() + " " if hint else "") +
                            (f"Axes here: {', '.join(axes)}." if axes else
                             "Declare it: matrix NAME { value \"text\" … }, or write {{ }} for braces."), use.span,
                            fixes=replace_with_closest(use.axis_span, use.axis, axes))
            else:
                used.add(use.axis)
        for name, m in axes.items():
            if name not in used:
                yield warning("W344", f"matrix axis `{name}` is not used",
                              f"Its variants would render the same image; put {{{name}}} in a prompt, a text or "
                              "a path, or use one of its fields.", m.name.span)


def _brace_errors(brief: ast.Brief) -> Iterator[Diagnostic]:
    for text, _ in matrix.strings(brief):
        for name, offset, size in placeholders(text.value):
            if name is None:
                yield error("E342", "unmatched brace in text",
                            "Write {axis} for a matrix value, or {{ and }} for literal braces.",
                            matrix.text_span(text, offset, size))


# files every variant's folder holds besides its outputs: an output may not be named like one
RESERVED_OUTPUTS = {"canvas": "canvas.png (the edited canvas)", "manifest": "manifest.json (the manifest)",
                    "report": "report.json and report.html (the brand report)"}


def check_outputs(scope: Scope) -> Iterator[Diagnostic]:
    for brief in scope.module.briefs:
        for out in brief.outputs:
            yield from _word(out, OUTPUT_MODES, "output mode", attr="mode")
            reserved = RESERVED_OUTPUTS.get(out.name.value.lower())
            if reserved:
                yield error("E353", f"output `{out.name.value}` would collide with {reserved} in the variant's folder",
                            f"Rename the output (e.g. `{out.name.value}_{out.size.width.value:g}`); "
                            f"{', '.join(RESERVED_OUTPUTS)} are reserved.", out.name.span)


CHECKS = (
    check_duplicates,
    check_brands,
    check_references,
    check_clearspace_logo,
    check_region_cycles,
    check_components,
    check_edits,
    check_matrix,
    check_backend,
    check_outputs,
    check_fields,
    check_text,
    check_output_blocks,
    check_rules,
    check_paths,
    check_values,
)


def diagnose(program: Program) -> list[Diagnostic]:
    """Every diagnostic of every check over every loaded module, sorted by position."""
    found = list(program.diagnostics)
    found += [d for scope in scopes(program) for check in CHECKS for d in check(scope)]
    return sorted(found, key=sort_key)


def check_program(program: Program) -> list[Diagnostic]:
    """Run all checks; raise `DiagnosticError` if any is an error, else return the warnings."""
    found = diagnose(program)
    if any(d.is_error for d in found):
        raise DiagnosticError(found)
    return found
