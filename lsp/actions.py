"""Edits the server proposes: formatting (the whole document or a range, through `lang.fmt`, the
formatter `brief fmt` runs), code actions (every "did you mean" repair a diagnostic carries, and
the `recolor` edit a failing `check color` printed in the last build), and renames.
"""

from __future__ import annotations

import difflib

from lsprotocol import types as lsp

from brief.lang.diagnostics import DiagnosticError
from brief.lang.fmt import format_module
from brief.lang.parser import parse

from .analysis import Analysis, build_diagnostics, check_lines
from .positions import Lines, path_to_uri, whole


def formatted(text: str, path: str) -> str | None:
    """The canonical text (with the document's line endings: CRLF stays CRLF), or None when the
    text does not parse (nothing to format safely)."""
    try:
        new = format_module(parse(text, path), text)
    except DiagnosticError:
        return None
    return new.replace("\n", "\r\n") if "\r\n" in text else new


def format_document(text: str, path: str) -> list[lsp.TextEdit] | None:
    new = formatted(text, path)
    if new is None or new == text:
        return None if new is None else []
    return [lsp.TextEdit(whole(text), new)]


def format_range(text: str, path: str, rng: lsp.Range) -> list[lsp.TextEdit] | None:
    """The formatter's changes to the lines the range touches (the rest left as it is)."""
    new = formatted(text, path)
    if new is None:
        return None
    old_lines, new_lines = text.splitlines(keepends=True), new.splitlines(keepends=True)
    first, last = rng.start.line, rng.end.line - (1 if rng.end.character == 0 and rng.end.line > rng.start.line else 0)
    edits = []
    matcher = difflib.SequenceMatcher(a=old_lines, b=new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "replace" and i2 - i1 == j2 - j1:  # line for line: only the lines in the range
            edits += [lsp.TextEdit(lsp.Range(lsp.Position(i, 0), lsp.Position(i + 1, 0)), new_lines[j1 + i - i1])
                      for i in range(max(i1, first), min(i2, last + 1))]
            continue
        if tag == "equal" or i2 - 1 < first and i1 != i2 or i1 > last:
            continue
        if i1 == i2 and not first <= i1 <= last + 1:  # a pure insertion outside the range
            continue
        start = lsp.Position(i1, 0)
        end = lsp.Position(i2, 0)
        edits.append(lsp.TextEdit(lsp.Range(start, end), "".join(new_lines[j1:j2])))
    return edits


def _intersects(a: lsp.Range, b: lsp.Range) -> bool:
    return not ((a.end.line, a.end.character) < (b.start.line, b.start.character)
                or (b.end.line, b.end.character) < (a.start.line, a.start.character))


def code_actions(analysis: Analysis, rng: lsp.Range) -> list[lsp.CodeAction]:
    uri = path_to_uri(analysis.path)
    actions: list[lsp.CodeAction] = []
    lines = analysis.lines_of(analysis.path)
    if lines is None:
        return actions
    for d in analysis.diagnostics:
        if d.span is None or d.span.file != analysis.path or not d.fixes:
            continue
        drange = lines.span_range(d.span)
        if not _intersects(drange, rng):
            continue
        diag = lsp.Diagnostic(drange, d.summary, code=d.code or None, source="brief")
        for fix in d.fixes:
            flines = analysis.lines_of(fix.span.file)
            if flines is None:
                continue
            edit = lsp.WorkspaceEdit(changes={path_to_uri(fix.span.file): [lsp.TextEdit(flines.span_range(fix.span),
                                                                                          fix.text)]})
            actions.append(lsp.CodeAction(fix.title, kind=lsp.CodeActionKind.QuickFix, diagnostics=[diag],
                                          is_preferred=len(d.fixes) == 1, edit=edit))
    rules = check_lines(analysis)
    for diag in build_diagnostics(analysis):
        fix = (diag.data or {}).get("fix")
        if not fix or not _intersects(diag.range, rng):
            continue
        rule = next((r for r in rules.values() if lines.span_range(r.span) == diag.range), None)
        if rule is None:
            continue
        line = diag.range.start.line
        indent = lines.line_text(line)[: len(lines.line_text(line)) - len(lines.line_text(line).lstrip())]
        insert = lsp.TextEdit(lsp.Range(lsp.Position(line, 0), lsp.Position(line, 0)), f"{indent}{fix}\n")
        actions.append(lsp.CodeAction(f"Add `{fix}`", kind=lsp.CodeActionKind.QuickFix, diagnostics=[diag],
                                      is_preferred=True, edit=lsp.WorkspaceEdit(changes={uri: [insert]})))
    return actions


def rename_edits(occurrences, new_name: str, texts) -> lsp.WorkspaceEdit:
    """A rename: every occurrence's span replaced, grouped by file. `texts(file)` gives the
    `Lines` of a file."""
    changes: dict[str, list[lsp.TextEdit]] = {}
    seen = set()
    for occ in occurrences:
        key = (occ.span.file, occ.span.start)
        if key in seen:
            continue
        seen.add(key)
        lines: Lines | None = texts(occ.span.file)
        if lines is None:
            continue
        changes.setdefault(path_to_uri(occ.span.file), []).append(lsp.TextEdit(lines.span_range(occ.span), new_name))
    return lsp.WorkspaceEdit(changes=changes)
