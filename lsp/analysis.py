"""Analysis of one open document: load it and the files it uses (open buffers read as overlays),
run every check, index its symbols, and turn the diagnostics into LSP diagnostics per file.

The diagnostics are the CLI's own (`lang.check.diagnose`): same codes, spans and help text. A
duplicate's first definition and a cycle's other files come as related information; "did you
mean" repairs are kept for the code actions. The last build's failing brand checks are added as
warnings at their `check` line (`builds.py`), while they describe the saved text.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from lsprotocol import types as lsp

from brief.lang import ast
from brief.lang.check import diagnose
from brief.lang.diagnostics import Diagnostic, DiagnosticError
from brief.lang.load import Program, load
from brief.lang.matrix import variants_of

from . import builds
from .index import Index
from .positions import Lines, path_to_uri

SOURCE = "brief"


@dataclass
class Analysis:
    path: str
    text: str
    program: Program | None = None  # None when the text does not load (then `partial` may stand in)
    partial: Program | None = None  # the text above its first syntax error, loaded: names for completion
    uri: str = ""  # the document's own URI, as the client wrote it
    saved: bool = False  # the text is the file's on disk (what a build read)
    index: Index | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    check_results: list[builds.CheckResult] = field(default_factory=list)
    lines: dict[str, Lines] = field(default_factory=dict)

    @property
    def module(self) -> ast.Module | None:
        return self.program.module if self.program else None

    @property
    def loaded(self) -> Program | None:
        """The whole program, or what stands in for it while the text does not parse."""
        return self.program or self.partial

    def reads(self) -> set[str]:
        """The real paths of every file this analysis read or tried to read (a `use`d file that did
        not parse included): a change to any of them calls for a new analysis."""
        program = self.program or self.partial
        found = {os.path.realpath(self.path)}
        if program is not None:
            found |= set(program.modules) | {target for _, target in program.use_spans}
        return found

    def uri_of(self, file: str) -> str:
        """The URI of a file this analysis read: the document's own for the document."""
        return self.uri if file == self.path and self.uri else path_to_uri(file)

    def lines_of(self, file: str) -> Lines | None:
        """The lines of a file this analysis read (by the path its spans carry)."""
        if file not in self.lines:
            text = self.text if file == self.path else (self.program.sources.get(file) if self.program else None)
            if text is None:
                return None
            self.lines[file] = Lines(text)
        return self.lines[file]

    def variant_names(self) -> set[str]:
        from brief.lang.compile import variant_name  # networkx comes with it: only when a hover needs it

        module = self.module
        if module is None:
            return set()
        return {variant_name(b.name.value, {a: v.name.value for a, v in chosen.items()})
                for b in module.briefs for chosen in variants_of(b)}


def _above_error(path: str, text: str, diagnostics: list[Diagnostic], overlays: dict[str, str]) -> Program | None:
    """The program of the text above the line of its first syntax error, its open blocks closed:
    what completion knows of a document that does not parse (the brands it uses, the components
    above the cursor)."""
    from brief.lang.interactive import open_blocks

    for _ in range(4):  # the cut may end inside a setting (`color sku.` then a newline): cut again
        first = min((d.span.start for d in diagnostics if d.span is not None and d.span.file == path
                     and d.code.startswith("E1")), default=None)
        if first is None or not text:
            return None
        first = min(first, len(text) - 1)  # an error in the closing braces added: the last line is cut
        text = text[: text.rfind("\n", 0, first) + 1]
        try:
            return load(path, text=text + "}\n" * len(open_blocks(text)), overlays=overlays)
        except DiagnosticError as exc:
            diagnostics = exc.diagnostics
    return None


def analyze(path: str, text: str, overlays: dict[str, str], out_dirs: list[Path], saved: bool,
            uri: str = "") -> Analysis:
    """Load and check `path` as `text` (other open files from `overlays`, keyed by real path)."""
    result = Analysis(path, text, uri=uri, saved=saved)
    try:
        program = load(path, text=text, overlays=overlays)
    except DiagnosticError as exc:
        result.diagnostics = exc.diagnostics
        result.partial = _above_error(path, text, exc.diagnostics, overlays)
        if result.partial is not None:
            result.index = Index(result.partial)
        return result
    result.program = program
    result.diagnostics = diagnose(program)
    result.index = Index(program)
    if saved and program.module.briefs:
        reads = [p for p in program.modules if os.path.realpath(p) != os.path.realpath(path)]
        result.check_results = builds.check_results(
            path, {b.name.value for b in program.module.briefs}, out_dirs, reads)
    return result


def _range(analysis: Analysis, span: ast.Span | None) -> tuple[str, lsp.Range]:
    if span is None:
        return analysis.path, lsp.Range(lsp.Position(0, 0), lsp.Position(0, 0))
    lines = analysis.lines_of(span.file)
    if lines is None:
        start = lsp.Position(max(span.line - 1, 0), max(span.column - 1, 0))
        end = lsp.Position(max(span.end_line - 1, 0), max(span.end_column - 1, 0))
        return span.file, lsp.Range(start, end)
    return span.file, lines.span_range(span)


def _convert(analysis: Analysis, d: Diagnostic) -> tuple[str, lsp.Diagnostic]:
    file, rng = _range(analysis, d.span)
    related = []
    for r in d.related:
        rfile, rrange = _range(analysis, r.span)
        related.append(lsp.DiagnosticRelatedInformation(lsp.Location(analysis.uri_of(rfile), rrange), r.message))
    message = d.summary + (f"\nhelp: {d.detail}" if d.detail else "")
    severity = lsp.DiagnosticSeverity.Error if d.is_error else lsp.DiagnosticSeverity.Warning
    return file, lsp.Diagnostic(rng, message, severity=severity, code=d.code or None, source=SOURCE,
                                related_information=related or None)


def check_lines(analysis: Analysis) -> dict[str, ast.CheckRule]:
    """The document's `check` rules by label ("check color product"), to place build results."""
    module = analysis.module
    if module is None:
        return {}
    out = {}
    for brief in module.briefs:
        for rule in brief.checks:
            name = getattr(rule, "component", None)
            label = f"check {rule.keyword}" + (f" {name.value}" if isinstance(name, ast.Name) else "")
            out.setdefault(label, rule)
    return out


def build_diagnostics(analysis: Analysis) -> list[lsp.Diagnostic]:
    """The last build's failing and warning brand checks, one per rule, at its `check` line."""
    rules = check_lines(analysis)
    by_label: dict[str, list[builds.CheckResult]] = {}
    for r in analysis.check_results:
        if r.status in ("fail", "warn") and r.label in rules:
            by_label.setdefault(r.label, []).append(r)
    out = []
    for label, results in by_label.items():
        rule = rules[label]
        fails = [r for r in results if r.status == "fail"] or results
        worst = max(fails, key=lambda r: r.measured if isinstance(r.measured, (int, float)) else 0)
        variants = sorted({r.variant for r in results})
        shown = ", ".join(variants[:3]) + (f" and {len(variants) - 3} more" if len(variants) > 3 else "")
        message = (f"last build: `{label}` {'failed' if worst.status == 'fail' else 'warned'} in {shown} "
                   f"(measured {worst.measured}; {worst.target})")
        fix = recolor_fix(analysis, rule) if worst.fix else None
        if fix:
            message += f"\nhelp: fix it with `{fix}`"
        lines = analysis.lines_of(rule.span.file)
        assert lines is not None
        severity = lsp.DiagnosticSeverity.Warning if worst.status == "fail" else lsp.DiagnosticSeverity.Information
        out.append(lsp.Diagnostic(lines.span_range(rule.span), message, severity=severity, code="build-check",
                                  source=SOURCE, data={"fix": fix} if fix else None))
    return out


def recolor_fix(analysis: Analysis, rule: ast.CheckRule) -> str | None:
    """The `recolor` edit that fixes a failing `check color`, written for every variant: to the
    colour as the component writes it (`sku.color` in a catalogue, not one variant's value); None
    when the brief already recolours the component so (a build did not bring it within ΔE: another
    edit would change nothing)."""
    module = analysis.module
    name = getattr(rule, "component", None)
    brief = next((b for b in module.briefs if rule in b.checks), None) if module and name else None
    comp = next((c for c in brief.components if c.name.value == name.value), None) if brief else None
    sku = comp.first(ast.SkuColor) if comp else None
    if sku is None:
        return None
    target = sku.color.value if isinstance(sku.color, (ast.Name, ast.FieldRef)) else sku.color.text
    if any(isinstance(op, ast.Recolor) and op.component.value == name.value
           and getattr(op.target, "value", getattr(op.target, "text", None)) == target
           for edit in brief.edits for op in edit.ops):
        return None
    taken = {b.name.value for b in brief.components + brief.edits}
    edit_name = f"fix_{name.value}"
    n = 2
    while edit_name in taken:
        edit_name, n = f"fix_{name.value}_{n}", n + 1
    return f"edit {edit_name} {{ recolor {name.value} to {target} }}"


def to_lsp(analysis: Analysis) -> dict[str, list[lsp.Diagnostic]]:
    """This analysis's diagnostics as LSP diagnostics, by the URI of the file each is in."""
    own = analysis.uri_of(analysis.path)
    by_uri: dict[str, list[lsp.Diagnostic]] = {own: []}
    for d in analysis.diagnostics:
        file, diag = _convert(analysis, d)
        by_uri.setdefault(analysis.uri_of(file), []).append(diag)
    by_uri[own] += build_diagnostics(analysis)
    return by_uri
