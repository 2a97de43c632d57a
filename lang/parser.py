"""Parsing: source text → `ast.Module`, or a `DiagnosticError` with the syntax error.

Owns the Lark parser for `grammar.lark` (LALR, positions propagated; loaded from the per-user cache
of `lang/parser_cache.py`, and checked `strict` by the tests), the one
Transformer that turns the parse tree into AST nodes (and does nothing more), the comment
collection the formatter needs, the input-size limit, what a number token may hold (below
`MAX_NUMBER`, so that every stage after this one sees finite, exact values: no `inf`, no overflow),
and the translation of Lark's parse errors into diagnostics (`lang/syntax_errors.py` words them).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import threading
from functools import lru_cache
from pathlib import Path

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput, VisitError

from . import ast
from .diagnostics import Diagnostic, DiagnosticError, error
from .parser_cache import load_or_build
from .paths import user_cache_dir
from .syntax_errors import describe_syntax_error

MAX_SOURCE_BYTES = 4 * 1024 * 1024  # a brief with thousands of components is ~1 MB
MAX_NUMBER = 10**15  # below it, every number is exact as a float and fits a 64-bit integer
_comments = threading.local()


@contextlib.contextmanager
def paused_gc():
    """Pause the cyclic garbage collector while building large acyclic structures (parse trees,
    ASTs, graphs): its full collections would otherwise make a 1000-component compile superlinear."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _collect_comment(token: Token) -> Token:
    collected = getattr(_comments, "items", None)  # None outside `parse` (an interactive parse)
    if collected is not None:
        collected.append(token)
    return token


class _NamesEverywhere:
    """A no-op post-lexer whose `always_accept` makes the contextual lexer try NAME in every state,
    so `seed42` or `canvass` lex as one (wrong) word, never as the keyword `seed` + `42`."""

    always_accept = ("NAME",)

    def process(self, stream):
        return stream


# How the parser is built: plain data, part of the parser cache's key. `strict=True` (Lark's
# collision checks) is added by tests/test_parser.py, which builds the parser the slow way.
PARSER_OPTIONS = {"parser": "lalr", "propagate_positions": True, "maybe_placeholders": True}


def grammar_text() -> str:
    """grammar.lark, shipped at the package's top (the repository root, or site-packages/brief/)."""
    beside = Path(__file__).resolve().parent.parent / "grammar.lark"
    if beside.is_file():
        return beside.read_text(encoding="utf-8")
    from importlib import resources  # an unusual install (a zip): ask the import system

    return resources.files("brief").joinpath("grammar.lark").read_text(encoding="utf-8")


def runtime_options() -> dict:
    """The options that are code, given to the parser whether it is built or loaded."""
    return {"lexer_callbacks": {"COMMENT": _collect_comment}, "postlex": _NamesEverywhere()}


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    """The parser, from the per-user cache when it holds this grammar's (`lang/parser_cache.py`)."""
    return load_or_build(grammar_text(), PARSER_OPTIONS, runtime_options(), user_cache_dir())


def _span(path: str, m) -> ast.Span:
    return ast.Span(path, m.line, m.column, m.end_line, m.end_column, m.start_pos, m.end_pos)


def _unescape(text: str) -> str:
    out, i, body = [], 0, text[1:-1]
    simple = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            nxt = body[i + 1]
            out.append(simple.get(nxt, "\\" + nxt))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def number_value(text: str, span: ast.Span) -> tuple[ast.Num, Diagnostic | None]:
    """A NUMBER token's value and unit, and a diagnostic when no float holds it faithfully: at or
    beyond `MAX_NUMBER` (a 400-digit number is `inf`), or nonzero digits that round to 0."""
    digits = text.rstrip("%pxkKmMgGiBb")
    unit = text[len(digits):]  # "", "%", "px", or a byte unit (500KB, 2MiB) the checker reads

    value = float(digits)
    problem = None
    shown = text if len(text) <= 24 else f"{text[:10]}…{text[-6:]}"
    if abs(value) >= MAX_NUMBER:
        problem = error("E109", f"the number `{shown}` is too large",
                        "Numbers in a brief are below 10^15; no setting takes one this large.", span)
    elif value == 0 and digits.strip("+-.0"):
        problem = error("E109", f"the number `{shown}` is too small: it would round to 0",
                        "Write 0 if you mean zero; no setting takes a value this small.", span)
    return ast.Num(span, 0.0 if problem else value, unit, text), problem


class _ToAst(Transformer):
    """Parse tree → AST. One `rule_*` method per grammar rule, called with the rule's meta and its
    children; tokens become value nodes. (Dispatch goes through `__default__` and a table built
    once: Lark's per-call `v_args` wrappers cost more than the rest of the transform.)"""

    def __init__(self, path: str):
        super().__init__()
        self.path = path
        self.problems: list[Diagnostic] = []  # numbers no float holds, raised together by `parse`

    def __default__(self, data, children, meta):
        return _RULES[data](self, meta, *children)

    def _s(self, meta) -> ast.Span:
        return _span(self.path, meta)

    # tokens
    def NAME(self, tok):
        return ast.Name(_span(self.path, tok), str(tok))

    def STRING(self, tok):
        return ast.Str(_span(self.path, tok), _unescape(str(tok)), str(tok))

    def HEX_COLOR(self, tok):
        return ast.HexColor(_span(self.path, tok), str(tok))

    def NUMBER(self, tok):
        num, problem = number_value(str(tok), _span(self.path, tok))
        if problem:
            self.problems.append(problem)
        return num

    # structure
    def rule_start(self, m, *items):
        return list(items)

    def rule_use(self, m, path):
        return ast.Use(self._s(m), path)

    def rule_brand(self, m, name, *items):
        return ast.Brand(self._s(m), name, items)

    def rule_brief(self, m, name, *items):
        return ast.Brief(self._s(m), name, items)

    def rule_component(self, m, name, *items):
        return ast.Component(self._s(m), name, items)

    def rule_edit(self, m, name, *items):
        return ast.Edit(self._s(m), name, items)

    def rule_matrix(self, m, name, *items):
        return ast.Matrix(self._s(m), name, items)

    def rule_matrix_value(self, m, name, text, fields):
        if fields is None:
            return ast.MatrixValue(self._s(m), name, text)
        return ast.MatrixValue(self._s(m), name, text, fields[1], fields[0])

    def rule_matrix_fields(self, m, *fields):
        return self._s(m), tuple(fields)

    def rule_matrix_field(self, m, name, value):
        return ast.MatrixField(self._s(m), name, value)

    def rule_size(self, m, w, h):
        return ast.Size(self._s(m), w, h)

    # brand settings
    def rule_brand_color(self, m, name, color):
        return ast.BrandColor(self._s(m), name, color)

    def rule_brand_font(self, m, name, path):
        return ast.BrandFont(self._s(m), name, path)

    def rule_logo(self, m, path):
        return ast.Logo(self._s(m), path)

    def rule_clearspace(self, m, value):
        return ast.Clearspace(self._s(m), value)

    def rule_safezone(self, m, value):
        return ast.Safezone(self._s(m), value)

    # brief settings
    def rule_canvas(self, m, size):
        return ast.Canvas(self._s(m), size)

    def rule_seed(self, m, value):
        return ast.Seed(self._s(m), value)

    def rule_steps(self, m, value):
        return ast.Steps(self._s(m), value)

    def rule_backend(self, m, name, model, revision, endpoint, retires):
        return ast.Backend(self._s(m), name, model, revision, endpoint, retires)

    def rule_brand_ref(self, m, name):
        return ast.BrandRef(self._s(m), name)

    def rule_output(self, m, name, width, height, mode, block):
        s = width.span
        size = ast.Size(ast.Span(s.file, s.line, s.column, height.span.end_line, height.span.end_column,
                                 s.start, height.span.end), width, height)
        if block is None:
            return ast.Output(self._s(m), name, size, mode)
        return ast.Output(self._s(m), name, size, mode, block[1], block[0])

    def rule_output_block(self, m, *items):
        return self._s(m), tuple(items)

    def rule_place(self, m, component, region):
        return ast.Place(self._s(m), component, region)

    def rule_output_safezone(self, m, *values):
        return ast.OutputSafezone(self._s(m), tuple(values))

    def rule_format(self, m, kind, *options):
        said = {}
        for word, num in options:
            if word in said:  # the one place a line holds a setting twice: said like E302 is elsewhere
                self.problems.append(error("E302", f"`{word}` is given twice in `format`",
                                           f"Keep one; the first is `{word} {said[word].text}`.", num.span))
            said.setdefault(word, num)
        return ast.Format(self._s(m), kind, said.get("quality"), said.get("max"))

    def rule_quality_option(self, m, num):
        return "quality", num

    def rule_max_option(self, m, num):
        return "max", num

    def rule_file(self, m, template):
        return ast.File(self._s(m), template)

    # component settings
    def rule_prompt(self, m, text):
        return ast.Prompt(self._s(m), text)

    def rule_negative(self, m, text):
        return ast.Negative(self._s(m), text)

    def rule_asset(self, m, path):
        return ast.Asset(self._s(m), path)

    def rule_region(self, m, spec):
        return ast.Region(self._s(m), spec)

    def rule_z(self, m, value):
        return ast.Z(self._s(m), value)

    def rule_strength(self, m, value):
        return ast.Strength(self._s(m), value)

    def rule_context(self, m, value):
        return ast.Context(self._s(m), value)

    def rule_resolution(self, m, value):
        return ast.Resolution(self._s(m), value)

    def rule_guidance(self, m, value):
        return ast.Guidance(self._s(m), value)

    def rule_scheduler(self, m, value):
        return ast.Scheduler(self._s(m), value)

    def rule_lora(self, m, path, weight):
        return ast.Lora(self._s(m), path, weight)

    def rule_refine(self, m, text, strength):
        return ast.Refine(self._s(m), text, strength)

    def rule_control(self, m, kind, source, weight):
        return ast.Control(self._s(m), kind, source, weight)

    def rule_controlnet(self, m, kind, path):
        return ast.ControlNet(self._s(m), kind, path)

    def rule_fit(self, m, value):
        return ast.Fit(self._s(m), value)

    def rule_opacity(self, m, value):
        return ast.Opacity(self._s(m), value)

    def rule_feather(self, m, value):
        return ast.Feather(self._s(m), value)

    def rule_sku_color(self, m, color, within):
        return ast.SkuColor(self._s(m), color, within)

    def rule_field_ref(self, m, axis, field):
        return ast.FieldRef(self._s(m), axis, field)

    # text layers
    def rule_text(self, m, text):
        return ast.Text(self._s(m), text)

    def rule_font_ref(self, m, name):
        return ast.FontRef(self._s(m), name)

    def rule_text_size(self, m, *numbers):
        if len(numbers) == 1:
            return ast.TextSize(self._s(m), numbers[0], None, None)
        return ast.TextSize(self._s(m), None, numbers[0], numbers[1])

    def rule_text_color(self, m, color):
        return ast.TextColor(self._s(m), color)

    def rule_align(self, m, value):
        return ast.Align(self._s(m), value)

    # regions
    def rule_full(self, m):
        return ast.Full(self._s(m))

    def rule_box(self, m, x0, y0, x1, y1):
        return ast.Box(self._s(m), x0, y0, x1, y1)

    def rule_anchor(self, m, position, size, margin):
        return ast.Anchor(self._s(m), position, size, margin)

    def rule_mask(self, m, path):
        return ast.Mask(self._s(m), path)

    def rule_around(self, m, component, band):
        return ast.Around(self._s(m), component, band)

    # edits
    def rule_inpaint(self, m, region):
        return ast.Inpaint(self._s(m), region)

    def rule_remove(self, m, region):
        return ast.Remove(self._s(m), region)

    def rule_recolor(self, m, component, target):
        return ast.Recolor(self._s(m), component, target)

    def rule_harmonize(self, m, component, band):
        return ast.Harmonize(self._s(m), component, band)

    # checks
    def rule_check(self, m, rule):
        return dataclasses.replace(rule, span=self._s(m))  # the span starts at `check`

    def rule_check_palette(self, m, within, coverage):
        return ast.CheckPalette(self._s(m), within, coverage)

    def rule_check_color(self, m, component):
        return ast.CheckColor(self._s(m), component)

    def rule_check_clearspace(self, m, component, factor):
        return ast.CheckClearspace(self._s(m), component, factor)

    def rule_check_safezone(self, m, margin):
        return ast.CheckSafezone(self._s(m), margin)

    def rule_check_minsize(self, m, component, size):
        return ast.CheckMinsize(self._s(m), component, size)

    def rule_check_contrast(self, m, component, ratio):
        return ast.CheckContrast(self._s(m), component, ratio)

    def rule_check_visible(self, m, component):
        return ast.CheckVisible(self._s(m), component)


_RULES = {name[5:]: fn for name, fn in vars(_ToAst).items() if name.startswith("rule_")}


def _file_span(path: str, text: str) -> ast.Span:
    lines = text.count("\n")
    return ast.Span(path, 1, 1, lines + 1, len(text) - text.rfind("\n"), 0, len(text))


def parse(text: str, path: str = "<input>") -> ast.Module:
    """Parse one file's text. Raises `DiagnosticError` (one diagnostic) on a syntax error."""
    size = len(text.encode("utf-8", "surrogatepass")) if len(text) * 4 > MAX_SOURCE_BYTES else len(text)
    if size > MAX_SOURCE_BYTES:
        span = ast.Span(path, 1, 1, 1, 2, 0, 1)
        raise DiagnosticError([error(
            "E001", f"file is too large ({size / 2**20:.1f} MiB; the limit is {MAX_SOURCE_BYTES // 2**20} MiB)",
            "Split it into several briefs that `use` a shared brand file.", span)])
    if "\x00" in text:
        offset = text.index("\x00")
        line = text.count("\n", 0, offset) + 1
        col = offset - text.rfind("\n", 0, offset)
        raise DiagnosticError([error(
            "E002", "file contains a NUL byte; it does not look like a text brief",
            "Check that this is the right file; briefs are UTF-8 text.",
            ast.Span(path, line, col, line, col + 1, offset, offset + 1))])
    parser = lark_parser()
    _comments.items = []
    try:
        with paused_gc():
            tree = parser.parse(text)
            to_ast = _ToAst(path)
            items = to_ast.transform(tree)
    except UnexpectedInput as exc:
        raise DiagnosticError([describe_syntax_error(exc, text, path, parser)]) from None
    except VisitError as exc:  # a bug in the transformer, not in the input
        raise exc.orig_exc from None
    finally:
        comment_tokens, _comments.items = _comments.items, None
    if to_ast.problems:
        raise DiagnosticError(to_ast.problems)
    comments = tuple(ast.Comment(_span(path, t), str(t)) for t in comment_tokens)
    return ast.Module(_file_span(path, text), path, tuple(items), comments)
