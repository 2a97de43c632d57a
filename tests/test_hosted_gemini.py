"""The Gemini backend against a local server speaking the documented generateContent shape
(tests/hosted_server.py; Google's service cannot be reached here): a guided edit sends the crop at
an accepted aspect and the seed, only the masked part of the answer is kept, a rebuild makes no
call, an error is one line, and the key is never written."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("google.genai")

from brief.runtime.build import Options, build_file  # noqa: E402
from brief.runtime.render.execute import BuildError  # noqa: E402
from hosted_server import GeminiImages  # noqa: E402
from runtime_helpers import pixels, ran  # noqa: E402

KEY = "AIza-test-91c3e5"
BRIEF = '''brief g {{
  canvas 200 x 160
  seed 5
  backend gemini "gemini-2.5-flash-image" endpoint "{url}"
  component sky {{
    prompt "blue sky"
  }}
  component kite {{
    prompt "a red kite"
    region box 55% 10% 85% 40%
    z 2
  }}
}}
'''


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    with GeminiImages() as s:
        yield s


def _build(project, text):
    project.write("g.brief", text)
    return build_file(project.root / "g.brief", Options(cache=project.root / "cache", out=project.root / "out"))


def test_a_guided_edit_keeps_only_its_region_and_a_rebuild_makes_no_call(project, server):
    _build(project, BRIEF.format(url=server.url))
    sky, kite = server.requests
    assert sky["path"].endswith("/models/gemini-2.5-flash-image:generateContent") and sky["key"] == KEY
    assert sky["config"]["responseModalities"] == ["IMAGE"] and sky["config"]["imageConfig"]["aspectRatio"] == "5:4"
    assert "seed" in sky["config"] and kite["prompt"].startswith("a red kite. Change only the middle")
    assert kite["image"].shape[:2] == (896, 1152)  # the 122 x 96 padded crop, at the 5:4 aspect
    canvas = pixels(project.root / "out" / "g" / "main.png")
    _build(project, BRIEF.format(url=server.url).replace('"a red kite"', '"a red kite"\n    opacity 0'))
    kiteless = pixels(project.root / "out" / "g" / "main.png")
    inside = np.zeros(canvas.shape[:2], bool)
    inside[16:64, 110:170] = True
    assert np.array_equal(canvas[~inside], kiteless[~inside]) and not np.array_equal(canvas, kiteless)
    made = len(server.requests)
    _build(project, BRIEF.format(url=server.url))  # back to the first text: every call from the cache
    assert ran(_build(project, BRIEF.format(url=server.url))) == set() and len(server.requests) == made


def test_an_error_is_one_line_and_the_key_is_never_written(project, server):
    server.fail_with = (400, "Image generation is not available for this prompt.")
    with pytest.raises(BuildError, match="Gemini answered 400: Image generation is not available"):
        _build(project, BRIEF.format(url=server.url))
    server.fail_with = None
    _build(project, BRIEF.format(url=server.url))
    for path in project.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
