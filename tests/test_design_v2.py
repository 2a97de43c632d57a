"""The v2 example of DESIGN.md (tests/design_v2/campaign/launch.brief, verbatim, with its assets and
fonts in place) compiles to its golden graph and builds as written: the story is laid out in its own
pixels and delivered as a capped JPEG under its template name. And a property of matrix fields:
changing one field of one matrix value changes exactly the variants whose value it is."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from brief.lang.check import check_program
from brief.lang.compile import compile_program
from brief.lang.load import load
from brief.runtime.build import Options, build_file
from test_golden import render

PROJECT = Path(__file__).resolve().parent / "design_v2"
BRIEF = PROJECT / "campaign" / "launch.brief"


def test_the_design_example_compiles_to_its_golden_graph(update_golden):
    program = load(BRIEF)
    check_program(program)
    got = render(compile_program(program))
    golden = PROJECT / "launch.graph.txt"
    if update_golden:
        golden.write_text(got)
    assert got == golden.read_text(), "graph changed; review, then rerun with --update-golden"


def test_the_design_example_builds_as_written(tmp_path):
    project = tmp_path / "design_v2"
    shutil.copytree(PROJECT, project)
    built = build_file(project / "campaign" / "launch.brief",
                       Options(cache=tmp_path / "cache", out=tmp_path / "out", variants=["sku=navy,lang=de"]))
    (b,) = built
    story = b.folder / "launch-navy-de-story.jpg"
    data = story.read_bytes()
    assert len(data) <= 500_000, "format jpeg … max 500KB"
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.size == (1080, 1920) and im.info.get("icc_profile")
        pixels = np.asarray(im.convert("RGB")).astype(int)
    # `place logo anchor bottom-right 200px x 100px margin 64px`: the ink-coloured logo is there, in the
    # story's own pixels, and not where the canvas's top-right logo would map to
    placed = pixels[1920 - 64 - 100:1920 - 64, 1080 - 64 - 200:1080 - 64]
    assert (placed.sum(axis=2) < 150).mean() > 0.05
    assert (pixels[420:520, 820:1020].sum(axis=2) < 150).mean() < 0.01
    assert (b.folder / "square.png").is_file()
    outputs = {c["result"].get("output") for c in b.manifest["checks"]}
    assert outputs == {"story", "square"}  # every rule on every output


LANG = '''brand s {{
  color ink #14161A
  font display "fonts/Display-Bold.ttf"
}}
brief p {{
  canvas 320 x 200
  brand s
  matrix sku {{
    a "alpha" {{ asset "assets/product.png" }}
    b "beta" {{ asset "assets/logo.png" }}
  }}
  matrix lang {{
    en "English" {{ headline "{en}" }}
    de "Deutsch" {{ headline "{de}" }}
    fr "Français" {{ headline "{fr}" }}
  }}
  component back {{
    prompt "{{sku}} floor"
  }}
  component product {{
    asset "{{sku.asset}}"
    region box 10% 40% 60% 90%
    z 1
  }}
  component headline {{
    text "{{lang.headline}}"
    font display
    size auto 8px 40px
    region box 5% 5% 95% 30%
    z 2
  }}
  output square 200 x 200 crop
}}
'''
WORDS = {"en": "Run further", "de": "Lauf weiter", "fr": "Cours plus loin"}


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lang=st.sampled_from(sorted(WORDS)), extra=st.text("abcdefgh ", min_size=1, max_size=6))
def test_a_changed_field_changes_only_the_variants_that_use_it(project, lang, extra):
    before = project.compile(LANG.format(**WORDS))
    after = project.compile(LANG.format(**{**WORDS, lang: WORDS[lang] + extra}))
    changed = {a.name for a, b in zip(before.variants, after.variants) if a.export != b.export}
    assert changed == {v.name for v in before.variants if v.axes["lang"] == lang}
    for a, b in zip(before.variants, after.variants):  # and inside a changed variant, only the text's layer
        same = {k for k in a.layers if a.layers[k] == b.layers[k]}
        assert same == ({"back", "product"} if a.axes["lang"] == lang else set(a.layers))
