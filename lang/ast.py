"""The abstract syntax tree of the brief language.

Owns the node types: frozen dataclasses, each with the `span` of source it came from. They are
built by the one Transformer in `lang/parser.py` and never mutated; checks read them, the
compiler and the formatter walk them. Settings of a block are kept in source order as a tuple
of typed items (duplicates included) so the checker can report a setting given twice instead of
one silently winning. The leaves (spans, values, regions) live in `lang/ast_values.py`, a model
backend's generation controls in `lang/ast_controls.py`, the brand rules in `lang/ast_rules.py`;
all are re-exported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Protocol, TypeVar

from .ast_controls import Control, ControlNet, Guidance, Lora, Refine, Resolution, Scheduler  # noqa: F401
from .ast_rules import (  # noqa: F401
    CHECK_RULES,
    CheckClearspace,
    CheckColor,
    CheckContrast,
    CheckMinsize,
    CheckPalette,
    CheckRule,
    CheckSafezone,
    CheckVisible,
)
from .ast_values import (  # noqa: F401
    Anchor,
    Around,
    Box,
    ColourRef,
    Comment,
    FieldRef,
    Full,
    HexColor,
    Mask,
    Name,
    Num,
    RegionSpec,  # the leaves, re-exported: stages say `ast.Span`
    Size,
    Span,
    Str,
)

# ── settings (one line each inside a block) ───────────────────────────────────


@dataclass(frozen=True, slots=True)
class Prompt:
    keyword: ClassVar[str] = "prompt"
    span: Span
    text: Str


@dataclass(frozen=True, slots=True)
class Negative:
    keyword: ClassVar[str] = "negative"
    span: Span
    text: Str


@dataclass(frozen=True, slots=True)
class Asset:
    keyword: ClassVar[str] = "asset"
    span: Span
    path: Str


@dataclass(frozen=True, slots=True)
class Region:
    keyword: ClassVar[str] = "region"
    span: Span
    spec: RegionSpec


@dataclass(frozen=True, slots=True)
class Z:
    keyword: ClassVar[str] = "z"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Seed:
    keyword: ClassVar[str] = "seed"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Steps:
    keyword: ClassVar[str] = "steps"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Strength:
    keyword: ClassVar[str] = "strength"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Context:
    keyword: ClassVar[str] = "context"
    span: Span
    value: Name


@dataclass(frozen=True, slots=True)
class Fit:
    keyword: ClassVar[str] = "fit"
    span: Span
    value: Name


@dataclass(frozen=True, slots=True)
class Opacity:
    keyword: ClassVar[str] = "opacity"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Feather:
    keyword: ClassVar[str] = "feather"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class SkuColor:
    keyword: ClassVar[str] = "color"
    span: Span
    color: ColourRef
    within: Num


# ── text layers ───────────────────────────────────────────────────────────────
@dataclass(frozen=True, slots=True)
class Text:
    keyword: ClassVar[str] = "text"
    span: Span
    text: Str


@dataclass(frozen=True, slots=True)
class FontRef:
    keyword: ClassVar[str] = "font"
    span: Span
    name: Name | FieldRef


@dataclass(frozen=True, slots=True)
class TextSize:
    """`size 96px`, or `size auto 32px 120px` (low and high set, size None)."""

    keyword: ClassVar[str] = "size"
    span: Span
    size: Num | None
    low: Num | None
    high: Num | None


@dataclass(frozen=True, slots=True)
class TextColor:
    keyword: ClassVar[str] = "color"
    span: Span
    color: ColourRef


@dataclass(frozen=True, slots=True)
class Align:
    keyword: ClassVar[str] = "align"
    span: Span
    value: Name


@dataclass(frozen=True, slots=True)
class Canvas:
    keyword: ClassVar[str] = "canvas"
    span: Span
    size: Size


@dataclass(frozen=True, slots=True)
class Backend:
    keyword: ClassVar[str] = "backend"
    span: Span
    name: Name
    model: Str | None
    revision: Str | None
    endpoint: Str | None = None  # a hosted API's host (a proxy, a test server): where, not what
    retires: Str | None = None  # the date (YYYY-MM-DD) the provider retires the model: recorded in the lock


@dataclass(frozen=True, slots=True)
class BrandRef:
    keyword: ClassVar[str] = "brand"
    span: Span
    name: Name


@dataclass(frozen=True, slots=True)
class BrandColor:
    keyword: ClassVar[str] = "color"
    span: Span
    name: Name
    color: HexColor


@dataclass(frozen=True, slots=True)
class BrandFont:
    keyword: ClassVar[str] = "font"
    span: Span
    name: Name
    path: Str


@dataclass(frozen=True, slots=True)
class Logo:
    keyword: ClassVar[str] = "logo"
    span: Span
    path: Str


@dataclass(frozen=True, slots=True)
class Clearspace:
    keyword: ClassVar[str] = "clearspace"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Safezone:
    keyword: ClassVar[str] = "safezone"
    span: Span
    value: Num


# ── edit operations ───────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class Inpaint:
    keyword: ClassVar[str] = "inpaint"
    span: Span
    region: RegionSpec


@dataclass(frozen=True, slots=True)
class Remove:
    keyword: ClassVar[str] = "remove"
    span: Span
    region: RegionSpec


@dataclass(frozen=True, slots=True)
class Recolor:
    keyword: ClassVar[str] = "recolor"
    span: Span
    component: Name
    target: ColourRef


@dataclass(frozen=True, slots=True)
class Harmonize:
    keyword: ClassVar[str] = "harmonize"
    span: Span
    component: Name
    band: Num


EditOp = Inpaint | Remove | Recolor | Harmonize
EDIT_OPS = (Inpaint, Remove, Recolor, Harmonize)


# ── output blocks: one format's own layout and delivery ───────────────────────
@dataclass(frozen=True, slots=True)
class Place:
    keyword: ClassVar[str] = "place"
    span: Span
    component: Name
    region: RegionSpec


@dataclass(frozen=True, slots=True)
class OutputSafezone:
    """`safezone T [R [B L]]` in an output block, CSS order."""

    keyword: ClassVar[str] = "safezone"
    span: Span
    values: tuple[Num, ...]


@dataclass(frozen=True, slots=True)
class Format:
    keyword: ClassVar[str] = "format"
    span: Span
    kind: Name
    quality: Num | None
    max: Num | None


@dataclass(frozen=True, slots=True)
class File:
    keyword: ClassVar[str] = "file"
    span: Span
    template: Str


# ── blocks ────────────────────────────────────────────────────────────────────

T = TypeVar("T")


class Keyworded(Protocol):
    """A setting or operation line, whatever its kind: the keyword that starts it and where it is."""

    keyword: ClassVar[str]

    @property
    def span(self) -> Span: ...


class _Block:
    """Lookup helpers shared by the block nodes, whose settings live in `items`."""

    __slots__ = ()
    items: tuple

    def all(self, kind: type[T]) -> Iterator[T]:
        return (item for item in self.items if isinstance(item, kind))

    def first(self, kind: type[T]) -> T | None:
        return next(self.all(kind), None)


@dataclass(frozen=True, slots=True)
class MatrixField:
    """One field of a matrix value: `asset "sku-volt.png"`, `color volt`, `headline "Run further"`."""

    span: Span
    name: Name
    value: Str | Name | HexColor


@dataclass(frozen=True, slots=True)
class MatrixValue:
    span: Span
    name: Name
    text: Str
    fields: tuple[MatrixField, ...] = ()
    block: Span | None = None  # the `{ … }` of its fields, when written

    def field(self, name: str) -> MatrixField | None:
        return next((f for f in self.fields if f.name.value == name), None)


@dataclass(frozen=True, slots=True)
class Matrix:
    keyword: ClassVar[str] = "matrix"
    span: Span
    name: Name
    values: tuple[MatrixValue, ...]


@dataclass(frozen=True, slots=True)
class Component(_Block):
    keyword: ClassVar[str] = "component"
    span: Span
    name: Name
    items: tuple


@dataclass(frozen=True, slots=True)
class Edit(_Block):
    keyword: ClassVar[str] = "edit"
    span: Span
    name: Name
    items: tuple

    @property
    def ops(self) -> list[EditOp]:
        return [item for item in self.items if isinstance(item, EDIT_OPS)]


@dataclass(frozen=True, slots=True)
class Output(_Block):
    keyword: ClassVar[str] = "output"
    span: Span
    name: Name
    size: Size
    mode: Name
    items: tuple = ()  # its block's settings (place, safezone, format, file), in source order
    block: Span | None = None  # the `{ … }`, when written

    @property
    def places(self) -> list[Place]:
        return list(self.all(Place))


@dataclass(frozen=True, slots=True)
class Brand(_Block):
    keyword: ClassVar[str] = "brand"
    span: Span
    name: Name
    items: tuple


@dataclass(frozen=True, slots=True)
class Brief(_Block):
    keyword: ClassVar[str] = "brief"
    span: Span
    name: Name
    items: tuple

    @property
    def components(self) -> list[Component]:
        return list(self.all(Component))

    @property
    def edits(self) -> list[Edit]:
        return list(self.all(Edit))

    @property
    def checks(self) -> list[CheckRule]:
        return [item for item in self.items if isinstance(item, CHECK_RULES)]

    @property
    def outputs(self) -> list[Output]:
        return list(self.all(Output))

    @property
    def matrices(self) -> list[Matrix]:
        return list(self.all(Matrix))


@dataclass(frozen=True, slots=True)
class Use:
    keyword: ClassVar[str] = "use"
    span: Span
    path: Str


@dataclass(frozen=True, slots=True)
class Module(_Block):
    """One parsed file: its top-level items in order, and its comments (for the formatter)."""

    span: Span
    path: str
    items: tuple
    comments: tuple[Comment, ...]

    @property
    def uses(self) -> list[Use]:
        return list(self.all(Use))

    @property
    def brands(self) -> list[Brand]:
        return list(self.all(Brand))

    @property
    def briefs(self) -> list[Brief]:
        return list(self.all(Brief))
