"""The formatter: idempotent, meaning-preserving, comment-keeping; over a corpus of files and over
random briefs (hypothesis)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from brief.lang import ast
from brief.lang.check import check_program
from brief.lang.compile import compile_program
from brief.lang.diagnostics import DiagnosticError
from brief.lang.fmt import format_module
from brief.lang.load import load
from brief.lang.parser import MAX_NUMBER, parse
from conftest import EXAMPLES

TESTS = Path(__file__).resolve().parent
CORPUS = sorted(p for p in [*(TESTS / "fmt_corpus").glob("*.brief"), *(TESTS / "golden").glob("*.brief"),
                             *EXAMPLES.rglob("*.brief")] if p.is_file() and ".brief" not in p.parent.parts)


def fmt(text: str) -> str:
    return format_module(parse(text, "x.brief"), text)


def shape(node):
    """An AST without spans or source spellings of numbers: what the text means."""
    if isinstance(node, (list, tuple)):
        return tuple(shape(n) for n in node)
    if isinstance(node, ast.Span):  # where a block's braces were (a matrix value's, an output's)
        return None
    if dataclasses.is_dataclass(node):
        skip = {"span", "comments", "path"}
        if isinstance(node, ast.Num):
            return ("Num", node.value, node.unit)
        if isinstance(node, ast.HexColor):
            return ("Hex", node.text.upper())
        return (type(node).__name__,) + tuple(shape(getattr(node, f.name)) for f in dataclasses.fields(node)
                                              if f.name not in skip)
    return node


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: str(p.relative_to(TESTS.parent)))
def test_corpus_identity(path):
    text = path.read_text()
    once = fmt(text)
    assert fmt(once) == once, "fmt is not idempotent"
    assert shape(parse(once, "x").items) == shape(parse(text, "x").items), "fmt changed the meaning"
    kept = [c.text.rstrip() for c in parse(text, "x").comments]
    assert [c.text for c in parse(once, "x").comments] == kept, "fmt lost or reordered a comment"


def test_golden_briefs_are_already_canonical():
    for path in (TESTS / "golden").glob("*.brief"):
        assert fmt(path.read_text()) == path.read_text(), path.name


def test_messy_file_formats_to_expected_layout():
    got = fmt((TESTS / "fmt_corpus" / "messy.brief").read_text())
    assert got == '''# header comment
use "brands/a.brief"  # trailing use
use "brands/b.brief"

brand x {
  color a        #ABC  # short
  color longname #AABBCC
}

brief r {  # opener
  canvas 10 x 10
  seed 1

  component c {
    prompt "x"
    region box 1% 2% 3% 4%
  }  # one line
  # before edit
  edit e {
    remove full
  }
  # last in brief
}

# end of file
'''


def test_formatting_keeps_node_ids(examples_copy):
    path = examples_copy / "campaign" / "runner.brief"
    before = set(compile_program(_checked(path)).graph.nodes)
    path.write_text(fmt(path.read_text()))
    assert set(compile_program(_checked(path)).graph.nodes) == before


def _checked(path):
    program = load(path)
    check_program(program)
    return program


# ── random briefs ─────────────────────────────────────────────────────────────

SEPARATORS = st.sampled_from([" ", "  ", "\n", "\n\n", "\t", " # note\n", "\n# a comment\n", "\n\n\n"])
NAMES = st.from_regex(r"[a-z][a-z0-9_]{0,6}", fullmatch=True)
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters='"\\\n\r{}',
                                      exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")), min_size=1, max_size=12)
# escapes, quotes, backslashes, literal braces and characters that other tools take for line breaks
TEXT_PIECES = st.sampled_from(['\\"', "\\\\", "\\n", "\\t", "\\q", "{{", "}}", "\r", "\u2028", "\x85", "\x0b",
                               "日本の", "🌸", "'", " # not a comment ", "#C8102E"])
PROMPTS = st.tuples(TEXT, st.lists(TEXT_PIECES, max_size=3)).map(lambda t: '"' + t[0] + "".join(t[1]) + '"')
PCT = st.integers(0, 100)
FRACTIONS = st.integers(1, 10**15 - 1).map(lambda n: "0." + str(n).zfill(20))  # tiny, many digits, in (0, 1)


@st.composite
def spelt(draw, value: int) -> str:
    """A whole number, sometimes with a + sign or leading zeros."""
    return str(value) if value < 0 else draw(st.sampled_from(["", "+", "0", "+00"])) + str(value)


@st.composite
def components(draw, name):
    x0, x1 = sorted(draw(st.lists(PCT, min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(PCT, min_size=2, max_size=2, unique=True)))
    tokens = ["component", name, "{", "prompt", draw(PROMPTS)]
    optional = draw(st.sets(st.sampled_from(["region", "z", "seed", "context", "negative", "strength",
                                             "opacity"])))
    for key in sorted(optional):
        tokens += {
            "region": ["region", "box", f"{x0}%", f"{y0}%", f"{x1}%", f"{y1}%"],
            "z": ["z", draw(spelt(draw(st.integers(-5, 5))))],
            "seed": ["seed", draw(spelt(draw(st.integers(0, 2**32 - 1))))],
            "context": ["context", draw(st.sampled_from(["scene", "none"]))],
            "negative": ["negative", draw(PROMPTS)],
            "strength": ["strength",
                         draw(st.one_of(st.sampled_from(["0.5", "1", "1.0", ".25", "0.00001"]), FRACTIONS))],
            "opacity": ["opacity", draw(st.one_of(st.sampled_from(["80%", "0.5", "1", "0.00001"]),
                                                  FRACTIONS, FRACTIONS.map(lambda f: f + "%")))],
        }[key]
    return tokens + ["}"]


@st.composite
def briefs(draw):
    names = draw(st.lists(NAMES, min_size=1, max_size=4, unique=True))
    tokens = ["brand", "k", "{", "color", "red", "#C8102E", "}",
              "brief", "b", "{", "canvas", "320", "x", "240", "brand", "k"]
    for name in names:
        tokens += draw(components(name))
    if draw(st.booleans()):
        tokens += ["edit", "e_1", "{", "remove", "box", "1%", "1%", "9%", "9%", "}"]
    if draw(st.booleans()):
        tokens += ["check", "palette", "within", "3"]
    tokens.append("}")
    seps = draw(st.lists(SEPARATORS, min_size=len(tokens), max_size=len(tokens)))
    return "".join(t + s for t, s in zip(tokens, seps))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=briefs())
def test_fmt_is_idempotent_and_keeps_meaning(project, text):
    once = fmt(text)
    assert fmt(once) == once
    assert shape(parse(once, "x").items) == shape(parse(text, "x").items)
    before = compile_program(_checked(project.write("main.brief", text)))
    after = compile_program(_checked(project.write("main.brief", once)))
    assert set(before.graph.nodes) == set(after.graph.nodes)


# ── every number and every string, in every position, round-trips (issue 10, point 9) ──

NUMBER_SLOTS = """brand k {{
  color red #C8102E
  clearspace {}
  safezone {}
}}

brief b {{
  canvas {} x {}
  seed {}  # a trailing comment
  steps {}

  component c {{
    prompt "x"
    region box {} {} {} {}
    z {}
    seed {}
    steps {}
    strength {}
    opacity {}
    feather {}
    color red within {}
  }}
  component d {{
    asset "a.png"
    region anchor top-left {} x {} margin {}
  }}
  # a comment of its own
  component e {{
    prompt "y"
    region around c {}
  }}
  edit h {{
    harmonize c band {}
  }}
  edit i {{
    inpaint around d {}
    prompt "z"
  }}
  check palette within {} coverage {}
  check clearspace d {}
  check safezone {}
  check minsize d {} x {}
  output o {} x {} crop
}}
"""
N_NUMBER_SLOTS = NUMBER_SLOTS.count("{}")
DIGITS = st.text(alphabet="0123456789", min_size=1, max_size=30)


@st.composite
def number_texts(draw) -> str:
    """Any NUMBER token: signs, leading and trailing zeros, `.5` and `5.`, many digits, tiny
    (hundreds of zeros after the point) and huge (hundreds of digits), with every unit."""
    whole = draw(st.one_of(st.just(""), DIGITS, st.integers(14, 17).map(lambda n: "9" * n),
                           st.integers(300, 420).map(lambda n: "1" + "0" * n)))
    frac = draw(st.one_of(st.just(""), st.just("."), DIGITS.map(lambda d: "." + d),
                          st.integers(1, 400).map(lambda n: "." + "0" * n + "25")))
    if not whole and frac in ("", "."):
        whole = "0"
    return draw(st.sampled_from(["", "+", "-"])) + whole + frac + draw(st.sampled_from(["", "%", "px"]))


def found(node, kind) -> list:
    """Every node of `kind` in an AST, in source order."""
    if isinstance(node, (list, tuple)):
        return [n for child in node for n in found(child, kind)]
    if isinstance(node, kind):
        return [node]
    if dataclasses.is_dataclass(node):
        return [n for f in dataclasses.fields(node) if f.name != "span" for n in found(getattr(node, f.name), kind)]
    return []


def decimal(text: str) -> Decimal:
    return Decimal(text.removesuffix("%").removesuffix("px"))


def representable(text: str) -> bool:
    """The language's rule for numbers: below 10^15, and not nonzero digits that round to 0."""
    value = decimal(text)
    return abs(float(value)) < MAX_NUMBER and (value == 0 or float(value) != 0)


@settings(max_examples=80, deadline=None)
@given(numbers=st.lists(number_texts(), min_size=N_NUMBER_SLOTS, max_size=N_NUMBER_SLOTS))
@example(numbers=["0.00001"] * N_NUMBER_SLOTS)  # repr() spells it 1e-05, which does not parse
@example(numbers=["0.1000000000000000055511151231257827px"] * N_NUMBER_SLOTS)
def test_numbers_round_trip_in_every_position(numbers):
    text = NUMBER_SLOTS.format(*numbers)
    bad = [n for n in numbers if not representable(n)]
    try:
        module = parse(text, "x.brief")
    except DiagnosticError as exc:  # each number no float holds is named, with its position
        assert bad, f"{text} was refused: {exc}"
        assert [d.code for d in exc.diagnostics] == ["E109"] * len(bad)
        assert [text[d.span.start:d.span.end] for d in exc.diagnostics] == bad
        return
    assert not bad, f"{bad} parsed"
    once = fmt(text)
    assert fmt(once) == once
    again = parse(once, "x.brief")
    assert shape(again.items) == shape(module.items)
    assert [c.text for c in again.comments] == [c.text for c in module.comments]
    written = found(again.items, ast.Num)
    assert [decimal(n.text) for n in written] == [decimal(n) for n in numbers]  # to the last digit
    assert all("e" not in n.text.lower() for n in written)


STRING_PIECES = st.one_of(
    st.text(alphabet=st.characters(codec="utf-8", exclude_characters='"\\\n\x00', exclude_categories=("Cs",)),
            min_size=1, max_size=6),
    TEXT_PIECES,
    st.sampled_from(["\\{", "\u2029", "\x0c", "\x1c", "\x1b[2J", "\ufeff", "é", "#", "\\'", '\\\\\\"']))
STRINGS = st.lists(STRING_PIECES, max_size=6).map(lambda parts: '"' + "".join(parts) + '"')

STRING_SLOTS = """use {}  # kept

brand k {{
  logo {}
}}

brief b {{
  backend diffusers {} revision {}
  matrix m {{
    v {}  # after a value

    w {}
  }}

  component c {{
    prompt {}
    negative {}
    region mask {}
  }}
  # between
  component d {{
    asset {}
  }}
  edit e {{
    inpaint full  # trailing
    prompt {}
    negative {}
  }}
}}
"""
N_STRING_SLOTS = STRING_SLOTS.count("{}")


@settings(max_examples=80, deadline=None)
@given(strings=st.lists(STRINGS, min_size=N_STRING_SLOTS, max_size=N_STRING_SLOTS))
def test_strings_round_trip_in_every_position(strings):
    text = STRING_SLOTS.format(*strings)  # laid out canonically: only the strings vary
    module = parse(text, "x.brief")
    assert [s.text for s in found(module.items, ast.Str)] == strings
    assert fmt(text) == text  # strings are kept as written; comments and blank lines stay put


# ── found by tests/test_fuzz.py: comments inside a setting written over several lines ──

def _keeps_comments_and_is_idempotent(text: str) -> str:
    once = fmt(text)
    assert [c.text for c in parse(once, "x").comments] == [c.text for c in parse(text, "x").comments]
    assert fmt(once) == once
    return once


def test_two_trailing_comments_of_one_setting_stay_two():
    """Both trailed `canvas 10 x 10` and were joined into one comment: `# c1  # c2`."""
    assert _keeps_comments_and_is_idempotent("brief a {\n  canvas 10  # c1\n    x 10  # c2\n}\n") == \
        "brief a {\n  canvas 10 x 10  # c1\n  # c2\n}\n"


def test_comments_inside_a_setting_keep_their_order():
    """The trailing comment jumped above the comment line written before it."""
    assert _keeps_comments_and_is_idempotent("brand k {\n  clearspace\n  # own\n  0.5  # trailing\n}\n") == \
        "brand k {\n  clearspace 0.5\n  # own\n  # trailing\n}\n"


def test_colour_names_align_by_the_formatted_layout():
    """Aligned by source lines, `ink` was padded to `cream` although a comment line separates them
    once formatted; formatting again then removed the padding."""
    assert _keeps_comments_and_is_idempotent(
        "brand k {\n  color\n  # own line\n  ink #1A1A1A\n  color cream #F5E6CC\n  color red #C8102E\n}\n") == \
        "brand k {\n  color ink #1A1A1A\n  # own line\n  color cream #F5E6CC\n  color red   #C8102E\n}\n"
