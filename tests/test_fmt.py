"""The formatter: idempotent, meaning-preserving, comment-keeping; over a corpus of files and over
random briefs (hypothesis)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brief.lang import ast
from brief.lang.check import check_program
from brief.lang.compile import compile_program
from brief.lang.fmt import format_module
from brief.lang.load import load
from brief.lang.parser import parse
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
                                      exclude_categories=("Cs", "Cc", "Zs")), min_size=1, max_size=12)
PCT = st.integers(0, 100)


@st.composite
def components(draw, name):
    x0, x1 = sorted(draw(st.lists(PCT, min_size=2, max_size=2, unique=True)))
    y0, y1 = sorted(draw(st.lists(PCT, min_size=2, max_size=2, unique=True)))
    tokens = ["component", name, "{", "prompt", f'"{draw(TEXT)}"']
    optional = draw(st.sets(st.sampled_from(["region", "z", "seed", "context", "negative", "strength",
                                             "opacity"])))
    for key in sorted(optional):
        tokens += {
            "region": ["region", "box", f"{x0}%", f"{y0}%", f"{x1}%", f"{y1}%"],
            "z": ["z", str(draw(st.integers(-5, 5)))],
            "seed": ["seed", str(draw(st.integers(0, 2**32 - 1)))],
            "context": ["context", draw(st.sampled_from(["scene", "none"]))],
            "negative": ["negative", f'"{draw(TEXT)}"'],
            "strength": ["strength", draw(st.sampled_from(["0.5", "1", "1.0", ".25"]))],
            "opacity": ["opacity", draw(st.sampled_from(["80%", "0.5", "1"]))],
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
