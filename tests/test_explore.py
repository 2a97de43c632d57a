"""Candidates, not re-rolls (issue 14, point 3): `brief explore` renders N seeds of one generated
component alone in its crop, over the last canvas; `--pick` writes `seed N` into the brief keeping
its comments and layout (and `brief fmt` agrees with it), and the next build renders nothing new for
that component: the candidate's pixels are in the cache."""

from __future__ import annotations

import numpy as np
from PIL import Image

from brief.lang.fmt import format_module
from brief.lang.parser import parse
from brief.runtime.build import Options, build_file, plan_file
from test_cli import run

BRIEF = """brief p {
  canvas 320 x 240
  component back {
    prompt "a meadow"  # the scene
    region full
  }
  component kite {
    prompt "a red kite"
    region box 50% 10% 80% 40%
    z 1
  }
}
"""


def test_explore_renders_the_component_only_and_a_pick_is_reused(project):
    path = project.write("p.brief", BRIEF)
    assert format_module(parse(BRIEF), BRIEF) == BRIEF  # canonical, so `fmt --check` below means something
    options = Options(cache=project.root / "cache", out=project.root / "out")
    build_file(path, options)
    res = run("explore", path, "kite", "--seeds", "3", "--cache", project.root / "cache", "--out",
              project.root / "out", cwd=project.root)
    assert res.returncode == 0, res.stdout + res.stderr
    files = sorted((project.root / "out" / "@candidates" / "p" / "kite").glob("seed-*.png"))
    assert [f.name for f in files] == ["seed-1.png", "seed-2.png", "seed-3.png"]
    pixels = [np.asarray(Image.open(f)) for f in files]
    assert pixels[0].shape == (72, 96, 3)  # the kite's box (30% of 320 x 240 each way), not the canvas
    assert not np.array_equal(pixels[0], pixels[1]) and not np.array_equal(pixels[1], pixels[2])

    res = run("explore", path, "kite", "--pick", "2", cwd=project.root)
    assert res.returncode == 0, res.stderr
    text = path.read_text()
    assert "  component kite {\n    seed 2\n    prompt \"a red kite\"" in text and "# the scene" in text
    assert run("fmt", "--check", path, cwd=project.root).returncode == 0
    _, (plan,) = plan_file(path, options)
    assert not [s for s in plan.steps if s.label == "component kite"], [s.label for s in plan.steps]
    (built,) = build_file(path, options)
    assert not [k for k in built.run.ran if built.graph.nodes[k]["label"] == "component kite"]


def test_the_seed_edit_skips_braces_in_comments_and_keeps_line_endings():
    from brief.lang.edit import set_seed

    text = 'brief p {\n  component kite # {a note}\n  {\n    prompt "k"  # {not a block}\n  }\n}\n'
    assert set_seed(text, "x", "p", "kite", 5) == text.replace('  {\n    prompt', '  {\n    seed 5\n    prompt')
    crlf = 'brief p {\r\n  component kite {\r\n    prompt "k"\r\n  }\r\n}\r\n'
    assert set_seed(crlf, "x", "p", "kite", 5) == crlf.replace('{\r\n    prompt', '{\r\n    seed 5\r\n    prompt')
    assert set_seed('brief p { component kite { prompt "k" } }', "x", "p", "kite", 7) == \
        'brief p { component kite { seed 7 prompt "k" } }'
