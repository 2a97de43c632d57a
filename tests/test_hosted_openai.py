"""The OpenAI backend against a local server speaking the documented Images API (tests/hosted_server.py):
what each request carries (the crop at an accepted size, OpenAI's mask convention), that pixels outside a
region stay bit-identical whatever the service returns, that a rebuild makes no call, that an error
status is one clear line, and that the key is never written anywhere. (OpenAI itself cannot be reached
here; the server implements its documented request and response shapes.)"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("openai")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from brief.runtime.render.execute import BuildError  # noqa: E402
from hosted_server import OpenAIImages  # noqa: E402
from runtime_helpers import pixels, ran  # noqa: E402

KEY = "sk-test-4f9d2c81e07b"
BRIEF = '''use "brands/acme.brief"
brief h {{
  canvas 200 x 160
  backend openai "gpt-image-1-2025-04-15" endpoint "{url}"
  brand acme
  component sky {{
    prompt "blue sky"
  }}
  component kite {{
    prompt "a red kite"
    region box 55% 10% 85% 40%
    z 2
  }}
  component product {{
    asset "assets/product.png"
    region box 10% 55% 45% 95%
    z 3
  }}
  edit shadow {{
    inpaint box 10% 90% 50% 100%
    prompt "soft shadow"
  }}
}}
'''


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with OpenAIImages() as s:
        yield s


def _build(project, text, **kw):
    project.write("h.brief", text)
    return build_file(project.root / "h.brief", Options(cache=project.root / "cache", out=project.root / "out", **kw))


def test_requests_carry_the_crop_and_the_mask_in_openais_convention(project, server):
    built = _build(project, BRIEF.format(url=server.url))
    paths = [r["path"] for r in server.requests]
    assert paths.count("/v1/images/generations") == 1 and paths.count("/v1/images/edits") == 2  # sky; kite, shadow
    assert all(r["authorization"] == f"Bearer {KEY}" for r in server.requests)
    generation = next(r for r in server.requests if r["path"].endswith("generations"))
    assert generation["model"] == "gpt-image-1-2025-04-15" and generation["size"] == "1536x1024"  # 200 x 160 → 3:2
    kite = next(r for r in server.requests if r.get("prompt") == "a red kite")
    assert kite["size"] == "1536x1024"  # the padded crop (122 x 96) → the nearest accepted aspect
    mask = kite["mask"]
    assert mask.shape == (1024, 1536, 4) and set(np.unique(mask[..., 3])) == {0, 255}
    # transparent = paint: the middle of the crop (the kite's box) is transparent, its corners opaque
    assert mask[400, 700, 3] == 0 and mask[5, 5, 3] == 255
    assert "generate component kite" in ran(built)


def test_pixels_outside_each_region_are_bit_identical_whatever_the_service_returns(project, server):
    """The service answers with the inverse of the crop plus noise; the kite layer keeps only its box,
    and the in-painted canvas differs from the composite only inside the edit's box."""
    _build(project, BRIEF.format(url=server.url))
    canvas = pixels(project.root / "out" / "h" / "main.png")
    without_kite = BRIEF.format(url=server.url).replace('"a red kite"', '"a red kite"\n    opacity 0')
    _build(project, without_kite)  # the same service answers, the kite layer invisible
    kiteless = pixels(project.root / "out" / "h" / "main.png")
    inside = np.zeros(canvas.shape[:2], bool)
    inside[16:64, 110:170] = True  # the kite's box: 55%–85% x 10%–40% of 200 x 160
    assert np.array_equal(canvas[~inside], kiteless[~inside]) and not np.array_equal(canvas[inside], kiteless[inside])
    without_edit = BRIEF.format(url=server.url).replace('''  edit shadow {
    inpaint box 10% 90% 50% 100%
    prompt "soft shadow"
  }
''', "")
    _build(project, without_edit)
    composite = pixels(project.root / "out" / "h" / "main.png")
    edit_box = np.zeros(canvas.shape[:2], bool)
    edit_box[144:160, 20:100] = True  # 10%–50% x 90%–100%
    assert np.array_equal(canvas[~edit_box], composite[~edit_box]) and not np.array_equal(canvas, composite)


def test_a_rebuild_makes_no_call_and_an_unrelated_change_makes_only_its_own(project, server):
    _build(project, BRIEF.format(url=server.url))
    made = len(server.requests)
    assert ran(_build(project, BRIEF.format(url=server.url))) == set() and len(server.requests) == made
    _build(project, BRIEF.format(url=server.url).replace("a red kite", "a green kite"))
    assert [r.get("prompt") for r in server.requests[made:]] == ["a green kite"]  # the shadow reads nothing of it


def test_an_error_status_is_one_clear_line(project, server):
    server.fail_with = (400, "Your request was rejected by the safety system.")
    with pytest.raises(BuildError, match="OpenAI answered 400: Your request was rejected by the safety system"):
        _build(project, BRIEF.format(url=server.url))


def test_the_key_is_never_written(project, server):
    _build(project, BRIEF.format(url=server.url))
    for path in project.root.rglob("*"):
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path


def test_a_missing_key_or_a_floating_alias_is_refused_at_the_backend_line(project, server, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    with pytest.raises(DiagnosticError, match="set OPENAI_API_KEY") as exc:
        _build(project, BRIEF.format(url=server.url))
    assert exc.value.diagnostics[0].span.line == 4 and server.requests == []
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    floating = BRIEF.format(url=server.url).replace("gpt-image-1-2025-04-15", "chatgpt-image-latest")
    with pytest.raises(DiagnosticError, match="floating alias"):
        _build(project, floating)
    _build(project, floating, backend_options={"allow_floating": True})
    assert server.requests


def test_max_calls_stops_the_build_before_the_call_over_budget(project, server):
    with pytest.raises(BuildError, match="more than 2 hosted calls"):
        _build(project, BRIEF.format(url=server.url), backend_options={"max_calls": 2})
    assert len(server.requests) == 2


def test_what_the_backend_cannot_do_is_refused_before_any_call(project, server):
    lora = '    lora "looks/brand.safetensors" weight 1\n'
    text = BRIEF.format(url=server.url).replace('    prompt "a red kite"\n', '    prompt "a red kite"\n' + lora)
    project.write("looks/brand.safetensors", "\x10" + "\x00" * 7 + "{}" + " " * 14)  # a safetensors header
    with pytest.raises(DiagnosticError, match="takes no LoRA") as exc:
        _build(project, text)
    (d,) = exc.value.diagnostics
    assert d.code == "E402" and d.span.line == 9 and server.requests == []  # at `component kite`


def test_plan_says_how_many_calls_a_build_will_make_and_makes_none(project, server):
    from brief.runtime.build import plan_file

    project.write("h.brief", BRIEF.format(url=server.url))
    options = Options(cache=project.root / "cache", out=project.root / "out")
    _, plans = plan_file(project.root / "h.brief", options)
    assert plans[0].calls == 3 and "3 hosted calls" in plans[0].summary() and server.requests == []
    _build(project, BRIEF.format(url=server.url))
    _, plans = plan_file(project.root / "h.brief", options)
    assert plans[0].calls == 0 and "0 hosted calls" in plans[0].summary()
