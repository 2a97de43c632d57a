"""Wording of syntax errors: a Lark `UnexpectedInput` → one `Diagnostic` that says how to fix it.

The common mistakes are named by example through Lark's `match_examples` (`EXAMPLES` below);
everything else gets a generic message built from what the parser expected at that point, with
"did you mean" against the keywords that are valid there, and the block left open at the end of
the file when the file ends too early.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from lark import Lark, Token
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from .ast import Span
from .diagnostics import Diagnostic, did_you_mean, error, replace_with_closest

# label → malformed inputs that fail in the same parser state; the label is (summary, detail).
EXAMPLES: dict[tuple[str, str], list[str]] = {
    ("text must be in double quotes", 'Write it as "…", for example prompt "a red kite".'): [
        "brief a { component c { prompt kite } }",
        "brief a { component c { negative blur } }",
        "brief a { component c { asset logo } }",
        "use brands",
        "brief a { backend diffusers model }",
        "brief a { component c { region mask m } }",
        "brand b { logo x }",
    ],
    ("a hex colour is expected here", "Write a colour as # and six hex digits, for example #C8102E."): [
        "brand b { color red red }",
        "brand b { color red 123456 }",
    ],
    ("a size is written `W x H`", "Put an x between width and height, for example 1024 x 768."): [
        "brief a { canvas 1024 768 }",
        "brief a { output s 1080 1080 crop }",
        "brief a { component c { region anchor center 10% 10% } }",
    ],
    ("`box` takes four coordinates: x0 y0 x1 y1", "Give each as N% or Npx, for example box 10% 10% 50% 40%."): [
        "brief a { component c { region box 1% } }",
        "brief a { component c { region box 1% 2% } }",
        "brief a { component c { region box 1% 2% 3% } }",
    ],
    ("a matrix value needs its text", 'Write each value as a name and a quoted text: summer "sunlit summer park".'): [
        "brief a { matrix m { summer } }",
        "brief a { matrix m { summer autumn } }",
    ],
    ("`color` in a component needs `within ΔE`",
     "Write the SKU colour as color NAME within N, for example color red within 2."): [
        "brief a { component c { color red } }",
        "brief a { component c { color red 2 } }",
    ],
    ("an output needs a name, a size and a mode",
     "For example: output story 1080 x 1920 outpaint (mode: outpaint, crop or fit)."): [
        "brief a { output 1080 x 1080 crop }",
        "brief a { output s 1080 x 1080 }",
    ],
}

TOKEN_WORDS = {
    "NAME": "a name",
    "NUMBER": "a number (42, 60% or 24px)",
    "STRING": 'a quoted string ("…")',
    "HEX_COLOR": "a hex colour (#C8102E)",
    "$END": "the end of the file",
}

# A context is recognised by a keyword only it accepts.
CONTEXTS = (
    ("BRIEF", "at the top level of a file", "the top level (use, brand, brief)"),
    ("CANVAS", "in a brief", "a brief"),
    ("ASSET", "in a component", "a component"),
    ("INPAINT", "in an edit", "an edit"),
    ("LOGO", "in a brand", "a brand"),
    ("FULL", "as a region", "a region"),
    ("PALETTE", "as a check rule", "a check"),
)


def _parse_table(parser: Lark):
    return parser.parser.parser.parser.parse_table


def _keyword_of(parser: Lark, terminal: str) -> str | None:
    try:
        pattern = parser.get_terminal(terminal).pattern
    except KeyError:
        return None
    return pattern.value if pattern.type == "str" else None


def _context(expected: set[str]) -> tuple[str, str] | None:
    for marker, where, home in CONTEXTS:
        if marker in expected:
            return where, home
    return None


@lru_cache(maxsize=1)
def _keyword_homes(parser: Lark) -> dict[str, list[str]]:
    """keyword → the contexts that accept it, read off the LALR table (for "belongs in …")."""
    homes: dict[str, list[str]] = {}
    for actions in _parse_table(parser).states.values():
        ctx = _context(set(actions))
        if ctx is None:
            continue
        for terminal in actions:
            word = _keyword_of(parser, terminal)
            if word and ctx[1] not in homes.setdefault(word, []):
                homes[word] = homes[word] + [ctx[1]]
    return homes


def _describe(parser: Lark, terminal: str) -> str:
    word = _keyword_of(parser, terminal)
    return f"`{word}`" if word else TOKEN_WORDS.get(terminal, terminal)


def _expected_words(parser: Lark, expected: set[str]) -> str:
    words = sorted({_describe(parser, t) for t in expected})
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _span_at(path: str, text: str, pos: int | None, length: int = 1) -> Span:
    """A span of `length` characters at `pos` (clamped into the text; None, which Lark's types
    allow for a position, means the end)."""
    pos = len(text) if pos is None else max(0, min(pos, len(text)))
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return Span(path, line, col, line, col + max(length, 1), pos, pos + max(length, 1))


def _token_span(path: str, text: str, tok: Token) -> Span:
    if tok.type == "$END":  # Lark borrows the last token's position: point just after it
        end = getattr(tok, "end_pos", None)
        return _span_at(path, text, end if end is not None else len(text.rstrip()), 1)
    return _span_at(path, text, tok.start_pos, len(str(tok)))


def _open_block(exc: UnexpectedToken) -> str:
    """At an early end of file: 'brief `runner` (line 3)' for the innermost unclosed block."""
    stack = getattr(getattr(exc, "interactive_parser", None), "parser_state", None)
    values = getattr(stack, "value_stack", []) or []
    for i in range(len(values) - 1, 1, -1):
        v = values[i]
        if isinstance(v, Token) and v.type == "LBRACE":
            name, kw = values[i - 1], values[i - 2]
            if isinstance(name, Token) and isinstance(kw, Token):
                return f"{kw} `{name}` (opened on line {kw.line})"
    return ""


def _acceptable(exc: UnexpectedToken, parser: Lark) -> set[str]:
    """What the parser could take here (Lark's `expected` also lists the lexer's always-on NAME)."""
    state: Any = getattr(exc, "state", None)
    try:
        return {t for t in _parse_table(parser).states[state.position] if t.isupper()}
    except (AttributeError, KeyError, TypeError):
        return set(exc.expected or ())


@lru_cache(maxsize=1)
def _all_keywords(parser: Lark) -> frozenset[str]:
    return frozenset(t.pattern.value for t in parser.terminals if t.pattern.type == "str" and t.pattern.value.isalpha())


def describe_syntax_error(exc: UnexpectedInput, text: str, path: str, parser: Lark) -> Diagnostic:
    """Turn any Lark parse error into one diagnostic."""
    # as (label, inputs) pairs: a dict whose keys are pairs of strings also reads as such pairs, and the
    # type checker cannot tell which of Lark's two accepted shapes is meant
    label = exc.match_examples(parser.parse, EXAMPLES.items(), use_accepts=True)
    if isinstance(exc, UnexpectedCharacters):
        pos = len(text) if exc.pos_in_stream is None else exc.pos_in_stream
        span = _span_at(path, text, pos, 1)
        char = text[pos] if pos < len(text) else ""
        if char == '"':
            end = text.find("\n", pos)
            end = len(text) if end < 0 else end
            span = _span_at(path, text, pos, end - pos)
            return error("E101", "unterminated string", 'Close the string with " on the same line.', span)
        if char == "'":
            return error("E102", "strings use double quotes", "Replace the single quotes with double quotes.", span)
        if label:
            return error("E100", label[0], label[1], span)
        if char == "{" or char == "}":
            where = _context(set(exc.allowed or ()))
            return error("E103", f"unexpected `{char}`" + (f" {where[0]}" if where else ""),
                         f"Expected {_expected_words(parser, set(exc.allowed or ()))}.", span)
        shown = repr(char)[1:-1] if char else "end of file"
        return error("E103", f"unexpected character `{shown}`",
                     f"Expected {_expected_words(parser, set(exc.allowed or ()))}.", span)

    assert isinstance(exc, UnexpectedToken)
    tok, expected = exc.token, _acceptable(exc, parser)
    span = _token_span(path, text, tok)
    if label:
        return error("E100", label[0], label[1], span)
    where = _context(expected)
    if tok.type == "$END":
        block = _open_block(exc)
        if block:
            return error("E104", f"unexpected end of file: {block} is not closed",
                         "Add the missing `}` at the end of the block.", span)
        return error("E104", "unexpected end of file", f"Expected {_expected_words(parser, expected)}.", span)

    value = str(tok)
    keywords = [w for t in expected if (w := _keyword_of(parser, t)) and w not in "{}"]
    word = _keyword_of(parser, tok.type) or (value if value in _all_keywords(parser) else None)
    if word in ("{", "}"):
        word = None
    if tok.type == "NAME" or word:
        if keywords and not word:
            what = "setting" if where and where[0] not in ("as a region", "as a check rule") else "word"
            if where and where[0] == "at the top level of a file":
                what = "keyword"
            hint = did_you_mean(value, keywords)
            return error("E105", f"unknown {what} `{value}`" + (f" {where[0]}" if where else ""),
                         (hint.strip() + " " if hint else "") + f"Expected {_expected_words(parser, expected)}.", span,
                         fixes=replace_with_closest(span, value, keywords))
        if word:
            homes = [h for h in _keyword_homes(parser).get(word, []) if not where or h != where[1]]
            belongs = f" `{word}` belongs in {' or '.join(homes)}." if homes else ""
            return error("E106", f"`{word}` is not allowed here" + (f" {where[0]}" if where else ""),
                         f"Expected {_expected_words(parser, expected)}.{belongs}", span)
    if tok.type == "RBRACE" and where and where[1].startswith("the top level"):
        return error("E108", "unmatched `}`", "Remove it, or check that every `{` has its own `}`.", span)
    found = f"`{value}`"
    if tok.type == "NUMBER":
        found = f"the number `{value}`"
    elif tok.type == "STRING":
        found = f"the string {value}"
    elif tok.type == "NAME":
        found = f"the name `{value}`"
    setting = _last_keyword(exc, parser)
    if setting is None:
        return error("E107", f"expected {_expected_words(parser, expected)}, found {found}",
                     "Check the line against the language reference in the README.", span)
    if tok.line != setting.line:  # the value is missing at the end of a line: point there
        span = _span_at(path, text, setting.end_pos, 1)
    return error("E107", f"expected {_expected_words(parser, expected)} after `{setting}`, found {found}",
                 f"`{setting}` is incomplete: give {_expected_words(parser, expected)} after it.", span)


def _last_keyword(exc: UnexpectedToken, parser: Lark) -> Token | None:
    """The keyword of the setting being written when the error struck (`seed` in `seed }`)."""
    state = getattr(getattr(exc, "interactive_parser", None), "parser_state", None)
    for v in reversed(getattr(state, "value_stack", None) or []):
        if isinstance(v, Token):
            word = _keyword_of(parser, v.type)
            if word and word not in "{}":
                return v
        else:
            return None
    return None
