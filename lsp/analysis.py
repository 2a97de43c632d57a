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
    program: Program | None = None
    index: Index | None = None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    check_results: list[builds.CheckResult] = field(default_factory=list)
    lines: dict[str, Lines] = field(default_factory=dict)

    @property
    def module(self) -> ast.Module | None:
        return self.program.module if self.program else None

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


def analyze(path: str, text: str, overlays: dict[str, str], out_dirs: list[Path], saved: bool) -> Analysis:
    """Load and check `path` as `text` (other open files from `overlays`, keyed by real path)."""
    result = Analysis(path, text)
    try:
        program = load(path, text=text, overlays=overlays)
    except DiagnosticError as exc:
        result.diagnostics = exc.diagnostics
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
        related.append(lsp.DiagnosticRelatedInformation(lsp.Location(path_to_uri(rfile), rrange), r.message))
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
        worst = next((r for r in results if r.status == "fail"), results[0])
        variants = sorted({r.variant for r in results})
        shown = ", ".join(variants[:3]) + (f" and {len(variants) - 3} more" if len(variants) > 3 else "")
        message = (f"last build: `{label}` {'failed' if worst.status == 'fail' else 'warned'} in {shown} "
                   f"(measured {worst.measured}; {worst.target})")
        if worst.fix:
            message += f"\nhelp: fix it with `{worst.fix}`"
        lines = analysis.lines_of(rule.span.file)
        assert lines is not None
        severity = lsp.DiagnosticSeverity.Warning if worst.status == "fail" else lsp.DiagnosticSeverity.Information
        out.append(lsp.Diagnostic(lines.span_range(rule.span), message, severity=severity, code="build-check",
                                  source=SOURCE, data={"fix": worst.fix} if worst.fix else None))
    return out


def to_lsp(analysis: Analysis) -> dict[str, list[lsp.Diagnostic]]:
    """This analysis's diagnostics as LSP diagnostics, by the URI of the file each is in."""
    by_uri: dict[str, list[lsp.Diagnostic]] = {path_to_uri(analysis.path): []}
    for d in analysis.diagnostics:
        file, diag = _convert(analysis, d)
        by_uri.setdefault(path_to_uri(file), []).append(diag)
    by_uri[path_to_uri(analysis.path)] += build_diagnostics(analysis)
    return by_uri
