"""The matrix: a brief's variants, what each one binds, and the strings and names that read them.

Owns what a variant is (one value per axis), what `{axis}`, `{axis.name}` and `{axis.FIELD}` mean in
a string and `AXIS.FIELD` where a colour or font name is expected, and where a brief uses them:
every interpolating string (prompt, negative, text, asset, mask, file) and every field reference.
Shared by the checks (which report what is missing or of the wrong kind) and the compiler (which
binds them per variant), so the two never disagree about what a placeholder means.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass

from . import ast
from .scope import placeholders

# names a `file` template knows besides the axes
DELIVERY_NAMES = ("brief", "output", "variant")


@dataclass(frozen=True)
class Use:
    """One use of an axis: `axis` (its text), `axis.name` or `axis.FIELD`, in a string or by name."""

    axis: str
    field: str | None  # None: the value's text; "name": its name; else a field
    kind: str  # "text" (in a string), "colour" or "font"
    span: ast.Span
    axis_span: ast.Span  # the axis word alone (what a rename or a "did you mean" replaces)
    field_span: ast.Span | None = None  # the field word alone


def split(name: str) -> tuple[str, str | None]:
    """`sku.asset` → ("sku", "asset"); `sku` → ("sku", None)."""
    axis, dot, field = name.partition(".")
    return axis.strip(), (field.strip() if dot else None)


def text_span(text: ast.Str, offset: int, size: int) -> ast.Span:
    """Span of `size` characters at `offset` in a string's value (exact unless escapes precede it)."""
    s = text.span
    col = s.column + 1 + offset
    return ast.Span(s.file, s.line, col, s.line, col + size, s.start + 1 + offset, s.start + 1 + offset + size)


def strings(brief: ast.Brief) -> Iterator[tuple[ast.Str, str]]:
    """Every string of a brief that interpolates, with what it is (prompt, negative, text, asset,
    mask, file)."""
    for block in brief.components + brief.edits:
        for item in block.items:
            if isinstance(item, (ast.Prompt, ast.Negative, ast.Text)):
                yield item.text, item.keyword
            elif isinstance(item, ast.Asset):
                yield item.path, "asset"
            spec = item.spec if isinstance(item, ast.Region) else getattr(item, "region", None)
            if isinstance(spec, ast.Mask):
                yield spec.path, "mask"
    for out in brief.outputs:
        for item in out.items:
            if isinstance(item, ast.File):
                yield item.template, "file"
            elif isinstance(item, ast.Place) and isinstance(item.region, ast.Mask):
                yield item.region.path, "mask"


def refs(brief: ast.Brief) -> Iterator[tuple[ast.FieldRef, str]]:
    """Every `AXIS.FIELD` where a colour or a font name is expected, with which ("colour", "font")."""
    for comp in brief.components:
        for item in comp.items:
            if isinstance(item, (ast.SkuColor, ast.TextColor)) and isinstance(item.color, ast.FieldRef):
                yield item.color, "colour"
            elif isinstance(item, ast.FontRef) and isinstance(item.name, ast.FieldRef):
                yield item.name, "font"
    for edit in brief.edits:
        for op in edit.all(ast.Recolor):
            if isinstance(op.target, ast.FieldRef):
                yield op.target, "colour"


def uses(brief: ast.Brief) -> Iterator[Use]:
    """Every use of an axis in a brief (placeholders that are not well formed are not uses)."""
    for text, what in strings(brief):
        for name, offset, size in placeholders(text.value):
            if name is None or (what == "file" and name in DELIVERY_NAMES):
                continue
            axis, field = split(name)
            inner = text.value[offset + 1:offset + size - 1]  # between the braces, as written
            at = offset + 1 + inner.index(axis) if axis else offset + 1
            field_at = offset + 1 + inner.rindex(field) if field else None
            yield Use(axis, field, "text", text_span(text, offset, size), text_span(text, at, len(axis)),
                      text_span(text, field_at, len(field)) if field and field_at is not None else None)
    for ref, kind in refs(brief):
        yield Use(ref.axis.value, ref.field.value, kind, ref.span, ref.axis.span, ref.field.span)


def variants_of(brief: ast.Brief) -> Iterator[dict[str, ast.MatrixValue]]:
    """Every combination of one value per axis, in declaration order."""
    axes = brief.matrices
    for combo in itertools.product(*[m.values for m in axes]):
        yield {m.name.value: v for m, v in zip(axes, combo)}


def bindings(chosen: dict[str, ast.MatrixValue]) -> dict[str, str]:
    """What each placeholder of one variant stands for: `axis` → text, `axis.name` → name,
    `axis.FIELD` → the field's text (a string's value, a colour's name or hex)."""
    out: dict[str, str] = {}
    for axis, value in chosen.items():
        out[axis] = value.text.value
        out[f"{axis}.name"] = value.name.value
        for f in value.fields:
            v = f.value
            out[f"{axis}.{f.name.value}"] = v.value if isinstance(v, (ast.Str, ast.Name)) else v.text.upper()
    return out


def interpolate(text: str, values: dict[str, str]) -> str:
    """A string with its placeholders replaced (`{{`, `}}` → literal braces)."""
    out, last = [], 0
    for name, offset, size in placeholders(text):
        out.append(text[last:offset].replace("{{", "{").replace("}}", "}"))
        if name is not None:
            axis, field = split(name)
            out.append(values.get(axis if field is None else f"{axis}.{field}", ""))
        last = offset + size
    out.append(text[last:].replace("{{", "{").replace("}}", "}"))
    return "".join(out)


def field_value(ref: ast.FieldRef, chosen: dict[str, ast.MatrixValue]) -> ast.Str | ast.Name | ast.HexColor | None:
    """The value a field reference stands for in one variant (None when the value lacks it)."""
    value = chosen.get(ref.axis.value)
    f = value.field(ref.field.value) if value is not None else None
    return f.value if f is not None else None


def axes_in(text: str) -> set[str]:
    """The axes a string's placeholders read (so a path is resolved once per distinct binding)."""
    return {split(name)[0] for name, _, _ in placeholders(text) if name is not None}
