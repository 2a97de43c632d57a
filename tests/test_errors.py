"""Chunked error files: tests/errors/*.brief hold many small briefs, each after a `##### title`
line; every line that must get a diagnostic carries `# error[CODE]: text` (or `# warning[…]`; `# 2 error[…]`
for two alike), where text is part of the summary. A chunk must produce exactly the marked diagnostics.

Each chunk is written as `loop.brief` inside a throwaway project (brief.toml, assets/, brands/).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from brief.lang.check import diagnose
from brief.lang.diagnostics import DiagnosticError
from brief.lang.load import load

ERRORS = Path(__file__).resolve().parent / "errors"
MARK = re.compile(r"#\s*(?:(\d+)\s+)?(error|warning)\[(\w+)\]:\s*(.+?)\s*$")


def chunks():
    for path in sorted(ERRORS.glob("*.brief")):
        title, lines = None, []
        for line in path.read_text().splitlines() + ["##### end"]:
            if line.startswith("#####"):
                if title is not None:
                    yield pytest.param("\n".join(lines) + "\n", id=f"{path.stem}: {title}")
                title, lines = line[5:].strip(), []
            else:
                lines.append(line)


def expected(text: str) -> list[tuple[int, str, str, str]]:
    found = []
    for no, line in enumerate(text.splitlines(), 1):
        m = MARK.search(line)
        if m:
            found += [(no, m.group(2), m.group(3), m.group(4))] * int(m.group(1) or 1)
    return found


@pytest.mark.parametrize("text", list(chunks()))
def test_chunk(project, text):
    path = project.write("loop.brief", text)
    try:
        got = diagnose(load(path))
    except DiagnosticError as exc:
        got = exc.diagnostics
    want = expected(text)
    assert want, "a chunk must mark at least one expected diagnostic"
    actual = [(d.span.line if d.span else 0, d.severity, d.code, d.summary) for d in got]
    assert len(actual) == len(want), f"expected {want}, got {actual}"
    for (line, sev, code, part), (aline, asev, acode, summary) in zip(want, sorted(actual)):
        assert (aline, asev, acode) == (line, sev, code), f"expected {want}, got {actual}"
        assert part in summary, f"{part!r} not in {summary!r}"
