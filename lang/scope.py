"""What one module of a program sees: its own brands and those of the files it uses, the brief's
brand and colours, and the `{axis}` placeholders of a text. Shared by the checks and the compiler.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from . import ast
from .load import Program

PLACEHOLDER_RE = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


@dataclass(frozen=True)
class Scope:
    program: Program
    module: ast.Module
    brands: dict[str, ast.Brand]  # visible here: this file's and those of files it uses
    known_brands: dict[str, str]  # every loaded brand → the file defining it (for hints)

    @property
    def folder(self) -> Path:
        return self.program.dir_of(self.module)


def brand_colors(brand: ast.Brand | None) -> dict[str, ast.BrandColor]:
    return {c.name.value: c for c in brand.all(ast.BrandColor)} if brand else {}


def brief_brand(scope: Scope, brief: ast.Brief) -> ast.Brand | None:
    ref = brief.first(ast.BrandRef)
    return scope.brands.get(ref.name.value) if ref else None


def placeholders(text: str) -> Iterator[tuple[str | None, int, int]]:
    """`{axis}` placeholders in a text: (name, offset, length); name None for a stray brace."""
    for m in PLACEHOLDER_RE.finditer(text):
        if m.group(0) in ("{{", "}}"):
            continue
        yield (m.group(1).strip() if m.group(1) is not None else None), m.start(), len(m.group(0))


def scopes(program: Program) -> Iterator[Scope]:
    known: dict[str, str] = {}
    for key, module in program.modules.items():
        for brand in module.brands:
            known.setdefault(brand.name.value, os.path.relpath(key, program.dir_of(program.module)))
    for key, module in program.modules.items():
        visible = {b.name.value: b for used in program.uses.get(key, [])
                   if used in program.modules for b in program.modules[used].brands}
        visible.update({b.name.value: b for b in module.brands})
        yield Scope(program, module, visible, known)
