"""The leaves of the brief language's abstract syntax tree: source spans, values (numbers, strings,
names, colours, field references, sizes), comments and regions. The settings and blocks built from
them are `lang/ast.py`'s, which re-exports these names: every stage says `ast.Span`, `ast.Box`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Span:
    """A range of source text: 1-based line and column, end exclusive; offsets into the text."""

    file: str
    line: int
    column: int
    end_line: int
    end_column: int
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


# ── values ────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Num:
    """A number with an optional unit: `42`, `0.5`, `60%`, `24px`."""

    span: Span
    value: float
    unit: str  # "", "%" or "px"
    text: str


@dataclass(frozen=True, slots=True)
class Str:
    """A quoted string; `value` is unescaped, `text` is as written (quotes included)."""

    span: Span
    value: str
    text: str


@dataclass(frozen=True, slots=True)
class Name:
    span: Span
    value: str


@dataclass(frozen=True, slots=True)
class HexColor:
    """A colour as written: `#C8102E`. The checker validates it is 3 or 6 hex digits."""

    span: Span
    text: str


@dataclass(frozen=True, slots=True)
class FieldRef:
    """`AXIS.FIELD` where a colour or font name is expected: the field of the variant's value."""

    span: Span
    axis: Name
    field: Name

    @property
    def value(self) -> str:
        return f"{self.axis.value}.{self.field.value}"

    @property
    def text(self) -> str:
        return self.value


ColourRef = Name | FieldRef | HexColor  # a brand colour, a matrix field holding one, or a hex colour


@dataclass(frozen=True, slots=True)
class Size:
    span: Span
    width: Num
    height: Num


@dataclass(frozen=True, slots=True)
class Comment:
    span: Span
    text: str


# ── regions ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Full:
    span: Span


@dataclass(frozen=True, slots=True)
class Box:
    span: Span
    x0: Num
    y0: Num
    x1: Num
    y1: Num


@dataclass(frozen=True, slots=True)
class Anchor:
    span: Span
    position: Name
    size: Size
    margin: Num | None


@dataclass(frozen=True, slots=True)
class Mask:
    span: Span
    path: Str


@dataclass(frozen=True, slots=True)
class Around:
    span: Span
    component: Name
    band: Num


RegionSpec = Full | Box | Anchor | Mask | Around
