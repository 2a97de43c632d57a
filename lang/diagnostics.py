"""Diagnostics: the one error type of every stage, and its two renderers.

A stage collects `Diagnostic`s and raises them once, together, as `DiagnosticError`. The text
renderer is ruff-style: `path:line:col: severity: summary`, the source line, carets under the
span, then one sentence on how to fix it. The JSON renderer is for editors and CI annotations.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .ast import Span

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, slots=True)
class Related:
    """Another place a diagnostic is about: a duplicate's first definition, a cycle's other file."""

    span: Span
    message: str


@dataclass(frozen=True, slots=True)
class Fix:
    """A machine-applicable repair: put `text` in place of `span` (a "did you mean" word, say)."""

    span: Span
    text: str
    title: str


@dataclass(frozen=True, slots=True)
class Diagnostic:
    severity: str  # "error" | "warning"
    summary: str
    detail: str
    span: Span | None
    code: str = ""
    related: tuple[Related, ...] = ()
    fixes: tuple[Fix, ...] = ()

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR


def error(code: str, summary: str, detail: str, span: Span | None, *,
          related: tuple[Related, ...] = (), fixes: tuple[Fix, ...] = ()) -> Diagnostic:
    return Diagnostic(ERROR, summary, detail, span, code, related, fixes)


def warning(code: str, summary: str, detail: str, span: Span | None, *,
            related: tuple[Related, ...] = (), fixes: tuple[Fix, ...] = ()) -> Diagnostic:
    return Diagnostic(WARNING, summary, detail, span, code, related, fixes)


class DiagnosticError(Exception):
    """Raised once by a stage with everything it found."""

    def __init__(self, diagnostics: Sequence[Diagnostic]):
        self.diagnostics = list(diagnostics)
        super().__init__("; ".join(d.summary for d in self.diagnostics))

    def __reduce__(self):  # pickled whole (a farm task's error reaches the command as itself)
        return type(self), (self.diagnostics,)


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate a misspelt `word` most likely meant, or None when nothing is close."""
    pool = sorted(set(candidates))
    close = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in pool}
        close = [lowered[word.lower()]] if word.lower() in lowered else []
    return close[0] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' Did you mean `x`?' for the closest candidate, or '' when nothing is close."""
    best = closest(word, candidates)
    return f" Did you mean `{best}`?" if best else ""


def replace_with_closest(span: Span, word: str, candidates: Iterable[str]) -> tuple[Fix, ...]:
    """The "did you mean" repair of the word at `span`, as a fix an editor can apply (none when
    nothing is close)."""
    best = closest(word, candidates)
    return (Fix(span, best, f"Change `{word}` to `{best}`"),) if best else ()


def sort_key(d: Diagnostic) -> tuple:
    s = d.span
    return (s.file, s.line, s.column, d.summary) if s else ("", 0, 0, d.summary)


def _display_path(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith(".." + os.sep + "..") else rel


# control characters and line separators other than \n: shown as U+FFFD so that a carriage return
# or an escape sequence in a brief cannot garble the terminal or shift the caret
_UNPRINTABLE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def source_lines(text: str) -> list[str]:
    """A text's lines as the parser counts them: split at \n only (a \r or U+2028 inside a string
    or comment does not start a line), without the \r of a CRLF ending."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _columns(text: str) -> int:
    """Terminal columns a text takes: wide (W/F) characters take two, combining marks none."""
    return sum(0 if unicodedata.combining(ch) else 2 if unicodedata.east_asian_width(ch) in "WF" else 1
               for ch in text)


def render_text(diagnostics: Iterable[Diagnostic], sources: dict[str, str], color: bool = False) -> str:
    """Render diagnostics ruff-style. `sources` maps a file path to its text (for the snippet)."""
    bold, red, yellow, blue, reset = (
        ("\033[1m", "\033[31m", "\033[33m", "\033[34m", "\033[0m") if color else ("",) * 5
    )
    blocks = []
    split: dict[str, list[str]] = {}  # each file's lines, split once however many diagnostics it has
    for d in diagnostics:
        sev_color = red if d.is_error else yellow
        code = f"[{d.code}]" if d.code else ""
        head = f"{sev_color}{d.severity}{code}{reset}: {bold}{d.summary}{reset}"
        if d.span is None:
            blocks.append(f"{head}\n  = help: {d.detail}" if d.detail else head)
            continue
        s = d.span
        lines = [f"{bold}{_display_path(s.file)}:{s.line}:{s.column}{reset}: {head}"]
        text = sources.get(s.file)
        if text is not None:
            if s.file not in split:
                split[s.file] = source_lines(text)
            src_lines = split[s.file]
            line_no = min(s.line, len(src_lines))
            src = src_lines[line_no - 1]
            gutter = len(str(line_no))
            start = max(s.column - 1, 0)
            end = s.end_column - 1 if s.end_line == s.line else len(src)
            width = max(end - start, 1)
            shown = _UNPRINTABLE.sub("\ufffd", src.expandtabs(1))
            if len(shown) > 200:  # keep a huge single-line input readable
                lo = max(start - 60, 0)
                head = "…" if lo else ""
                shown, start = head + shown[lo : lo + 160] + "…", start - lo + len(head)
                width = min(width, 160)
            pad = " " * gutter
            # carets line up under wide characters (CJK, emoji) too: count terminal columns
            lead, marked = _columns(shown[:start]), max(_columns(shown[start:start + width]), 1)
            lines.append(f"{blue}{pad} |{reset}")
            lines.append(f"{blue}{line_no} |{reset} {shown}")
            lines.append(f"{blue}{pad} |{reset} {' ' * lead}{sev_color}{'^' * marked}{reset}")
            if d.detail:
                lines.append(f"{blue}{pad} = {reset}help: {d.detail}")
        elif d.detail:
            lines.append(f"  = help: {d.detail}")
        lines += [f"  = note: {r.message} ({_display_path(r.span.file)}:{r.span.line}:{r.span.column})"
                  for r in d.related]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + ("\n" if blocks else "")


def to_json(diagnostics: Iterable[Diagnostic]) -> list[dict]:
    out = []
    for d in diagnostics:
        s = d.span
        out.append(
            {
                "severity": d.severity,
                "code": d.code,
                "summary": d.summary,
                "detail": d.detail,
                "file": s.file if s else None,
                "line": s.line if s else None,
                "column": s.column if s else None,
                "end_line": s.end_line if s else None,
                "end_column": s.end_column if s else None,
                "related": [{"message": r.message, "file": r.span.file, "line": r.span.line,
                             "column": r.span.column} for r in d.related],
                "fixes": [{"title": f.title, "text": f.text, "file": f.span.file, "line": f.span.line,
                           "column": f.span.column, "end_line": f.span.end_line, "end_column": f.span.end_column}
                          for f in d.fixes],
            }
        )
    return out


def render_json(diagnostics: Iterable[Diagnostic]) -> str:
    return json.dumps({"diagnostics": to_json(diagnostics)}, indent=2, sort_keys=True) + "\n"
