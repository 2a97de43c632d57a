"""The example catalogue brief built with each hosted backend against its test server
(tests/hosted_server.py): one variant, all three outputs (a crop, an out-painted JPEG story, an
out-painted WebP banner), every delivered image equal to its flattened layers, and the brand
checks run on each output. The providers cannot be reached here; the servers speak their documented
request and response shapes."""

from __future__ import annotations

import pytest

pytest.importorskip("openai")
pytest.importorskip("google.genai")
pytest.importorskip("httpx")

from brief.runtime.build import Options, build_file, plan_file  # noqa: E402
from brief.runtime.deliver.layers import verify_folder  # noqa: E402
from hosted_server import BFLImages, GeminiImages, OpenAIImages, StabilityImages  # noqa: E402

BACKENDS = {
    "openai": (OpenAIImages, "gpt-image-1-2025-04-15", "OPENAI_API_KEY"),
    "gemini": (GeminiImages, "gemini-2.5-flash-image", "GEMINI_API_KEY"),
    "bfl": (BFLImages, "flux-pro-1.0-fill", "BFL_API_KEY"),
    "stability": (StabilityImages, "sd3.5-large", "STABILITY_API_KEY"),
}
VARIANT = "launch[sku=volt,season=summer,lang=en]"


@pytest.mark.slow
@pytest.mark.parametrize("name", list(BACKENDS))
def test_the_example_builds_with_each_hosted_backend(name, examples_copy, monkeypatch):
    server_type, model, key_env = BACKENDS[name]
    monkeypatch.setenv(key_env, "test-key-not-secret")
    brief = examples_copy / "campaign" / "launch.brief"
    with server_type() as server:
        line = f'  backend {name} "{model}" endpoint "{server.url}"\n'
        text = brief.read_text().replace("  seed 7\n", "  seed 7\n" + line)
        brief.write_text(text)
        options = Options(cache=examples_copy / "cache", out=examples_copy / "out", variants=[VARIANT],
                          backend_options={"poll_interval": 0.01})
        _, plans = plan_file(brief, options)
        built = build_file(brief, options)
    # the backdrop, the shadow on the canvas and in the banner (which places the product itself), and the
    # story's and the banner's two margins each: as many calls as the plan said
    assert len(server.requests) == plans[0].calls == 8
    folder = examples_copy / "out" / VARIANT
    found = dict(verify_folder(folder))
    assert set(found) == {"canvas", "square", "story", "banner"}
    assert set(found.values()) == {"ok"}
    assert built is not None and (folder / "report.html").is_file()
