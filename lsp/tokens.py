"""Semantic tokens: highlighting from the parser and the symbol index, so a brief is coloured
right in any LSP client, with or without a TextMate grammar.

Keywords are what the parser read as keywords (so `color` is a keyword and a component named
`tone` a name, whatever the line looks like); a name is coloured by what it stands for (a
component, brand, colour, font, axis or field, from the index; a setting's word such as
`top-right` or `crop`); hex colours are not comments; a string's `{axis.field}` placeholders are
coloured inside it.
"""

from __future__ import annotations

from brief.lang.interactive import keyword_of, tokens
from brief.lang.scope import placeholders

from .analysis import Analysis
from .positions import Lines

TOKEN_TYPES = ["keyword", "comment", "string", "number", "namespace", "class", "function", "type",
               "variable", "property", "parameter", "enumMember", "operator"]
TOKEN_MODIFIERS = ["declaration", "readonly"]
_KIND = {"component": "class", "brand": "namespace", "colour": "variable", "font": "variable",
         "axis": "parameter", "field": "property", "file": "string"}
_VALUE_AFTER = {"context", "fit", "align", "anchor", "format", "backend", "resolution", "scheduler"}
_DEFINES = {"brief": "type", "edit": "function", "output": "type", "brand": "namespace",
            "component": "class", "matrix": "parameter"}


def semantic_tokens(analysis: Analysis | None, text: str) -> list[int]:
    lines = Lines(text)
    toks, comments = tokens(text)
    spans: list[tuple[int, int, str, int]] = []  # start, end, type, modifiers
    index = analysis.index if analysis is not None and analysis.text == text else None
    path = analysis.path if analysis is not None else ""
    prev = ""
    for i, tok in enumerate(toks):
        start, end = tok.start_pos, tok.start_pos + len(tok.value)
        value = str(tok)
        word = keyword_of(tok.type)
        if word is not None:
            if word.isalpha():
                spans.append((start, end, "keyword", 0))
        elif tok.type == "STRING":
            cursor = start
            for name, offset, size in placeholders(value[1:-1]):
                if name is None or "\\" in value[: offset + 1]:
                    continue
                p0 = start + 1 + offset
                spans.append((cursor, p0, "string", 0))
                spans.append((p0, p0 + size, "parameter", 0))
                cursor = p0 + size
            spans.append((cursor, end, "string", 0))
        elif tok.type == "NUMBER" or tok.type == "HEX_COLOR":
            spans.append((start, end, "number", 0))
        elif tok.type == "NAME":
            occ = index.at(path, start) if index is not None else None
            if occ is not None and occ.span.start == start:
                spans.append((start, end, _KIND.get(occ.kind, "variable"), 1 if occ.definition else 0))
            elif prev in _DEFINES:
                spans.append((start, end, _DEFINES[prev], 1))
            elif prev in _VALUE_AFTER or (i >= 5 and str(toks[i - 5]) == "output"):
                spans.append((start, end, "enumMember", 0))
            else:
                spans.append((start, end, "variable", 0))
        prev = value
    spans += [(a, b, "comment", 0) for a, b in comments]
    spans.sort()
    data: list[int] = []
    last_line = last_char = 0
    for start, end, kind, mods in spans:
        if end <= start:
            continue
        p0, p1 = lines.position(start), lines.position(end)
        if p1.line != p0.line:
            continue  # tokens never span lines in this language; be safe
        delta_line = p0.line - last_line
        delta_char = p0.character - (last_char if delta_line == 0 else 0)
        data += [delta_line, delta_char, p1.character - p0.character, TOKEN_TYPES.index(kind), mods]
        last_line, last_char = p0.line, p0.character
    return data
