"""The workspace beyond the open documents: every brief under the workspace folders that reads a
file, for finding references to and renaming what that file defines (a brand colour used by many
briefs), and the rules a rename must keep (no name given twice).

Programs are loaded with the open documents' unsaved text and kept while none of the files they
read changed (their sizes and modification times, and the open buffers' text, are the key), so a
second request costs a stat per file, not a parse. Names local to one brief (components, axes,
fields) are looked up in that brief's own analysis: no scan at all.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from brief.lang import ast
from brief.lang.diagnostics import DiagnosticError
from brief.lang.load import load

from .analysis import Analysis
from .index import Index, Occurrence, Symbol

MAX_WORKSPACE_FILES = 2000
SHARED_KINDS = ("brand", "colour", "font", "file")  # defined in one file, used from others


class Workspace:
    def __init__(self) -> None:
        self.roots: list[Path] = []
        self._cache: dict[str, tuple[tuple, Analysis | None]] = {}

    def _signature(self, paths, overlays: dict[str, str]) -> tuple:
        sig = []
        for p in sorted(paths):
            if p in overlays:
                sig.append((p, hashlib.sha256(overlays[p].encode()).hexdigest()))
            else:
                try:
                    st = os.stat(p)
                    sig.append((p, st.st_size, st.st_mtime_ns))
                except OSError:
                    sig.append((p, None))
        return tuple(sig)

    def _briefs(self):
        count = 0
        for root in self.roots:
            for path in sorted(root.rglob("*.brief")):
                if any(part.startswith(".") or part == "node_modules" for part in path.relative_to(root).parts[:-1]):
                    continue
                count += 1
                if count > MAX_WORKSPACE_FILES:
                    return
                yield path.absolute()

    def _load(self, path: Path, overlays: dict[str, str]) -> Analysis | None:
        real = os.path.realpath(path)
        cached = self._cache.get(real)
        if cached is not None and cached[0] == self._signature({p for p, *_ in cached[0]}, overlays):
            return cached[1]
        try:
            program = load(str(path), overlays=overlays)
        except DiagnosticError:
            self._cache[real] = (self._signature({real}, overlays), None)
            return None
        a = Analysis(str(path), program.sources.get(str(path), ""), program)
        a.index = Index(program)
        self._cache[real] = (self._signature(a.reads(), overlays), a)
        return a

    def occurrences(self, symbol: Symbol, open_analyses: list[Analysis], overlays: dict[str, str]):
        """Every occurrence of `symbol`: in the open documents' analyses, and for names other files
        can use, in every brief of the workspace. Returns (analysis, occurrence) pairs, each place
        once, and the workspace briefs that could not be read (they do not parse)."""
        sources = [a for a in open_analyses if a.index is not None]
        skipped: list[str] = []
        if symbol[0] in SHARED_KINDS:
            seen = {os.path.realpath(a.path) for a in sources}
            for path in self._briefs():
                if os.path.realpath(path) in seen:
                    continue
                a = self._load(path, overlays)
                if a is None:
                    skipped.append(str(path))
                else:
                    sources.append(a)
        out, places = [], set()
        for a in sources:
            for occ in a.index.occurrences(symbol):
                key = (os.path.realpath(occ.span.file), occ.span.start)
                if key not in places:
                    places.add(key)
                    out.append((a, occ))
        return out, skipped


def rename_conflict(analysis: Analysis, occ: Occurrence, new_name: str) -> str | None:
    """Why renaming `occ`'s symbol to `new_name` would give a name twice, or None."""
    program = analysis.loaded
    if program is None:
        return None
    kind, key = occ.symbol[0], occ.symbol[1]
    module = program.modules.get(key)
    if module is None:
        return None
    if kind == "component":
        brief = next((b for b in module.briefs if b.name.value == occ.symbol[2]), None)
        if brief and new_name in {b.name.value for b in brief.components + brief.edits}:
            return f"brief `{brief.name.value}` already has a component or edit `{new_name}`"
    elif kind in ("colour", "font"):
        brand = next((b for b in module.brands if b.name.value == occ.symbol[2]), None)
        what = ast.BrandColor if kind == "colour" else ast.BrandFont
        if brand and new_name in {x.name.value for x in brand.all(what)}:
            return f"brand `{brand.name.value}` already has a {kind} `{new_name}`"
    elif kind == "brand":
        if new_name in {b.name.value for m in program.modules.values() for b in m.brands}:
            return f"a brand `{new_name}` already exists"
    elif kind == "axis":
        brief = next((b for b in module.briefs if b.name.value == occ.symbol[2]), None)
        if brief and new_name in {m.name.value for m in brief.matrices}:
            return f"brief `{brief.name.value}` already has a matrix `{new_name}`"
    elif kind == "field":
        brief = next((b for b in module.briefs if b.name.value == occ.symbol[2]), None)
        m = next((m for m in brief.matrices if m.name.value == occ.symbol[3]), None) if brief else None
        if new_name == "name" or (m and any(v.field(new_name) for v in m.values)):
            return f"matrix `{occ.symbol[3]}` already has a field `{new_name}`"
    return None
