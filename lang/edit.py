"""Small edits of a brief's text that keep everything else as written (comments, layout, blank lines):
what a tool writes back into a file a person owns. The result is re-parsed before it is returned,
and `brief fmt` leaves the line it wrote as it is.
"""

from __future__ import annotations

from . import ast
from .diagnostics import DiagnosticError, error
from .parser import parse


def set_seed(text: str, path: str, brief: str, component: str, seed: int) -> str:
    """`text` with component `component` of brief `brief` given `seed N` (replacing its own seed line,
    or as a new line after its opening brace, indented like its other settings)."""
    module = parse(text, path)
    found = next((b for b in module.briefs if b.name.value == brief), None)
    comp = next((c for c in found.components if c.name.value == component), None) if found else None
    if comp is None:
        raise DiagnosticError([error("E310", f"no component `{component}` in brief `{brief}`",
                                     "Name a component of the brief.", None)])
    old = comp.first(ast.Seed)
    if old is not None:
        s = old.value.span
        new = text[:s.start] + str(seed) + text[s.end:]
    else:
        in_comment = [(c.span.start, c.span.end) for c in module.comments]
        brace = text.index("{", comp.name.span.end)
        while any(a <= brace < b for a, b in in_comment):  # a `{` inside a comment is not the block's
            brace = text.index("{", brace + 1)
        eol = text.find("\n", brace)
        newline = "\r\n" if text[eol - 1:eol] == "\r" else "\n"
        first = comp.items[0].span if comp.items else None
        if first is not None and first.line > comp.span.line:  # a block over several lines: a line of its own
            indent = text[text.rfind("\n", 0, first.start) + 1:first.start]
            new = text[:eol + 1] + f"{indent}seed {seed}{newline}" + text[eol + 1:]
        else:  # written on one line: `component c { prompt "x" }`
            new = text[:brace + 1] + f" seed {seed}" + text[brace + 1:]
    parse(new, path)  # still a brief
    return new
