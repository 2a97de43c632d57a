"""The brand rules of the brief language's AST: one node per `check` line (palette, color,
clearspace, safezone, minsize, contrast, visible). Re-exported by `lang/ast.py`: stages say
`ast.CheckColor`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ast_values import Name, Num, Size, Span


@dataclass(frozen=True, slots=True)
class CheckPalette:
    keyword: ClassVar[str] = "palette"
    span: Span
    within: Num | None
    coverage: Num | None


@dataclass(frozen=True, slots=True)
class CheckColor:
    keyword: ClassVar[str] = "color"
    span: Span
    component: Name


@dataclass(frozen=True, slots=True)
class CheckClearspace:
    keyword: ClassVar[str] = "clearspace"
    span: Span
    component: Name
    factor: Num | None


@dataclass(frozen=True, slots=True)
class CheckSafezone:
    keyword: ClassVar[str] = "safezone"
    span: Span
    margin: Num | None


@dataclass(frozen=True, slots=True)
class CheckMinsize:
    keyword: ClassVar[str] = "minsize"
    span: Span
    component: Name
    size: Size


@dataclass(frozen=True, slots=True)
class CheckContrast:
    keyword: ClassVar[str] = "contrast"
    span: Span
    component: Name
    ratio: Num | None


@dataclass(frozen=True, slots=True)
class CheckVisible:
    keyword: ClassVar[str] = "visible"
    span: Span
    component: Name


CheckRule = CheckPalette | CheckColor | CheckClearspace | CheckSafezone | CheckMinsize | CheckContrast | CheckVisible
CHECK_RULES = (CheckPalette, CheckColor, CheckClearspace, CheckSafezone, CheckMinsize, CheckContrast, CheckVisible)
