"""Formatting: a parsed module → its canonical text, comments kept.

Canonical layout: two-space indentation, one setting per line, single spaces between tokens,
hex colours upper-case, numbers in their plain spelling (`0.5`, not `.5` or `+0.50`; never an
exponent, never fewer or other digits than were written), the names of
consecutive `color` lines (and `font` lines, and matrix values) aligned, one blank line between top-level blocks,
the author's blank lines kept (at most one in a row, never just inside braces). Strings keep the
text they were written with; formatting never changes a value. `fmt(fmt(x)) == fmt(x)` and `fmt` never changes the compiled graph; both are
tested.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .diagnostics import source_lines

INDENT = "  "


@dataclass
class _Line:
    kind: str  # "open" | "close" | "leaf" | "comment"
    depth: int
    text: str
    start: int  # source line it came from
    end: int
    top_use: bool = False
    aligned: ast.BrandColor | ast.BrandFont | ast.MatrixValue | None = None  # a setting whose name lines up with its neighbours'
    trailing: str = ""  # the comment at its end (one: a comment runs to the end of the line)


def _num(n: ast.Num) -> str:
    """A number in canonical spelling: 0512 → 512, +5 → 5, .5 → 0.5, 1.50 → 1.5, -0 → 0. Made from the
    digits as written, not from the float (whose repr may be `1e-05`, which does not parse): the
    decimal value never changes, to the last digit."""
    body = n.text[: len(n.text) - len(n.unit)]
    whole, _, frac = body.lstrip("+-").partition(".")
    whole, frac = whole.lstrip("0") or "0", frac.rstrip("0")
    sign = "-" if body.startswith("-") and (whole != "0" or frac) else ""
    return sign + whole + ("." + frac if frac else "") + n.unit


def _size(s: ast.Size) -> str:
    return f"{_num(s.width)} x {_num(s.height)}"


def _region(spec) -> str:
    if isinstance(spec, ast.Full):
        return "full"
    if isinstance(spec, ast.Box):
        return f"box {_num(spec.x0)} {_num(spec.y0)} {_num(spec.x1)} {_num(spec.y1)}"
    if isinstance(spec, ast.Anchor):
        margin = f" margin {_num(spec.margin)}" if spec.margin else ""
        return f"anchor {spec.position.value} {_size(spec.size)}{margin}"
    if isinstance(spec, ast.Mask):
        return f"mask {spec.path.text}"
    return f"around {spec.component.value} {_num(spec.band)}"


def _colour(c: ast.ColourRef) -> str:
    return c.text.upper() if isinstance(c, ast.HexColor) else c.value


def _field_value(v: ast.Str | ast.Name | ast.HexColor) -> str:
    return v.text.upper() if isinstance(v, ast.HexColor) else v.text if isinstance(v, ast.Str) else v.value


def _inline(value: ast.MatrixValue, comments: set[int]) -> bool:
    """A matrix value's fields stay on its line when the author wrote them so and no comment is inside."""
    b = value.block
    return b is not None and b.line == b.end_line and b.line not in comments


def _opt(word: str, value) -> str:
    return f" {word} {_num(value)}" if value is not None else ""


def setting_text(item, pad: int = 0) -> str:
    """One setting as canonical text; `pad` aligns the names of color lines / matrix values."""
    k = getattr(item, "keyword", "")
    if isinstance(item, (ast.Prompt, ast.Negative)):
        return f"{k} {item.text.text}"
    if isinstance(item, (ast.Asset, ast.Logo, ast.Use)):
        return f"{k} {item.path.text}"
    if isinstance(item, (ast.Z, ast.Seed, ast.Steps, ast.Strength, ast.Opacity, ast.Feather,
                         ast.Clearspace, ast.Safezone, ast.Guidance)):
        return f"{k} {_num(item.value)}"
    if isinstance(item, (ast.Context, ast.Fit, ast.Resolution, ast.Scheduler)):
        return f"{k} {item.value.value}"
    if isinstance(item, ast.Region):
        return f"region {_region(item.spec)}"
    if isinstance(item, ast.Lora):
        return f"lora {item.path.text} weight {_num(item.weight)}"
    if isinstance(item, ast.Control):
        return f"control {item.kind.value} from {item.source.value}{_opt('weight', item.weight)}"
    if isinstance(item, ast.ControlNet):
        return f"controlnet {item.kind.value} {item.path.text}"
    if isinstance(item, ast.Refine):
        return f"refine {item.text.text} strength {_num(item.strength)}"
    if isinstance(item, ast.SkuColor):
        return f"color {_colour(item.color)} within {_num(item.within)}"
    if isinstance(item, (ast.Text, ast.File)):
        return f"{k} {(item.text if isinstance(item, ast.Text) else item.template).text}"
    if isinstance(item, ast.FontRef):
        return f"font {item.name.value}"
    if isinstance(item, ast.TextSize):
        if item.size is not None:
            return f"size {_num(item.size)}"
        assert item.low is not None and item.high is not None, "the grammar gives both"
        return f"size auto {_num(item.low)} {_num(item.high)}"
    if isinstance(item, ast.TextColor):
        return f"color {_colour(item.color)}"
    if isinstance(item, ast.Align):
        return f"align {item.value.value}"
    if isinstance(item, ast.BrandFont):
        return f"font {item.name.value.ljust(pad)} {item.path.text}"
    if isinstance(item, ast.MatrixField):
        return f"{item.name.value} {_field_value(item.value)}"
    if isinstance(item, ast.Place):
        return f"place {item.component.value} {_region(item.region)}"
    if isinstance(item, ast.OutputSafezone):
        return "safezone " + " ".join(_num(v) for v in item.values)
    if isinstance(item, ast.Format):
        return f"format {item.kind.value}{_opt('quality', item.quality)}{_opt('max', item.max)}"
    if isinstance(item, ast.BrandColor):
        return f"color {item.name.value.ljust(pad)} {item.color.text.upper()}"
    if isinstance(item, ast.MatrixValue):
        fields = " ".join(setting_text(f) for f in item.fields)
        return f"{item.name.value.ljust(pad)} {item.text.text}" + (f" {{ {fields} }}" if fields else "")
    if isinstance(item, ast.Canvas):
        return f"canvas {_size(item.size)}"
    if isinstance(item, ast.Backend):
        model = f" {item.model.text}" if item.model else ""
        revision = f" revision {item.revision.text}" if item.revision else ""
        endpoint = f" endpoint {item.endpoint.text}" if item.endpoint else ""
        retires = f" retires {item.retires.text}" if item.retires else ""
        return f"backend {item.name.value}{model}{revision}{endpoint}{retires}"
    if isinstance(item, ast.BrandRef):
        return f"brand {item.name.value}"
    if isinstance(item, (ast.Inpaint, ast.Remove)):
        return f"{k} {_region(item.region)}"
    if isinstance(item, ast.Recolor):
        return f"recolor {item.component.value} to {_colour(item.target)}"
    if isinstance(item, ast.Harmonize):
        return f"harmonize {item.component.value} band {_num(item.band)}"
    if isinstance(item, ast.CheckPalette):
        return f"check palette{_opt('within', item.within)}{_opt('coverage', item.coverage)}"
    if isinstance(item, ast.CheckColor):
        return f"check color {item.component.value}"
    if isinstance(item, ast.CheckClearspace):
        return f"check clearspace {item.component.value}" + (f" {_num(item.factor)}" if item.factor else "")
    if isinstance(item, ast.CheckSafezone):
        return "check safezone" + (f" {_num(item.margin)}" if item.margin else "")
    if isinstance(item, ast.CheckMinsize):
        return f"check minsize {item.component.value} {_size(item.size)}"
    if isinstance(item, ast.CheckContrast):
        return f"check contrast {item.component.value}" + (f" {_num(item.ratio)}" if item.ratio else "")
    if isinstance(item, ast.CheckVisible):
        return f"check visible {item.component.value}"
    if isinstance(item, ast.Output):
        return f"output {item.name.value} {_size(item.size)} {item.mode.value}"
    raise TypeError(f"no layout for {type(item).__name__}")


def _align(lines: list[_Line], blank_before: list[bool]) -> None:
    """Pad the names of runs of `color` lines (and of matrix values) that are adjacent in the output:
    no blank line and no comment line between them. Decided on the output, not on the source, so
    that formatting the result again finds the same runs (`fmt(fmt(x)) == fmt(x)`)."""
    runs: list[list[_Line]] = [[]]
    for line, gap in zip(lines, blank_before):
        run = runs[-1]
        if run and (gap or line.aligned is None or type(line.aligned) is not type(run[-1].aligned)):
            runs.append([])
        if line.aligned is not None:
            runs[-1].append(line)
    for run in runs:
        width = max((len(ln.aligned.name.value) for ln in run if ln.aligned), default=0)  # (all are)
        for ln in run:
            ln.text = setting_text(ln.aligned, width)


def _emit(node, depth: int, out: list[_Line], comments: set[int]) -> None:
    if isinstance(node, (ast.Output, ast.MatrixValue)):  # a line that may open a block of its own
        children = node.items if isinstance(node, ast.Output) else node.fields
        s = node.span
        if not children or (isinstance(node, ast.MatrixValue) and _inline(node, comments)):
            lined = node if isinstance(node, ast.MatrixValue) else None
            out.append(_Line("leaf", depth, setting_text(node), s.line, s.end_line, aligned=lined))
            return
        head = setting_text(ast.MatrixValue(s, node.name, node.text) if isinstance(node, ast.MatrixValue)
                            else ast.Output(s, node.name, node.size, node.mode))
        out.append(_Line("open", depth, head + " {", s.line, s.line))
        for child in children:
            out.append(_Line("leaf", depth + 1, setting_text(child), child.span.line, child.span.end_line))
        out.append(_Line("close", depth, "}", s.end_line, s.end_line))
    elif isinstance(node, (ast.Brand, ast.Brief, ast.Component, ast.Edit, ast.Matrix)):
        children = node.values if isinstance(node, ast.Matrix) else node.items
        s = node.span
        out.append(_Line("open", depth, f"{node.keyword} {node.name.value} {{", s.line, s.line))
        for child in children:
            if isinstance(child, (ast.Component, ast.Edit, ast.Matrix, ast.Output)) or (
                    isinstance(child, ast.MatrixValue) and child.fields):
                _emit(child, depth + 1, out, comments)
            else:
                aligned = child if isinstance(child, (ast.BrandColor, ast.BrandFont, ast.MatrixValue)) else None
                out.append(_Line("leaf", depth + 1, setting_text(child), child.span.line, child.span.end_line,
                                 aligned=aligned))
        out.append(_Line("close", depth, "}", s.end_line, s.end_line))
    else:
        out.append(_Line("leaf", depth, setting_text(node), node.span.line, node.span.end_line,
                         top_use=isinstance(node, ast.Use) and depth == 0))


def format_module(module: ast.Module, source: str) -> str:
    code: list[_Line] = []
    comment_lines = {c.span.line for c in module.comments}
    for item in module.items:
        _emit(item, 0, code, comment_lines)
    src_lines = source_lines(source)  # numbered as the parser numbers them
    blank = {i + 1 for i, line in enumerate(src_lines) if not line.strip()}

    # Comments: trailing ones join the last line that starts on their line, unless that line already
    # has one or a comment line already follows it (a setting written over several lines): then
    # they go on a line of their own, below, so that comments keep their order; the others become
    # lines of their own before the first code line that starts after them.
    lines: list[_Line] = []
    ci = 0
    for c in module.comments:
        line_no = c.span.line
        while ci < len(code) and code[ci].start <= line_no:
            lines.append(code[ci])
            ci += 1
        before = src_lines[line_no - 1][: c.span.column - 1] if line_no <= len(src_lines) else ""
        target = next((ln for ln in reversed(lines) if ln.kind != "comment"), None)
        if before.strip() and target is not None and not target.trailing and lines[-1] is target:
            target.trailing = f"  {c.text.rstrip()}"
            continue
        nxt = code[ci] if ci < len(code) else None
        depth = 0 if nxt is None else nxt.depth + (1 if nxt.kind == "close" else 0)
        lines.append(_Line("comment", depth, c.text.rstrip(), line_no, line_no))
    lines.extend(code[ci:])

    blank_before = [bool(i) and _blank_between(lines[i - 1], line, blank) for i, line in enumerate(lines)]
    _align(lines, blank_before)
    out: list[str] = []
    for line, gap in zip(lines, blank_before):
        if gap:
            out.append("")
        text = line.text + line.trailing
        out.append(INDENT * line.depth + text if text else "")
    return "\n".join(out) + "\n" if out else ""


def _blank_between(prev: _Line, line: _Line, blank: set[int]) -> bool:
    """Whether a blank line separates two output lines."""
    if prev.kind == "open" or line.kind == "close":
        return False
    authored = any(n in blank for n in range(prev.end + 1, line.start))
    if line.depth or prev.depth or authored:
        return authored
    # top level: one blank line between items; a comment right above an item stays attached to
    # it, and a run of `use` lines stays together
    if line.kind == "comment":
        return prev.kind == "close"
    return prev.kind != "comment" and not (prev.top_use and line.top_use)
