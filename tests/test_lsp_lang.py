"""The pure parts the language server stands on, in process: what the grammar accepts at a point
(and the recovery when the text before it does not parse), the reference behind hover, colour
values, the repairs diagnostics carry, and that `brief lsp` starts without the runtime."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from brief.lang.colour import hex_rgb, srgb_to_lab
from brief.lang.interactive import accepted_at, keyword_of, tokens
from brief.lang.parser import lark_parser
from brief.lang.reference import REFERENCE, lookup


def at_end(text: str):
    return accepted_at(text, len(text))


@pytest.mark.parametrize("text, expected, absent", [
    ("brief x {\n  component y {\n    ", {"prompt", "asset", "text", "region", "font", "z"}, {"inpaint", "canvas"}),
    ("brief x {\n  edit e {\n    ", {"inpaint", "remove", "recolor", "harmonize", "prompt"}, {"asset", "region"}),
    ("brief x {\n  ", {"canvas", "component", "edit", "check", "output", "matrix", "brand"}, {"prompt", "use"}),
    ("", {"use", "brand", "brief"}, {"component"}),
    ("brand b {\n  ", {"color", "font", "logo", "clearspace", "safezone"}, {"canvas"}),
    ("brief x {\n  check ", {"palette", "color", "contrast", "visible", "safezone"}, {"canvas"}),
    ("brief x {\n  output s 1 x 1 crop {\n    ", {"place", "safezone", "format", "file"}, {"prompt"}),
    ("brief x {\n  output s 1 x 1 crop {\n    format jpeg ", {"quality", "max", "place"}, {"prompt"}),
    ("brief x {\n  component y {\n    region ", {"full", "box", "anchor", "mask", "around"}, {"prompt"}),
])
def test_keywords_follow_the_grammar(text, expected, absent):
    got = set(at_end(text).keywords)
    assert expected <= got and not got & absent


def test_a_broken_line_above_does_not_stop_completion_below():
    text = "brief x {\n  canvas 10 x\n  bogus 1 2 3\n  component y {\n    region "
    found = at_end(text)
    assert found.recovered and set(found.keywords) == {"full", "box", "anchor", "mask", "around"}
    found = at_end("brief x {\n  canvas 10 x\n  component y {\n    ")
    assert found.recovered and {"prompt", "region"} <= set(found.keywords)


def test_nothing_inside_a_string_or_a_comment_and_the_word_being_typed_is_kept():
    assert at_end('brief x {\n  component y {\n    prompt "a red ki') is None
    assert at_end("brief x {  # a comm") is None
    assert at_end('brief x {\n  component y {\n    prompt "a # b" ') is not None  # a # inside a string
    found = at_end("brief x {\n  component y {\n    reg")
    assert found.partial == "reg" and "region" in found.keywords
    assert at_end("brief x {\n  edit t { recolor product to ").before[-1] == "to"


def test_tokens_tell_hex_colours_from_comments():
    text = 'brand b {\n  color red #C8102E  # the red\n}\n# end #fff\n'
    toks, comments = tokens(text)
    assert [t.type for t in toks if t.value == "#C8102E"] == ["HEX_COLOR"]
    assert [text[a:b] for a, b in comments] == ["# the red", "# end #fff"]


def test_every_keyword_of_the_grammar_has_a_reference_entry():
    words = {w for t in lark_parser().terminals if (w := keyword_of(t.name)) and w.isalpha()}
    missing = {w for w in words if not any(k == w for _, k in REFERENCE)}
    assert not missing, f"keywords without a reference entry: {sorted(missing)}"
    assert lookup("component", "z").default == "0" and lookup("check", "palette").default


@pytest.mark.parametrize("hex_text", ["#C8102E", "#D4FF3A", "#14161A", "#1F2A44", "#fff", "#808080"])
def test_lab_agrees_with_the_runtime_measurement(hex_text):
    from brief.runtime.render import imaging

    ours = srgb_to_lab(hex_rgb(hex_text))
    theirs = imaging.to_lab(np.array(hex_rgb(hex_text), np.uint8).reshape(1, 1, 3))[0, 0]
    assert np.allclose(ours, theirs, atol=0.05), (ours, theirs)


def test_did_you_mean_diagnostics_carry_the_repair(project):
    text = """brand acme {
  color red #C8102E
}
brief b {
  canvas 100 x 100
  brand acme
  matrix season { summer "summer" }
  component sky {
    prompt "{ sesaon }, sky"
    region full
    color rde within 2
    context scnee
  }
  edit t { recolor skyy to red }
}
"""
    found = {d.code: d for d in project.diagnostics(text)}
    for code, wrong, right in (("E343", "sesaon", "season"), ("E305", "rde", "red"), ("E324", "scnee", "scene"),
                               ("E310", "skyy", "sky")):
        (fix,) = found[code].fixes
        assert text[fix.span.start:fix.span.end] == wrong and fix.text == right, code


def test_an_unknown_setting_carries_the_keyword_it_meant(tmp_path):
    from brief.lang.diagnostics import DiagnosticError
    from brief.lang.parser import parse

    with pytest.raises(DiagnosticError) as exc:
        parse("brief b {\n  canvs 10 x 10\n}\n", "x.brief")
    (d,) = exc.value.diagnostics
    assert d.code == "E105" and d.fixes[0].text == "canvas" and (d.fixes[0].span.line, d.fixes[0].span.column) == (2, 3)


def test_the_language_server_starts_without_the_runtime():
    code = ("import sys, brief.lsp.server\n"
            "print(sorted(m for m in sys.modules if m.startswith('brief.runtime') or m.split('.')[0] in "
            "('numpy', 'PIL', 'cv2', 'torch')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_recolor_fix_is_written_for_every_variant(project):
    """A failing `check color` in a catalogue: the fix recolours to the field the component names
    (`sku.color`), not to the colour of the variant that failed; none when the brief already does;
    a fresh edit name when `fix_product` is taken."""
    from brief.lsp.analysis import analyze, recolor_fix

    text = """use "brands/acme.brief"
brief b {
  canvas 200 x 200
  brand acme
  matrix sku {
    red "red" { color red }
    ink "ink" { color ink }
  }
  component product {
    asset "assets/product.png"
    color sku.color within 1
  }
  check color product
}
"""

    def fix(source: str):
        path = project.write("main.brief", source)
        a = analyze(str(path), source, {}, [], False)
        assert a.program is not None, a.diagnostics
        return recolor_fix(a, a.module.briefs[0].checks[0])

    assert fix(text) == "edit fix_product { recolor product to sku.color }"
    taken = text.replace("  check color", "  edit fix_product { remove box 0% 0% 1% 1% }\n  check color")
    assert fix(taken) == "edit fix_product_2 { recolor product to sku.color }"
    done = text.replace("  check color", "  edit tone { recolor product to sku.color }\n  check color")
    assert fix(done) is None


def test_tokens_go_on_after_a_character_no_token_starts_with():
    text = 'brief x {\n  region full = ]\n  prompt "unterminated\n  z 5 😀 seed 2\n}\n'
    toks, _ = tokens(text)
    assert [str(t) for t in toks] == ["brief", "x", "{", "region", "full", "prompt", "z", "5", "seed", "2", "}"]
    assert all(text[t.start_pos:t.start_pos + len(t.value)] == t.value for t in toks)


def test_a_block_left_open_closes_where_a_sibling_starts():
    found = at_end('brief x {\n  component a {\n    prompt "x"\n  component b {\n    ')
    assert {"prompt", "region"} <= set(found.keywords)


def test_the_index_resolves_every_kind_of_name_in_the_example(examples_copy):
    """Definitions and references, as go-to-definition and find-references see them, over the
    example catalogue: axes and fields (in strings too), fonts and colours from the brand file, the
    brand, the used file."""
    import os

    from brief.lang.load import load
    from brief.lsp.index import Index

    path = examples_copy / "campaign" / "launch.brief"
    text = path.read_text()
    index = Index(load(path))
    entry = os.path.realpath(path)
    brand_file = os.path.realpath(examples_copy / "brands" / "stride.brief")

    def texts(symbol, definition):
        return sorted((o.span.line, text[o.span.start:o.span.end] if o.span.file == str(path) else "(brand file)")
                      for o in index.occurrences(symbol) if o.definition == definition)

    sku_uses = texts(("axis", entry, "launch", "sku"), False)
    assert len(sku_uses) == 6 and {t for _, t in sku_uses} == {"sku"}  # {sku}, {sku.asset}, sku.color ×2, {sku.name} ×2
    assert [line for line, _ in texts(("axis", entry, "launch", "sku"), True)] == [9]
    assert [line for line, _ in texts(("field", entry, "launch", "sku", "color"), False)] == [34, 66]
    assert len(index.definitions(("field", entry, "launch", "sku", "color"))) == 2  # one per value
    assert texts(("font", brand_file, "stride", "display"), False) == [(40, "display")]
    assert len(index.definitions(("colour", brand_file, "stride", "volt"))) == 1
    assert [line for line, _ in texts(("brand", brand_file, "stride"), False)] == [7]
    (use,) = index.occurrences(("file", brand_file))
    assert text[use.span.start:use.span.end] == '"../brands/stride.brief"'
