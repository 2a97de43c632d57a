"""Checks of the catalogue constructs (v2): matrix fields, text components, output blocks and the
rules that measure them (`contrast`, `visible`).

Small pure functions over the AST like those of `lang/check.py` (which lists them in its `CHECKS`);
what a placeholder or a field reference means is `lang/matrix.py`'s, the delivery names and sizes
`lang/delivery.py`'s.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import ast
from .check_values import LENGTH, Rule, number, region_values
from .compile_outputs import margins
from .diagnostics import Diagnostic, Fix, did_you_mean, error, replace_with_closest
from .geometry import MAX_SIDE
from .matrix import DELIVERY_NAMES, bindings, interpolate, split, uses, variants_of
from .scope import Scope, brand_colors, brief_brand, placeholders

ALIGNS = ("left", "center", "right")
FORMATS = ("png", "jpeg", "webp")
EXTENSIONS = {"png": (".png",), "jpeg": (".jpg", ".jpeg"), "webp": (".webp",)}
TEXT_SIZE = Rule("a text size", ("px",), 1, 2000, example="size 96px")
QUALITY = Rule("a quality", ("",), 1, 100, integer=True, example="quality 90")
CONTRAST = Rule("a contrast ratio", ("",), 1, 21, example="contrast headline 4.5")
TEXT_ONLY = (ast.FontRef, ast.TextSize, ast.Align, ast.TextColor)
WEBP_MAX_SIDE = 16383  # px: the most a WebP image holds along a side
RESERVED_FILES = ("canvas.png", "manifest.json", "report.json", "report.html")  # and folders layers/, masks/


def brand_fonts(brand: ast.Brand | None) -> dict[str, ast.BrandFont]:
    return {f.name.value: f for f in brand.all(ast.BrandFont)} if brand else {}


def check_fields(scope: Scope) -> Iterator[Diagnostic]:
    """Every field a brief uses is defined by every value of its axis, and holds the right kind of
    thing: text in a string, a brand colour (or hex) where a colour is expected, a brand font
    where a font is."""
    for brief in scope.module.briefs:
        axes = {m.name.value: m for m in brief.matrices}
        brand = brief_brand(scope, brief)
        colours, fonts = brand_colors(brand), brand_fonts(brand)
        for m in brief.matrices:
            for value in m.values:
                seen: dict[str, ast.MatrixField] = {}
                for f in value.fields:
                    if f.name.value in ("name",):
                        yield error("E347", "`name` is the value's own name, not a field",
                                    f"Write {{{m.name.value}.name}} for `{value.name.value}`; "
                                    "call this field something else.", f.name.span)
                    elif f.name.value in seen:
                        yield error("E301", f"field `{f.name.value}` is defined twice in `{value.name.value}`",
                                    f"Keep one; the first is on line {seen[f.name.value].span.line}.", f.name.span)
                    seen[f.name.value] = f
        reported: set[tuple[str, ...]] = set()
        for use in uses(brief):
            axis = axes.get(use.axis)
            if axis is None or use.field is None or use.field == "name" or not axis.values:
                continue  # unknown axes are check_matrix's (E343); `{axis}` and `{axis.name}` always exist
            defined = {f.name.value for v in axis.values for f in v.fields}
            if use.field not in defined:
                hint = did_you_mean(use.field, defined | {"name"})
                yield error("E345", f"matrix `{use.axis}` has no field `{use.field}`",
                            (hint.strip() + " " if hint else "") +
                            (f"Its values define: {', '.join(sorted(defined))}." if defined else
                             f'Give each value of `{use.axis}` the field: NAME "text" {{ {use.field} … }}.'),
                            use.span, fixes=replace_with_closest(use.field_span, use.field, defined | {"name"})
                            if use.field_span else ())
                continue
            for value in axis.values:
                held = value.field(use.field)
                if held is None:
                    if (value.name.value, use.field) not in reported:
                        reported.add((value.name.value, use.field))
                        near = next((x.name.value for x in value.fields if did_you_mean(x.name.value, [use.field])),
                                    None)
                        yield error("E344", f"matrix value `{use.axis}={value.name.value}` has no field "
                                    f"`{use.field}`", (f"It defines `{near}`: did you mean `{use.field}`? " if near
                                                       else "") +
                                    f"`{use.axis}.{use.field}` is used on line {use.span.line}; every value of "
                                    f"`{use.axis}` must define it.", value.name.span,
                                    fixes=tuple(Fix(x.name.span, use.field, f"Rename field `{near}` to `{use.field}`")
                                                for x in value.fields if x.name.value == near))
                    continue
                if (value.name.value, use.field, use.kind) not in reported:  # one word per field and kind of use
                    found = list(_kind(use, value, held, colours, fonts))
                    if found:
                        reported.add((value.name.value, use.field, use.kind))
                    yield from found


def _kind(use, value: ast.MatrixValue, f: ast.MatrixField, colours: dict, fonts: dict) -> Iterator[Diagnostic]:
    v, where = f.value, f"`{use.axis}.{use.field}` of `{value.name.value}`"
    if use.kind == "text" and not isinstance(v, ast.Str):
        what = "a hex colour" if isinstance(v, ast.HexColor) else f"the name `{v.value}`"
        yield error("E346", f"{where} is {what}, not text", f"Quote it where text is expected: {f.name.value} "
                    f"\"…\" (line {f.span.line}), or use the field where a colour or font is expected.", use.span)
    elif use.kind == "colour":
        if isinstance(v, ast.Str):
            yield error("E346", f"{where} holds text, not a colour",
                        f"Give it a brand colour's name or a hex colour (line {f.span.line}).", use.span)
        elif isinstance(v, ast.Name) and v.value not in colours:
            hint = did_you_mean(v.value, colours)
            yield error("E305", f"{where} is `{v.value}`, which is not a colour of the brief's brand",
                        (hint.strip() + " " if hint else "") +
                        f"Colours: {', '.join(colours) or 'none (the brief needs a brand)'}.", v.span,
                        fixes=replace_with_closest(v.span, v.value, colours))
    elif use.kind == "font":
        if not isinstance(v, ast.Name):
            yield error("E346", f"{where} is not a font name",
                        f"Give it the name of one of the brand's fonts (line {f.span.line}).", use.span)
        elif v.value not in fonts:
            hint = did_you_mean(v.value, fonts)
            yield error("E328", f"{where} is `{v.value}`, which is not a font of the brief's brand",
                        (hint.strip() + " " if hint else "") + f"Fonts: {', '.join(fonts) or 'none'}.", v.span,
                        fixes=replace_with_closest(v.span, v.value, fonts))


def check_text(scope: Scope) -> Iterator[Diagnostic]:
    """Text components: a text, a brand font, a size that can be met; text-only settings only there."""
    for brief in scope.module.briefs:
        brand = brief_brand(scope, brief)
        fonts = brand_fonts(brand)
        for comp in brief.components:
            text = comp.first(ast.Text)
            if text is None:
                for item in comp.items:
                    if isinstance(item, TEXT_ONLY):
                        yield error("E329", f"`{item.keyword}` applies to text components only",
                                    f'Remove it, or make `{comp.name.value}` a text layer: text "…".'
                                    if not isinstance(item, ast.TextColor) else
                                    "A generated or placed component's SKU colour needs a tolerance: "
                                    "color NAME within ΔE, for example color red within 2.", item.span)
                continue
            if not text.text.value.strip():
                yield error("E325", f"the text of `{comp.name.value}` is empty",
                            'Write what it says: text "Run further".', text.text.span)
            for item in comp.items:
                if isinstance(item, ast.SkuColor):
                    yield error("E329", "a text component's colour takes no tolerance",
                                "Write its colour as color NAME; `within ΔE` is for the SKU colour of a placed or "
                                "generated component (and a second `color` line is one too many).", item.span)
                elif isinstance(item, (ast.Negative, ast.Steps, ast.Strength, ast.Context, ast.Fit, ast.Resolution,
                                       ast.Guidance, ast.Scheduler, ast.Lora, ast.Refine)):
                    yield error("E329", f"`{item.keyword}` does not apply to a text component",
                                "Remove it; a text layer is typeset with its font, size, colour and align.",
                                item.span)
            font = comp.first(ast.FontRef)
            if font is None:
                yield error("E327", f"text component `{comp.name.value}` needs a font",
                            f"Name one of the brand's fonts: font {next(iter(fonts), 'display')}"
                            + ("" if fonts else ' (declare it in the brand: font display "fonts/….ttf")') + ".",
                            comp.name.span)
            elif isinstance(font.name, ast.Name) and font.name.value not in fonts:
                hint = did_you_mean(font.name.value, fonts)
                yield error("E328", f"unknown font `{font.name.value}`",
                            (hint.strip() + " " if hint else "") +
                            (f"Fonts of brand `{brand.name.value}`: {', '.join(fonts) or 'none'}." if brand else
                             "The brief needs a brand with fonts: brand NAME, and in it font NAME \"file.ttf\"."),
                            font.name.span, fixes=replace_with_closest(font.name.span, font.name.value, fonts))
            size = comp.first(ast.TextSize)
            if size is not None:
                for n in (size.size, size.low, size.high):
                    yield from number(n, TEXT_SIZE)
                if size.low is not None and size.high is not None and size.low.value > size.high.value:
                    yield error("E203", f"`size auto {size.low.text} {size.high.text}`: the smallest is above "
                                "the largest", "Write the smallest size first: size auto 32px 120px.", size.span)
            align = comp.first(ast.Align)
            if align is not None and align.value.value not in ALIGNS:
                hint = did_you_mean(align.value.value, ALIGNS)
                yield error("E324", f"unknown alignment `{align.value.value}`",
                            (hint.strip() + " " if hint else "") + f"Use one of: {', '.join(ALIGNS)}.",
                            align.value.span, fixes=replace_with_closest(align.value.span, align.value.value, ALIGNS))


def check_output_blocks(scope: Scope) -> Iterator[Diagnostic]:
    """Output blocks: placed components exist and can be laid out again; one safe zone, one
    format and one file each; the format's quality and cap make sense; delivery names are safe,
    carry the format's extension and differ between the outputs of every variant."""
    from .delivery import check_file_name, parse_file_size

    for brief in scope.module.briefs:
        comps = {c.name.value: c for c in brief.components}
        for out in brief.outputs:
            size = (int(out.size.width.value), int(out.size.height.value))
            size_ok = 0 < size[0] <= MAX_SIDE and 0 < size[1] <= MAX_SIDE and out.size.width.unit in ("", "px") \
                and out.size.height.unit in ("", "px")
            placed: dict[str, ast.Place] = {}
            seen: dict[type, ast.Span] = {}
            for item in out.items:
                if not isinstance(item, ast.Place):
                    if type(item) in seen:
                        yield error("E302", f"`{item.keyword}` is given twice in output `{out.name.value}`",
                                    f"Keep one; the first is on line {seen[type(item)].line}.", item.span)
                    seen[type(item)] = item.span
                    continue
                name = item.component.value
                comp = comps.get(name)
                if comp is None:
                    hint = did_you_mean(name, comps)
                    yield error("E310", f"unknown component `{name}` in `place`",
                                hint.strip() or f"Components here: {', '.join(comps) or 'none'}.", item.component.span,
                                fixes=replace_with_closest(item.component.span, name, comps))
                elif comp.first(ast.Prompt) is not None or comp.first(ast.Refine) is not None:
                    yield error("E354", f"`{name}` is generated"
                                + (" (refined into the scene)" if comp.first(ast.Refine) else "")
                                + "; only asset and text components can be placed",
                                f"Generated layers follow the output's mode ({out.mode.value}); remove this line.",
                                item.span)
                elif isinstance(getattr(comp.first(ast.Region), "spec", None), (ast.Around, ast.Mask)):
                    yield error("E354", f"`{name}` is drawn around another component or through a mask; it "
                                "cannot be placed again", "Give it a box or an anchor region to place it in an "
                                "output.", item.span)
                if name in placed:
                    yield error("E355", f"`{name}` is placed twice in output `{out.name.value}`",
                                f"Keep one; the first is on line {placed[name].span.line}.", item.span)
                placed[name] = item
                if isinstance(item.region, (ast.Around, ast.Mask)):
                    yield error("E354", f"`{type(item.region).__name__.lower()}` cannot place a "
                                "component in an output",
                                "Place it with box, anchor or full, in the output's own pixels.", item.region.span)
                elif size_ok:
                    yield from region_values(item.region, size, f"the place of `{name}` in output `{out.name.value}`",
                                             "output")
            zone = out.first(ast.OutputSafezone)
            if zone is not None:
                if len(zone.values) not in (1, 2, 4):
                    yield error("E356", f"`safezone` takes 1, 2 or 4 margins, not {len(zone.values)}",
                                "Write safezone ALL, safezone VERTICAL HORIZONTAL, or safezone TOP RIGHT BOTTOM "
                                "LEFT (each N% or Npx).", zone.span)
                found = [d for v in zone.values for d in number(v, LENGTH)]
                yield from found
                if not found and len(zone.values) in (1, 2, 4) and size_ok:
                    top, right, bottom, left = margins(zone, size)
                    if top + bottom >= size[1] or left + right >= size[0]:
                        yield error("E356", f"the safe zone leaves nothing of the {size[0]} x {size[1]} output "
                                    f"({top}/{right}/{bottom}/{left} px)", "A top or bottom margin is a share of "
                                    "the output's height, a left or right one of its width; keep each pair below "
                                    "100%.", zone.span)
            fmt = out.first(ast.Format)
            kind = fmt.kind.value if fmt is not None else "png"
            if fmt is not None:
                if kind not in FORMATS:
                    hint = did_you_mean(kind, FORMATS)
                    yield error("E324", f"unknown format `{kind}`",
                                (hint.strip() + " " if hint else "") + f"Use one of: {', '.join(FORMATS)}.",
                                fmt.kind.span, fixes=replace_with_closest(fmt.kind.span, kind, FORMATS))
                if kind == "webp" and max(size) > WEBP_MAX_SIDE:
                    yield error("E357", f"WebP cannot hold a {size[0]} x {size[1]} image (at most {WEBP_MAX_SIDE} px "
                                "a side)", "Deliver this output as png or jpeg, or make it smaller.", fmt.kind.span)
                if fmt.quality is not None and kind == "png":
                    yield error("E357", "PNG is lossless: it takes no quality",
                                "Remove `quality`, or deliver jpeg or webp.", fmt.quality.span)
                else:
                    yield from number(fmt.quality, QUALITY)
                if fmt.max is not None:
                    try:
                        parse_file_size(fmt.max.text)
                    except ValueError as exc:
                        why = str(exc).rstrip(".")
                        yield error("E358", f"`max {fmt.max.text}` is not a file size",
                                    f"{why[:1].upper()}{why[1:]}." + ("" if "Write" in why else
                                                                      " Write it like 500KB or 2MB."), fmt.max.span)
            file = out.first(ast.File)
            if file is not None and kind in FORMATS:
                yield from _file_names(brief, out, file, kind, check_file_name)
        yield from _same_names(brief)


def delivered_name(brief: ast.Brief, out: ast.Output, chosen: dict[str, ast.MatrixValue]) -> str | None:
    """An output's file name in one variant (None when its template reads a field the value lacks:
    the field checks report that)."""
    file, fmt = out.first(ast.File), out.first(ast.Format)
    kind = fmt.kind.value if fmt is not None else "png"
    if file is None:
        return f"{out.name.value}.{'jpg' if kind == 'jpeg' else kind}"
    values = {**bindings(chosen), "brief": brief.name.value, "output": out.name.value,
              "variant": ",".join(f"{a}={v.name.value}" for a, v in chosen.items()) or brief.name.value}
    for name, _, _ in placeholders(file.template.value):
        axis, field = split(name or "")
        if name is not None and name not in DELIVERY_NAMES and (axis not in chosen or (
                field not in (None, "name") and chosen[axis].field(field) is None)):
            return None
    return interpolate(file.template.value, values)


def _same_names(brief: ast.Brief) -> Iterator[Diagnostic]:
    """Within a variant's folder, no two outputs deliver one file name, and none takes the name of
    a file the folder holds anyway (the canvas, the manifest, the report)."""
    for chosen in variants_of(brief):
        taken: dict[str, ast.Output] = {}
        for out in brief.outputs:
            name = delivered_name(brief, out, chosen)
            if name is None:
                continue
            where = ", ".join(f"{a}={v.name.value}" for a, v in chosen.items())
            at = out.first(ast.File) or out
            if at is out:  # no `file`: named after the output (E301 and E353 look after those names)
                taken.setdefault(name.lower(), out)
                continue
            if name.lower() in RESERVED_FILES:
                yield error("E359", f"output `{out.name.value}` would be delivered as `{name}`, a file the "
                            "variant's folder holds anyway", f"Name it otherwise; {', '.join(RESERVED_FILES)} are "
                            "reserved.", at.span)
                return
            other = taken.get(name.lower())
            if other is not None:
                yield error("E359", f"outputs `{other.name.value}` and `{out.name.value}` would both be delivered "
                            f"as `{name}`" + (f" (for {where})" if where else ""),
                            "Give each output its own file name (put {output} in the template).", at.span)
                return
            taken[name.lower()] = out


def _file_names(brief: ast.Brief, out: ast.Output, file: ast.File, kind: str, check_file_name) -> Iterator[Diagnostic]:
    """The delivery name of every variant is a safe file name with the format's extension."""
    for chosen in variants_of(brief):
        name = delivered_name(brief, out, chosen)
        if name is None:
            continue
        try:
            check_file_name(name, kind)
        except ValueError as exc:
            problem = str(exc)[:1].upper() + str(exc)[1:] + "."
            where = ", ".join(f"{a}={v.name.value}" for a, v in chosen.items())
            yield error("E359", f"the file name `{name}` is not usable" + (f" (for {where})" if where else ""),
                        problem, file.template.span)
            return


def check_rules(scope: Scope) -> Iterator[Diagnostic]:
    """`check contrast` measures a text component; `check visible` any component."""
    for brief in scope.module.briefs:
        comps = {c.name.value: c for c in brief.components}
        for rule in brief.checks:
            if isinstance(rule, ast.CheckContrast):
                yield from number(rule.ratio, CONTRAST)
                comp = comps.get(rule.component.value)
                if comp is not None and comp.first(ast.Text) is None:
                    yield error("E315", f"`check contrast {rule.component.value}` measures a component that is "
                                "not text", "Contrast is measured between a text layer's colour and what lies "
                                "under its glyphs; name a text component.", rule.component.span)


__all__ = ["check_fields", "check_text", "check_output_blocks", "check_rules", "brand_fonts", "split"]
