"""The parser, asked as an editor asks it: what may come at a point of a half-written text, and the
tokens of a text that may not parse.

Owns driving Lark's interactive LALR parser (`Lark.parse_interactive`) over a prefix of the text:
the terminals its parse table accepts there (`accepts()`, so completion follows the grammar, never a
fixed list), with the tokens already read on the way (the value stack: what the cursor is inside,
and the words before it), and the token stream the contextual lexer produces (comments found in the
gaps between tokens, since the grammar ignores them). A prefix that does not parse is recovered
from: its block structure is rebuilt from the braces (`brief x {`, `component y {`, …) and only
the current line is parsed inside it. Used by the language server; pure, like the rest of `lang/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from lark import Token
from lark.exceptions import UnexpectedInput

from .parser import lark_parser

_WORD_BEFORE = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*$")
_BLOCK_OPENERS = {
    # the words that open a block → a stand-in header that opens the same block
    "brief": "brief _ {", "brand": "brand _ {", "component": "component _ {", "edit": "edit _ {",
    "matrix": "matrix _ {", "output": "output _ 1 x 1 crop {",
}


_PARENTS = {  # the blocks each block may stand in ("" : the top of a file)
    "brief": ("",), "brand": ("",), "component": ("brief",), "edit": ("brief",), "matrix": ("brief",),
    "output": ("brief",), "fields": ("matrix",),
}


@dataclass(frozen=True)
class Accepted:
    """What the grammar accepts at a point: keywords (as written), whether a NAME, a STRING, a
    NUMBER or a HEX_COLOR may come, the tokens read before the point on the parser's stack (the
    last ones are the words just before the cursor), and the partial word under the cursor."""

    keywords: tuple[str, ...]
    terminals: frozenset[str]
    before: tuple[Token, ...]
    partial: str
    recovered: bool  # the prefix did not parse; the answer is for the current line in its block


def keyword_of(terminal: str) -> str | None:
    """The literal text of a keyword or punctuation terminal (`COMPONENT` → `component`)."""
    pattern = _terminals().get(terminal)
    return pattern.value if pattern is not None and pattern.type == "str" else None


@lru_cache(maxsize=1)
def _terminals() -> dict:
    return {t.name: t.pattern for t in lark_parser().terminals}


def _stack_tokens(ip) -> tuple[Token, ...]:
    """The tokens on the parser's value stack, flattened in source order (trees hold theirs)."""
    out: list[Token] = []

    def walk(item) -> None:
        if isinstance(item, Token):
            out.append(item)
        elif hasattr(item, "children"):
            for child in item.children:
                walk(child)

    for item in ip.parser_state.value_stack:
        walk(item)
    return tuple(out)


def _drive(text: str):
    ip = lark_parser().parse_interactive(text)
    ip.exhaust_lexer()
    return ip


def _colour_expected(before: str) -> bool:
    """Whether a hex colour may start where `before` ends: the parser's own rule (the contextual
    lexer reads `#abc` as a colour only where the grammar accepts one, else as a comment)."""
    try:
        return "HEX_COLOR" in _drive(before).accepts()
    except UnexpectedInput:  # the text before does not parse: judge by the word before the `#`
        words = before.split()
        return bool(words) and (words[-1] == "to" or "color" in words[-2:])


def _in_string_or_comment(prefix: str, line_start: int) -> bool:
    """Whether the end of `prefix` is inside a string or a comment of its last line."""
    line = prefix[line_start:]
    in_string = False
    i = 0
    while i < len(line):
        ch = line[i]
        if in_string:
            if ch == "\\":
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch == "#":
            colour = re.match(r"#[0-9A-Za-z]+", line[i:])
            if colour is None or not _colour_expected(prefix[: line_start + i]):
                return True  # a comment runs to the end of the line
            i += len(colour.group(0)) - 1
        i += 1
    return in_string


def _blocks(prefix: str) -> list[str]:
    """The blocks open at the end of `prefix`, outermost first, by the word that opened each
    (strings and comments skipped); a matrix value's `{ fields }` is "fields"."""
    stack: list[str] = [""]
    words: list[str] = []
    for m in re.finditer(r'"(?:[^"\\\n]|\\.)*"?|#[^\n]*|[{}]|[A-Za-z_][A-Za-z0-9_\-]*|\S', prefix):
        tok = m.group(0)
        if tok.startswith("#") and not re.match(r"#[0-9A-Za-z]+$", tok):
            continue
        if tok == "{":
            # a block's header: `KEYWORD NAME {`, or `output NAME W x H MODE {`; a matrix value's
            # `NAME "text" {` opens its fields
            if len(words) >= 2 and words[-2] in _BLOCK_OPENERS and words[-2] != "output":
                opener = words[-2]
            elif len(words) >= 6 and words[-6] == "output":
                opener = "output"
            else:
                opener = "fields" if stack[-1] == "matrix" else "?"
            # a block left open above (its `}` not written yet) closes where a block that cannot
            # nest in it starts: `component a {` … `component b {` are two components of a brief
            while stack and stack[-1] not in _PARENTS.get(opener, ()):
                stack.pop()
            stack.append(opener)
            words = []
        elif tok == "}":
            if len(stack) > 1:
                stack.pop()
            words = []
        else:
            words.append(tok)
    return stack[1:]


def open_blocks(text: str) -> list[str]:
    """The blocks left open at the end of `text`, outermost first (`["brief", "component"]`)."""
    return _blocks(text)


def _stand_in(blocks: list[str]) -> str | None:
    parts = []
    for b in blocks:
        if b == "fields":
            parts.append('_ "" {')
        elif b in _BLOCK_OPENERS:
            parts.append(_BLOCK_OPENERS[b])
        else:
            return None
    return " ".join(parts) + " "


def accepted_at(text: str, offset: int) -> Accepted | None:
    """What the grammar accepts at `offset` of `text` (None inside a string or a comment)."""
    prefix = text[:offset]
    line_start = prefix.rfind("\n") + 1
    if _in_string_or_comment(prefix, line_start):
        return None
    m = _WORD_BEFORE.search(prefix)
    partial = m.group(0) if m else ""
    head = prefix[: len(prefix) - len(partial)]
    recovered = False
    try:
        ip = _drive(head)
    except UnexpectedInput:
        recovered = True
        stand_in = _stand_in(_blocks(head[:line_start]))
        if stand_in is None:
            return None
        current = head[line_start:]
        # the current line, after the last brace on it, inside the rebuilt blocks
        cut = max(current.rfind("{"), current.rfind("}"))
        if cut >= 0:
            stand_in = _stand_in(_blocks(head)) or stand_in
            current = current[cut + 1:]
        try:
            ip = _drive(stand_in + current)
        except UnexpectedInput:
            try:
                ip = _drive(stand_in)
            except UnexpectedInput:
                return None
    terminals = frozenset(ip.accepts())
    keywords = tuple(sorted(w for t in terminals if (w := keyword_of(t)) and w.isalpha()))
    return Accepted(keywords, terminals, _stack_tokens(ip), partial, recovered)


def tokens(text: str) -> tuple[list[Token], list[tuple[int, int]]]:
    """The tokens of `text` as the parser reads them, and the comments as (start, end) offsets.
    Where the text stops parsing, the rest is lexed on its own (without the parser's context)."""
    parser = lark_parser()
    out: list[Token] = []
    ip = parser.parse_interactive(text)
    stopped = None
    try:
        for tok in ip.iter_parse():
            if tok.type != "$END":
                out.append(tok)
    except UnexpectedInput as exc:
        stopped = getattr(exc, "pos_in_stream", None)
        if stopped is None and out:
            stopped = out[-1].end_pos
    if stopped is not None:
        out = [t for t in out if t.start_pos < stopped]  # the token the parser refused is lexed again
    while stopped is not None and stopped < len(text):
        at, stopped = stopped, None
        try:
            for tok in parser.lex(text[at:]):
                out.append(Token(tok.type, tok.value, (tok.start_pos or 0) + at))
        except UnexpectedInput as exc:  # a character no token starts with: skip it (a whole line when
            bad = at + (getattr(exc, "pos_in_stream", None) or 0)  # it opens a string never closed)
            end_of_line = text.find("\n", bad)
            stopped = (end_of_line if text[bad] == '"' and end_of_line >= 0 else bad + 1)
    comments: list[tuple[int, int]] = []
    last = 0
    for tok in out + [Token("$END", "", len(text))]:
        gap = text[last: tok.start_pos]
        for c in re.finditer(r"#[^\n]*", gap):
            comments.append((last + c.start(), last + c.end()))
        last = max(last, (tok.start_pos or 0) + len(tok.value))
    return out, comments
