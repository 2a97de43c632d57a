"""Checks of the files a brief names: asset, mask and logo files exist inside the project and are
images by their contents, and the component a clear-space rule measures places the brand kit's
own logo. (The runtime decodes the images fully: `runtime/render/images.py`.)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

from . import ast, matrix
from .diagnostics import Diagnostic, error
from .paths import file_sha256, resolve
from .scope import Scope, brief_brand, placeholders

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")


def check_paths(scope: Scope) -> Iterator[Diagnostic]:
    """Asset, mask, logo, font and LoRA files exist, are images (fonts: TrueType or OpenType; LoRAs:
    safetensors), and stay inside the project. A path with placeholders is checked for every value it takes."""
    program, folder, seen = scope.program, scope.folder, {}
    for path, written, where, kind in named_files(scope.module):
        if written not in seen:  # the same file named many times is resolved once
            seen[written] = resolve(folder, written, program.root, program.allow_outside)
        found = seen[written]
        shown = f" (for {where}: `{written}`)" if where else ""
        if found.path is None:
            yield error("E360", f"cannot read this file{shown}: {found.problem}", found.fix, path.span)
        elif kind == "weights":
            if found.path.suffix.lower() != ".safetensors" or not looks_like_safetensors(found.path):
                yield error("E364", f"`{os.path.basename(written)}` is not a safetensors file{shown}",
                            "LoRA weights are loaded from .safetensors only (pickled .bin, .pt or .ckpt files can "
                            "run code); convert them, e.g. with safetensors' convert script.", path.span)
        elif kind == "font":
            if found.path.suffix.lower() not in FONT_SUFFIXES or not looks_like_font(found.path):
                yield error("E363", f"`{os.path.basename(written)}` is not a TrueType or OpenType font{shown}",
                            "Use a .ttf or .otf file; the file's contents are checked, not just its name.", path.span)
        elif found.path.suffix.lower() not in IMAGE_SUFFIXES or not looks_like_image(found.path):
            yield error("E361", f"`{os.path.basename(written)}` is not a PNG, JPEG or WebP image{shown}",
                        "Use a PNG (with alpha for cut-outs), JPEG or WebP file; "
                        "the file's contents are checked, not just its name.", path.span)


def named_files(module: ast.Module) -> Iterator[tuple[ast.Str, str, str, str]]:
    """(path as written, path for one variant, which variant, "image", "font" or "weights") for every file a
    module names; a path with placeholders once per distinct value (bad placeholders are skipped:
    the matrix checks report them)."""
    for brand in module.brands:
        for font in brand.all(ast.BrandFont):
            yield font.path, font.path.value, "", "font"
    for each in module.briefs:
        for block in [each, *each.components]:
            for lora in block.all(ast.Lora):
                yield lora.path, lora.path.value, "", "weights"
    briefs = {id(b): b for b in module.briefs}
    for path in image_paths(module):
        brief = next((b for b in briefs.values() if b.span.start <= path.span.start < b.span.end), None)
        if brief is None or not matrix.axes_in(path.value):
            yield path, path.value, "", "image"
            continue
        axes = {m.name.value for m in brief.matrices}
        if not matrix.axes_in(path.value) <= axes or any(name is None for name, _, _ in placeholders(path.value)):
            continue
        done: set[str] = set()
        for chosen in matrix.variants_of(brief):
            if not _textual(path.value, chosen):  # a missing field, or one that is not text: the field checks'
                break
            written = matrix.interpolate(path.value, matrix.bindings(chosen))
            if written not in done:
                done.add(written)
                where = ", ".join(f"{a}={v.name.value}" for a, v in chosen.items() if a in matrix.axes_in(path.value))
                yield path, written, where, "image"


def _textual(text: str, chosen: dict[str, ast.MatrixValue]) -> bool:
    """Every `{axis.FIELD}` of a string is a text field of this variant's value."""
    for name, _, _ in placeholders(text):
        axis, field = matrix.split(name or "")
        if field not in (None, "name"):
            held = chosen[axis].field(field) if axis in chosen else None
            if held is None or not isinstance(held.value, ast.Str):
                return False
    return True


FONT_SUFFIXES = (".ttf", ".otf", ".ttc")
FONT_MAGIC = (b"\x00\x01\x00\x00", b"OTTO", b"true", b"ttcf")


def looks_like_font(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return fh.read(4) in FONT_MAGIC
    except OSError:
        return False


def looks_like_safetensors(path: Path) -> bool:
    """A safetensors file by its header: a little-endian length, then a JSON object that fits the
    file (the runtime checks every tensor's offsets before loading)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            n = int.from_bytes(fh.read(8), "little")
            return 2 <= n <= size - 8 and fh.read(1) == b"{"
    except OSError:
        return False


IMAGE_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")


def looks_like_image(path: Path) -> bool:
    """PNG, JPEG or WebP by their first bytes (the runtime decodes them fully)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    return head.startswith(IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def image_paths(module: ast.Module) -> Iterator[ast.Str]:
    """The path of every asset, mask and logo a module names, as written (with its span)."""
    for brand in module.brands:
        for logo in brand.all(ast.Logo):
            yield logo.path
    for brief in module.briefs:
        for block in brief.components + brief.edits:
            for item in block.items:
                if isinstance(item, ast.Asset):
                    yield item.path
                spec = item.spec if isinstance(item, ast.Region) else getattr(item, "region", None)
                if isinstance(spec, ast.Mask):
                    yield spec.path


def check_clearspace_logo(scope: Scope) -> Iterator[Diagnostic]:
    """`check clearspace C` measures the brand's logo: C places a file with the bytes (sha256) of
    the brand's `logo`, not another image nor a generated layer. Unreadable paths are E360's."""
    for brief in scope.module.briefs:
        brand = brief_brand(scope, brief)
        logo = brand.first(ast.Logo) if brand else None
        comps = {c.name.value: c for c in brief.components}
        for rule in brief.checks:
            comp = comps.get(rule.component.value) if isinstance(rule, ast.CheckClearspace) else None
            if brand is None or logo is None or comp is None:  # (no brand: no logo)
                continue
            what, asset = f"`check clearspace {comp.name.value}` measures", comp.first(ast.Asset)
            own = resolve(Path(os.path.realpath(brand.span.file)).parent, logo.path.value, scope.program.root,
                          scope.program.allow_outside).path
            shown = os.path.relpath(own, scope.folder) if own else logo.path.value
            fix = (f"Brand `{brand.name.value}`'s logo is `{shown}` from here: place that file in "
                   f"`{comp.name.value}`, or check the component that does.")
            if asset is None:
                kind = "a generated component" if comp.first(ast.Prompt) else "a component without an image"
                yield error("E314", f"{what} {kind}, not the brand's logo", fix, rule.span)
                continue
            placed = resolve(scope.folder, asset.path.value, scope.program.root, scope.program.allow_outside).path
            try:
                same = own is None or placed is None or own == placed or file_sha256(own) == file_sha256(placed)
            except OSError:
                continue
            if not same:
                yield error("E314", f"{what} `{asset.path.value}`, not the brand's logo",
                            fix + " The two files' bytes differ.", rule.span)
