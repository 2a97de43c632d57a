"""The BFL backend against a local server speaking the documented BFL API (tests/hosted_server.py; BFL
itself cannot be reached here): a job is submitted with the key in `x-key`, polled until Ready and its
picture downloaded without the key; FLUX Fill gets the padded crop and a white-means-paint mask at a
size of multiples of 32; Kontext gets the crop and an instruction; a text-to-image model is refused a
region before any call; pixels outside a region stay bit-identical whatever comes back; 429 is retried;
errors and moderation are one clear line; a rebuild makes no call; the key is never written."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("httpx")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from brief.runtime.render.execute import BuildError  # noqa: E402
from hosted_server import BFLImages  # noqa: E402
from runtime_helpers import pixels, ran  # noqa: E402

KEY = "bfl-test-7e21a9c4"
BRIEF = '''brief f {{
  canvas 200 x 160
  seed 9
  backend bfl "{model}" endpoint "{url}"
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
    monkeypatch.setenv("BFL_API_KEY", KEY)
    with BFLImages() as s:
        yield s


def _build(project, text, **options):
    project.write("f.brief", text)
    return build_file(project.root / "f.brief", Options(cache=project.root / "cache", out=project.root / "out",
                                                        backend_options={"poll_interval": 0.01, **options}))


def test_fill_sends_the_crop_and_a_white_mask_polls_the_job_and_keeps_only_the_region(project, server):
    text = BRIEF.format(model="flux-pro-1.0-fill", url=server.url)
    _build(project, text)
    sky, kite = server.requests
    assert sky["path"] == "/v1/flux-pro-1.0-fill" and sky["key"] == KEY and sky["polls"] == 2  # Pending, then Ready
    assert sky["mask"].min() == 255  # a whole picture: a blank one filled all over
    assert kite["prompt"] == "a red kite" and kite["seed"] is not None and kite["output_format"] == "png"
    h, w = kite["image"].shape[:2]
    assert w % 32 == 0 and h % 32 == 0 and abs(w / h - 122 / 96) < 0.05  # the 122 x 96 padded crop, ~1 MP
    mask = kite["mask"]
    assert mask.shape == (h, w) and set(np.unique(mask)) == {0, 255}
    assert mask[h // 2, w // 2] == 255 and mask[2, 2] == 0  # white = paint: the kite's box, not the padding
    assert all(r.get("delivery_key") is None for r in server.requests)  # the signed URL gets no key
    canvas = pixels(project.root / "out" / "f" / "main.png")
    _build(project, text.replace('"a red kite"', '"a red kite"\n    opacity 0'))
    kiteless = pixels(project.root / "out" / "f" / "main.png")
    inside = np.zeros(canvas.shape[:2], bool)
    inside[16:64, 110:170] = True  # the server answered an inverted, noisy crop: only the box shows it
    assert np.array_equal(canvas[~inside], kiteless[~inside]) and not np.array_equal(canvas, kiteless)
    made = len(server.requests)
    _build(project, text)
    assert ran(_build(project, text)) == set() and len(server.requests) == made


def test_kontext_is_a_guided_edit_and_a_text_to_image_model_is_refused_a_region(project, server):
    _build(project, BRIEF.format(model="flux-kontext-pro", url=server.url))
    sky, kite = server.requests
    assert sky["aspect_ratio"] == "5:4" and "input_image" not in sky  # text to image: 200 x 160
    assert kite["prompt"].startswith("a red kite. Change only the middle") and "mask" not in kite
    assert kite["input_image"].shape[1] % 32 == 0 and kite["aspect_ratio"] == "5:4"
    server.requests.clear()
    t2i = BRIEF.format(model="flux-pro-1.1", url=server.url)
    with pytest.raises(DiagnosticError, match="only draws whole pictures") as exc:
        _build(project, t2i)
    (d,) = exc.value.diagnostics
    assert d.code == "E402" and d.span.line == 8 and server.requests == []  # at `component kite`, no call made
    _build(project, t2i.replace("    z 2\n", "    z 2\n    context none\n"))
    assert [(r["width"] % 32, r["height"] % 32) for r in server.requests] == [(0, 0), (0, 0)]


def test_a_busy_service_is_retried_and_errors_are_one_clear_line(project, server):
    server.busy = [429]
    _build(project, BRIEF.format(model="flux-pro-1.0-fill", url=server.url))
    assert len(server.requests) == 3  # the sky twice (429, then accepted), the kite once
    server.fail_with = (422, "Invalid mask: must match the image size")
    with pytest.raises(BuildError, match="BFL answered 422: Invalid mask"):
        _build(project, BRIEF.format(model="flux-pro-1.0-fill", url=server.url).replace("blue sky", "grey sky"))
    server.fail_with, server.moderate = None, True
    with pytest.raises(BuildError, match=r"BFL refused the job \(Content Moderated\)"):
        _build(project, BRIEF.format(model="flux-pro-1.0-fill", url=server.url).replace("blue sky", "pink sky"))


def test_the_key_is_never_written_and_a_missing_one_is_refused_at_the_backend_line(project, server, monkeypatch):
    _build(project, BRIEF.format(model="flux-pro-1.0-fill", url=server.url))
    for path in project.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path
    monkeypatch.delenv("BFL_API_KEY")
    with pytest.raises(DiagnosticError, match="set BFL_API_KEY") as exc:
        _build(project, BRIEF.format(model="flux-pro-1.0-fill", url=server.url).replace("blue", "grey"))
    assert exc.value.diagnostics[0].span.line == 4
