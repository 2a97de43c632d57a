"""Parsing: the DESIGN examples, spans, colours versus comments, and syntax-error wording."""

from __future__ import annotations

import os
import pickle

import pytest

from brief.lang import ast
from brief.lang.diagnostics import DiagnosticError, render_text
from brief.lang.parser import lark_parser, parse
from conftest import EXAMPLES


def syntax_error(text: str):
    with pytest.raises(DiagnosticError) as info:
        parse(text, "t.brief")
    (diag,) = info.value.diagnostics
    return diag


def test_design_examples_parse():
    brand = parse((EXAMPLES / "brands" / "acme.brief").read_text(), "acme.brief")
    (acme,) = brand.brands
    assert [c.name.value for c in acme.all(ast.BrandColor)] == ["ink", "cream", "red"]
    runner = parse((EXAMPLES / "campaign" / "runner.brief").read_text(), "runner.brief")
    (brief,) = runner.briefs
    assert [c.name.value for c in brief.components] == ["sky", "kite", "product", "logo"]
    assert [e.name.value for e in brief.edits] == ["shadow", "tidy", "tone"]
    assert [c.keyword for c in brief.checks] == ["palette", "color", "clearspace", "safezone"]
    assert [o.name.value for o in brief.outputs] == ["square", "story"]
    assert runner.uses[0].path.value == "../brands/acme.brief"


def test_every_region_form_and_setting():
    m = parse('''brief b {
      backend diffusers "models/sd" revision "abc123"
      component a { prompt "x" negative "blur" region full z -2 seed 7 steps 4 strength 0.5
                    context none opacity 80% feather 4px }
      component b { asset "p.png" region anchor bottom-left 10% x 20px margin 2% fit cover color red within 2 }
      component c { prompt "y" region mask "m.png" }
      component d { prompt "z" region around b 12px }
      edit e { harmonize b band 8 }
      check minsize b 10px x 10px
      check clearspace b 0.25
      check safezone 3%
      check palette
    }''')
    (b,) = m.briefs
    assert b.first(ast.Backend).revision.value == "abc123"
    a = b.components[0]
    assert a.first(ast.Z).value.value == -2
    assert a.first(ast.Opacity).value.unit == "%"
    assert a.first(ast.Feather).value.unit == "px"
    anchor = b.components[1].first(ast.Region).spec
    assert anchor.position.value == "bottom-left" and anchor.margin.text == "2%"
    assert isinstance(b.components[2].first(ast.Region).spec, ast.Mask)
    assert b.components[3].first(ast.Region).spec.band.value == 12
    palette = b.checks[-1]
    assert palette.within is None and palette.coverage is None


def test_spans_point_at_the_source():
    text = 'brief r {\n  canvas 1024 x 768\n  component sky { prompt "a" }\n}\n'
    (b,) = parse(text, "r.brief").briefs
    canvas = b.first(ast.Canvas)
    assert (canvas.span.line, canvas.span.column) == (2, 3)
    assert text[canvas.span.start:canvas.span.end] == "canvas 1024 x 768"
    prompt = b.components[0].first(ast.Prompt)
    assert text[prompt.text.span.start:prompt.text.span.end] == '"a"'


def test_hex_colour_is_not_a_comment_and_comments_are_kept():
    m = parse("brand b {\n  color red #C8102E # the red\n  #plain comment\n  color ink #111 #x\n}\n")
    colors = list(m.brands[0].all(ast.BrandColor))
    assert [c.color.text for c in colors] == ["#C8102E", "#111"]
    assert [c.text for c in m.comments] == ["# the red", "#plain comment", "#x"]


def test_strings_unescape():
    m = parse(r'brief b { component c { prompt "say \"hi\" \\ now" } }')
    assert m.briefs[0].components[0].first(ast.Prompt).text.value == 'say "hi" \\ now'


def test_misspelt_setting_gets_did_you_mean():
    d = syntax_error('brief a {\n  component c {\n    prompet "x"\n  }\n}')
    assert d.summary == "unknown setting `prompet` in a component"
    assert "Did you mean `prompt`?" in d.detail
    assert (d.span.line, d.span.column) == (3, 5)


def test_misspelt_top_level_keyword():
    d = syntax_error("breif a {}")
    assert "Did you mean `brief`?" in d.detail


def test_setting_in_the_wrong_block_says_where_it_belongs():
    d = syntax_error('brief a { component c { canvas 10 x 10 } }')
    assert "`canvas` is not allowed here in a component" in d.summary
    assert "belongs in a brief" in d.detail


def test_unclosed_block_names_it():
    d = syntax_error('brief runner {\n  component sky {\n    prompt "x"\n')
    assert "component `sky` (opened on line 2) is not closed" in d.summary


@pytest.mark.parametrize("text, summary", [
    ('brief a { component c { prompt kite } }', "text must be in double quotes"),
    ("brand b { color red red }", "a hex colour is expected here"),
    ("brief a { canvas 1024 768 }", "a size is written `W x H`"),
    ("brief a { component c { region box 1% 2% } }", "`box` takes four coordinates"),
    ("brief a { matrix m { summer } }", "a matrix value needs its text"),
    ("brief a { component c { color red 2 } }", "`color` in a component needs `within ΔE`"),
    ('brief a { component c { prompt "abc } }', "unterminated string"),
    ("brief a { component c { prompt 'x' } }", "strings use double quotes"),
    ("brief a { seed 1 } }", "unmatched `}`"),
])
def test_common_mistakes_are_named(text, summary):
    assert syntax_error(text).summary.startswith(summary)


def test_incomplete_setting_says_what_is_missing():
    d = syntax_error("brief a { seed }")
    assert "`seed` is incomplete" in d.detail


def test_rendering_is_ruff_style():
    text = 'brief a {\n  component c {\n    prompet "x"\n  }\n}'
    d = syntax_error(text)
    out = render_text([d], {"t.brief": text})
    lines = out.splitlines()
    assert lines[0] == "t.brief:3:5: error[E105]: unknown setting `prompet` in a component"
    assert lines[2] == '3 |     prompet "x"'
    assert lines[3] == "  |     ^^^^^^^"
    assert lines[4].startswith("  = help: Did you mean `prompt`?")


def test_deep_nesting_is_a_diagnostic_not_a_recursion_error():
    for text in ("{" * 20000, "brief a {" * 20000, "brief a { component c {" * 10000):
        d = syntax_error(text)
        assert d.code.startswith("E1")


def test_huge_input_is_refused_before_parsing():
    d = syntax_error("#" * (5 * 1024 * 1024))
    assert d.code == "E001" and "too large" in d.summary


def test_nul_byte_is_refused():
    assert syntax_error("brief a {\x00}").code == "E002"


def test_keywords_can_be_names_where_a_name_is_expected():
    m = parse('brief b { component logo { prompt "x" } component fit { prompt "y" region around logo 4px }\n'
              '  output fit 10 x 10 fit\n  output crop 10 x 10 crop\n  check clearspace logo\n'
              '  matrix color { box "z" } }')
    (b,) = m.briefs
    assert [c.name.value for c in b.components] == ["logo", "fit"]
    assert [(o.name.value, o.mode.value) for o in b.outputs] == [("fit", "fit"), ("crop", "crop")]
    assert b.matrices[0].values[0].name.value == "box"


def test_keywords_do_not_swallow_the_start_of_a_longer_word():
    d = syntax_error('brief v {\n  seed42\n}')
    assert d.code == "E105" and "`seed42`" in d.summary
    d = syntax_error('brief v {\n  canvass 100 x 100\n}')
    assert "unknown setting `canvass`" in d.summary and "Did you mean `canvas`?" in d.detail


def test_carets_line_up_after_wide_characters():
    text = 'brief a { component c { prompt "日本の公園 🌸" prompet "x" } }'
    d = syntax_error(text)
    lines = render_text([d], {"t.brief": text}).splitlines()
    source, carets = lines[2], lines[3]
    from brief.lang.diagnostics import _columns
    prefix = source[: source.index("prompet")]
    assert carets.index("^") == _columns(prefix) and carets.count("^") == len("prompet")


# ── numbers a float cannot hold (issue 10, point 5) ────────────────────────────

HUGE = "9" * 400


@pytest.mark.parametrize("text, summary", [
    (f"brief a {{\n  seed {HUGE}\n}}", "is too large"),
    (f"brief a {{\n  seed -{HUGE}px\n}}", "is too large"),
    ("brief a {\n  seed 1000000000000000\n}", "is too large"),  # 10^15: beyond what is exact
    (f"brief a {{\n  seed 0.{'0' * 400}1%\n}}", "is too small"),  # would silently become 0
])
def test_numbers_a_float_cannot_hold_are_a_diagnostic(text, summary):
    d = syntax_error(text)
    assert d.code == "E109" and summary in d.summary
    assert (d.span.line, d.span.column) == (2, 8) and d.span.end_column == len(text.splitlines()[1]) + 1
    shown = render_text([d], {"t.brief": text}).splitlines()
    assert shown[0].startswith("t.brief:2:8: error[E109]") and shown[3].strip(" |").startswith("^^^")


def test_every_out_of_range_number_is_reported_at_once():
    with pytest.raises(DiagnosticError) as info:
        parse(f"brief a {{\n  canvas {HUGE} x {HUGE}\n  seed 999999999999999\n}}", "t.brief")
    assert [(d.code, d.span.line, d.span.column) for d in info.value.diagnostics] == [
        ("E109", 2, 10), ("E109", 2, 413)]


def test_lines_are_counted_by_newlines_only():
    """A string may hold a carriage return or U+2028: diagnostics still show the line Lark counted."""
    text = 'brief a {\n  component c { prompt "one\rtwo\u2028three" }\n  prompet "x"\n}'
    d = syntax_error(text)
    assert d.span.line == 3
    assert render_text([d], {"t.brief": text}).splitlines()[2] == '3 |   prompet "x"'


def test_rendering_many_diagnostics_splits_each_file_once():
    """A thousand diagnostics in a thousand-line file: splitting the file for each one was quadratic."""
    class Counted(str):
        splits = 0

        def split(self, *args, **kw):
            Counted.splits += 1
            return super().split(*args, **kw)

        def splitlines(self, *args, **kw):
            Counted.splits += 1
            return super().splitlines(*args, **kw)

    text = 'use "nope.brief"\n' * 1000
    spans = [ast.Span("t.brief", i, 5, i, 17, 0, 0) for i in range(1, 1001)]
    from brief.lang.diagnostics import error
    out = render_text([error("E010", "cannot use this file", "Check the path.", s) for s in spans],
                      {"t.brief": Counted(text)})
    assert out.count('| use "nope.brief"') == 1000 and Counted.splits == 1


# ── the compiled parser: checked strict here, cached per user at run time ────

def _fresh_parser(**extra):
    from lark import Lark

    from brief.lang.parser import PARSER_OPTIONS, grammar_text, runtime_options

    return Lark(grammar_text(), **PARSER_OPTIONS, **runtime_options(), **extra)


def _corpus() -> list[str]:
    from conftest import REPO

    files = [f for f in [*EXAMPLES.rglob("*.brief"), *(REPO / "tests" / "fmt_corpus").glob("*.brief")]
             if f.is_file() and not any(part.startswith(".") for part in f.relative_to(REPO).parts)]
    return [f.read_text(encoding="utf-8") for f in sorted(files)]


def test_grammar_has_no_collisions_under_strict():
    """Lark's strict mode (terminals whose regular expressions can match the same text, shift/reduce
    conflicts) is checked here, once, instead of on every start; the parser brief runs is the same
    LALR table."""
    strict = _fresh_parser(strict=True)
    loaded = lark_parser()
    for text in _corpus():
        assert loaded.parse(text) == strict.parse(text)


def _cache_file(folder):
    from brief.lang.parser import PARSER_OPTIONS, grammar_text, runtime_options
    from brief.lang.parser_cache import cache_file, cache_key

    return cache_file(folder, cache_key(grammar_text(), PARSER_OPTIONS, runtime_options()))


def _load(folder):
    from brief.lang.parser import PARSER_OPTIONS, grammar_text, runtime_options
    from brief.lang.parser_cache import load_or_build

    return load_or_build(grammar_text(), PARSER_OPTIONS, runtime_options(), folder)


def _built_afresh(monkeypatch) -> list:
    """Record every time the parser is built from the grammar (the slow path)."""
    from lark import Lark

    built, original = [], Lark.__init__

    def init(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Lark, "__init__", init)
    return built


def test_parser_is_built_once_then_loaded_from_the_user_cache(tmp_path, monkeypatch):
    built = _built_afresh(monkeypatch)
    first = _load(tmp_path)
    path = _cache_file(tmp_path)
    assert built == [1] and path.is_file() and path.stat().st_mode & 0o077 == 0  # private to the user
    second = _load(tmp_path)
    assert built == [1]  # loaded, not rebuilt
    for text in _corpus():
        assert second.parse(text) == first.parse(text)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "flipped", "other key", "empty"])
def test_damaged_cache_is_rebuilt_and_replaced(tmp_path, monkeypatch, damage):
    _load(tmp_path)
    path = _cache_file(tmp_path)
    data = path.read_bytes()
    head, _, payload = data.partition(b"\n")
    broken = {"truncated": data[: len(data) // 2], "garbage": os.urandom(4000), "empty": b"",
              "flipped": head + b"\n" + payload[:100] + bytes([payload[100] ^ 1]) + payload[101:],
              "other key": head.replace(head.split()[2], b"0" * 64) + b"\n" + payload}[damage]
    reference = _fresh_parser().parse(_corpus()[0])
    path.write_bytes(broken)
    built = _built_afresh(monkeypatch)
    parser = _load(tmp_path)
    assert built == [1] and parser.parse(_corpus()[0]) == reference  # rebuilt
    _load(tmp_path)
    assert built == [1] and path.read_bytes() != broken  # and saved whole: the next start loads it


def test_a_planted_cache_file_cannot_run_code(tmp_path):
    """A file with a valid header (anyone can compute one) whose pickle calls a function: refused
    by the unpickler, which allows no globals at all; the parser is built afresh."""
    from brief.lang import parser_cache
    from brief.lang.parser import PARSER_OPTIONS, grammar_text, runtime_options

    marker = tmp_path / "ran"

    class Exploit:
        def __reduce__(self):
            return (os.mkdir, (str(marker),))

    payload = pickle.dumps({"data": Exploit(), "memo": {}})
    path = _cache_file(tmp_path)
    key = parser_cache.cache_key(grammar_text(), PARSER_OPTIONS, runtime_options())
    path.write_bytes(parser_cache.header(key, payload) + payload)
    parser = _load(tmp_path)
    assert not marker.exists()
    assert parser.parse(_corpus()[0]) == _fresh_parser().parse(_corpus()[0])


def test_a_cache_file_others_may_write_is_not_read(tmp_path, monkeypatch):
    _load(tmp_path)
    path = _cache_file(tmp_path)
    path.chmod(0o666)
    built = _built_afresh(monkeypatch)
    _load(tmp_path)
    assert built == [1] and path.stat().st_mode & 0o077 == 0  # replaced by a private copy


def test_unwritable_cache_folder_is_no_error(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("in the way")
    parser = _load(blocker / "brief")
    assert parser.parse(_corpus()[0]) == _fresh_parser().parse(_corpus()[0])
    assert list(tmp_path.iterdir()) == [blocker]
