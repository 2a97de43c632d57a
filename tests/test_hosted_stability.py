"""The Stability backend against a local server speaking the documented v2beta Stable Image API
(tests/hosted_server.py; Stability itself cannot be reached here): multipart requests with the
Bearer key and `accept: image/*`; SD 3.5 draws through generate/sd3 with its model; an in-paint and a
regional layer send the padded crop and a white-means-paint mask to edit/inpaint; a removal uses
edit/erase; an out-painted output paints its margins; pixels outside each region stay bit-identical;
5xx is retried; errors and the content filter are one clear line; the key is never written."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("httpx")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.build import Options, build_file, plan_file  # noqa: E402
from brief.runtime.render.execute import BuildError  # noqa: E402
from hosted_server import StabilityImages  # noqa: E402
from runtime_helpers import pixels, ran  # noqa: E402

KEY = "sk-stab-test-3b8e0f"
EDITS = '''  edit shadow {
    inpaint box 10% 80% 50% 100%
    prompt "soft shadow"
  }
  edit tidy {
    remove box 70% 70% 90% 90%
  }
'''
BRIEF = '''brief s {{
  canvas 200 x 160
  seed 3
  backend stability "{model}" endpoint "{url}"
  component sky {{
    prompt "blue sky"
    negative "birds"
  }}
  component kite {{
    prompt "a red kite"
    region box 55% 10% 85% 40%
    z 2
  }}
{edits}  output wide 320 x 160 outpaint
}}
'''


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("STABILITY_API_KEY", KEY)
    with StabilityImages() as s:
        yield s


def _text(server, model="sd3.5-large", edits=EDITS):
    return BRIEF.format(model=model, url=server.url, edits=edits)


def _build(project, text):
    project.write("s.brief", text)
    return build_file(project.root / "s.brief", Options(cache=project.root / "cache", out=project.root / "out"))


def test_each_op_goes_to_its_endpoint_with_the_crop_and_a_white_mask(project, server):
    _build(project, _text(server))
    by_path = {}
    for r in server.requests:
        by_path.setdefault(r["path"].removeprefix("/v2beta/stable-image/"), []).append(r)
    assert sorted((p, len(rs)) for p, rs in by_path.items()) == [
        ("edit/erase", 1), ("edit/inpaint", 4), ("generate/sd3", 1)]  # kite, shadow, the wide output's 2 margins
    assert all(r["authorization"] == f"Bearer {KEY}" and r["accept"] == "image/*" for r in server.requests)
    (sky,) = by_path["generate/sd3"]
    assert sky["model"] == "sd3.5-large" and sky["aspect_ratio"] == "5:4" and sky["prompt"] == "blue sky. Avoid: birds"
    kite = next(r for r in by_path["edit/inpaint"] if r["prompt"] == "a red kite")
    h, w = kite["image"].shape[:2]
    assert kite["mask"].shape == (h, w) and abs(w / h - 122 / 96) < 0.05 and kite["grow_mask"] == "0"
    assert kite["mask"][h // 2, w // 2] == 255 and kite["mask"][2, 2] == 0  # white = paint
    (erase,) = by_path["edit/erase"]
    assert "prompt" not in erase and erase["mask"].max() == 255


def test_pixels_outside_each_edit_are_bit_identical_and_a_rebuild_makes_no_call(project, server):
    _build(project, _text(server))
    canvas = pixels(project.root / "out" / "s" / "canvas.png")
    _build(project, _text(server, edits=EDITS.split("  edit tidy")[0]))  # without the removal
    before = pixels(project.root / "out" / "s" / "canvas.png")
    box = np.zeros(canvas.shape[:2], bool)
    box[112:144, 140:180] = True  # 70%–90% of 200 x 160
    assert np.array_equal(canvas[~box], before[~box]) and not np.array_equal(canvas[box], before[box])
    _build(project, _text(server))
    made = len(server.requests)
    assert ran(_build(project, _text(server))) == set() and len(server.requests) == made


def test_plan_counts_the_margins_an_outpaint_paints(project, server):
    project.write("s.brief", _text(server))
    _, plans = plan_file(project.root / "s.brief", Options(cache=project.root / "cache", out=project.root / "out"))
    assert plans[0].calls == 6 and server.requests == []  # sky, kite, shadow, tidy, 2 margins
    _build(project, _text(server))
    assert len(server.requests) == 6


def test_retries_errors_and_the_content_filter(project, server):
    server.busy = [503, 502]
    _build(project, _text(server, edits=""))
    assert len(server.requests) == 2 + 2 + 2  # the sky after two retries, the kite, the two margins
    server.fail_with = (400, "prompt: must not be empty")
    with pytest.raises(BuildError, match="Stability answered 400: prompt: must not be empty"):
        _build(project, _text(server, edits="").replace("blue sky", "grey sky"))
    server.fail_with, server.filtered = None, True
    with pytest.raises(BuildError, match="finish-reason CONTENT_FILTERED"):
        _build(project, _text(server, edits="").replace("blue sky", "pink sky"))


def test_an_unknown_model_is_refused_at_the_backend_line_and_the_key_never_written(project, server):
    with pytest.raises(DiagnosticError, match="Did you mean `sd3.5-large`") as exc:
        _build(project, _text(server, model="sd3.5-larg"))
    assert exc.value.diagnostics[0].span.line == 4 and server.requests == []
    _build(project, _text(server, model="stable-image-core"))
    assert server.requests[0]["path"] == "/v2beta/stable-image/generate/core" and "model" not in server.requests[0]
    for path in project.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
