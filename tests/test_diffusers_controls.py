"""The diffusers backend's native resolution and generation controls (issue 16), on the tiny
model of tests/diffusers_project.py: what each control does to the picture, its keys and the lock."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("diffusers")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.backends import diffusers_model  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from conftest import Project  # noqa: E402
from diffusers_project import make_tiny_pipeline  # noqa: E402
from runtime_helpers import pixels, ran  # noqa: E402

SMALL = '''brief s {
  canvas 48 x 48
  seed 5
  backend diffusers "model"
  steps 2
  component ground {
    prompt "green grass"
    context none
  }
  component spot {
    prompt "a red kite"
    region box 30% 30% 60% 60%
    z 2
  }
}
'''


def _nodes(project, name: str) -> dict[str, dict]:
    """The manifest's nodes of a variant, by label."""
    manifest = json.loads((project.root / "out" / name / "manifest.json").read_text())
    return {n["label"]: n for n in manifest["nodes"].values() if n["op"] in ("generate", "inpaint", "remove")}


def test_a_crop_smaller_than_native_is_denoised_at_native_size_and_back(dproject):
    """The tiny model's native size is 64 px (8 latents × the VAE's 8): the 48 px crop around the spot
    is resampled up to 64 × 64, denoised there and brought back; `resolution exact` denoises it at
    48 × 48. Either way, the canvas outside the spot's box is the ground's, bit for bit."""
    path = dproject.write("s.brief", SMALL)
    build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    native = _nodes(dproject, "s")["component spot"]["processing"]
    assert native == {"size": [64, 64], "crop": [48, 48], "steps": 2}
    native_canvas = pixels(dproject.root / "out" / "s" / "main.png")
    ground = pixels(dproject.root / "out" / "s" / "layers" / "ground.png")[..., :3]
    dproject.write("s.brief", SMALL.replace('    region box 30% 30% 60% 60%', '    region box 30% 30% 60% 60%\n'
                                                                               '    resolution exact'))
    build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    assert _nodes(dproject, "s")["component spot"]["processing"] == {"size": [48, 48], "crop": [48, 48], "steps": 2}
    exact_canvas = pixels(dproject.root / "out" / "s" / "main.png")
    outside = np.ones((48, 48), bool)
    outside[14:29, 14:29] = False  # the box, 30%–60% of 48 px
    assert (native_canvas[outside] == ground[outside]).all() and (exact_canvas[outside] == ground[outside]).all()
    assert not np.array_equal(native_canvas[~outside], exact_canvas[~outside])


def test_a_canvas_larger_than_native_is_generated_at_native_size_and_refined_up(warm):
    """The 128 × 96 sky: generated at about native area with its aspect (72 × 56), then refined at
    its own size (3 steps at strength 0.35 of a schedule of 3: 1 step); the manifest says both."""
    processing = _nodes(warm.project, "d")["component sky"]["processing"]
    assert processing == {"size": [128, 96], "base": [72, 56], "base_steps": 3, "steps": 1}


def test_guidance_and_scheduler_are_keyed_and_used(dproject):
    path = dproject.write("s.brief", SMALL)
    first = build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    before = pixels(dproject.root / "out" / "s" / "main.png")
    controlled = SMALL.replace("  steps 2\n", "  steps 2\n  guidance 3.5\n"
                                               "  scheduler EulerAncestralDiscreteScheduler\n")
    dproject.write("s.brief", controlled)
    second = build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    assert {"generate component ground", "generate component spot"} <= ran(second)
    key = next(k for k in second[0].graph if second[0].graph.nodes[k]["label"] == "component spot"
               and second[0].graph.nodes[k]["op"] == "generate")
    assert second[0].graph.nodes[key]["params"]["guidance"] == 3.5
    assert second[0].graph.nodes[key]["params"]["scheduler"] == "EulerAncestralDiscreteScheduler"
    assert not np.array_equal(before, pixels(dproject.root / "out" / "s" / "main.png"))
    assert first  # the first build rendered


def test_a_scheduler_off_the_allow_list_is_refused():
    """A scheduler name off lang's allow-list never loads a class (and no name: the model's own)."""
    from brief.runtime.context import OpError

    pipe = SimpleNamespace(scheduler=None)
    with pytest.raises(OpError, match="not one brief can use"):
        diffusers_model.with_scheduler(pipe, "MyRemoteScheduler")
    assert diffusers_model.with_scheduler(pipe, None) is pipe


def test_a_lora_is_applied_keyed_and_locked(dproject, tmp_path):
    """`lora "…" weight F`: a real LoRA file (peft adapters, safetensors) changes what the model draws;
    its bytes key the nodes and are pinned in brief.lock (a changed file is refused until
    --update-lock); after the build the model is as it was (the adapters are unloaded)."""
    import make_tiny_lora

    make_tiny_lora.build(dproject.root / "model", dproject.root / "looks" / "brand.safetensors")
    path = dproject.write("s.brief", SMALL)
    build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    plain = pixels(dproject.root / "out" / "s" / "main.png")
    styled = SMALL.replace("  steps 2\n", '  steps 2\n  lora "looks/brand.safetensors" weight 0.9\n')
    dproject.write("s.brief", styled)
    built = build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    assert {"encode_prompt component spot", "generate component spot", "generate component ground"} <= ran(built)
    assert not np.array_equal(plain, pixels(dproject.root / "out" / "s" / "main.png"))
    lock = (dproject.root / "brief.lock").read_text()
    assert "lora:looks/brand.safetensors" in lock
    dproject.write("s.brief", SMALL)  # without it: the first render again, from the cache, unchanged model
    again = build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    assert not ran(again) and np.array_equal(plain, pixels(dproject.root / "out" / "s" / "main.png"))
    make_tiny_lora.build(dproject.root / "model", dproject.root / "looks" / "brand.safetensors", seed=1)
    dproject.write("s.brief", styled)
    with pytest.raises(DiagnosticError, match="lora:looks/brand.safetensors changed"):
        build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))


def test_a_lora_must_be_safetensors(project):
    project.write("looks/old.ckpt", "pickled")
    found = project.diagnostics('brief b {\n  lora "looks/old.ckpt" weight 1\n  component c { prompt "x" }\n}\n')
    assert [d.code for d in found] == ["E364"]


def test_a_controlnet_keeps_a_layers_silhouette(dproject):
    """`control canny from product`: the kite is generated with a ControlNet (a tiny one made from the
    model's UNet) conditioned on the product's edges; the ControlNet's files key the nodes and are
    pinned in brief.lock; without its `controlnet` declaration the brief does not check."""
    make_tiny_pipeline.build_controlnet(dproject.root / "model", dproject.root / "cn-canny")
    text = SMALL.replace("  component spot {", '''  component product {
    asset "assets/product.png"
    region box 10% 50% 45% 95%
    z 3
  }
  component spot {''')
    path = dproject.write("s.brief", text)
    build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    plain = pixels(dproject.root / "out" / "s" / "layers" / "spot.png")
    guided = text.replace('    region box 30% 30% 60% 60%', '    region box 30% 30% 60% 60%\n'
                                                               '    control canny from product weight 1.5')
    guided = guided.replace("  steps 2\n", '  steps 2\n  controlnet canny "cn-canny"\n')
    dproject.write("s.brief", guided)
    built = build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    assert "generate component spot" in ran(built) and "generate component ground" not in ran(built)
    guided_spot = pixels(dproject.root / "out" / "s" / "layers" / "spot.png")
    assert not np.array_equal(plain, guided_spot)
    assert "controlnet:cn-canny/diffusion_pytorch_model.safetensors" in (dproject.root / "brief.lock").read_text()
    # the product lies above the spot: only the ControlNet lets its shape reach the spot
    from PIL import Image

    Image.new("RGBA", (64, 48), (0, 0, 0, 0)).save(dproject.root / "assets" / "product.png")
    rebuilt = build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    assert "generate component spot" in ran(rebuilt) and "generate component ground" not in ran(rebuilt)
    assert not np.array_equal(guided_spot, pixels(dproject.root / "out" / "s" / "layers" / "spot.png"))
    found = dproject.diagnostics(guided.replace('  controlnet canny "cn-canny"\n', ""), rel="s.brief")
    assert [d.code for d in found] == ["E366"]


def test_control_is_refused_on_transformer_families():
    from brief.runtime.backends import diffusers_control
    from brief.runtime.context import OpError

    class FluxPipeline:  # what the family is told by: the pipeline's class
        text_encoder_2 = None

    with pytest.raises(OpError, match="needs a Stable Diffusion 1.x or SDXL model"):
        diffusers_control.pipeline(FluxPipeline(), object(), "text2image")


def test_a_canvas_over_twice_native_is_refined_tile_by_tile(dproject):
    """160 × 144 with a 64 px model: generated at native area, refined in overlapping native tiles
    (blended), deterministically: a second build from an empty cache gives the same bytes."""
    text = '''brief t {
  canvas 160 x 144
  seed 2
  backend diffusers "model"
  steps 2
  component sky {
    prompt "blue sky clouds"
  }
}
'''
    path = dproject.write("t.brief", text)
    build_file(path, Options(cache=dproject.root / "c1", out=dproject.root / "o1"))
    nodes = json.loads((dproject.root / "o1" / "t" / "manifest.json").read_text())["nodes"]
    (sky,) = [n for n in nodes.values() if n["op"] == "generate"]
    assert sky["processing"]["tiles"] == 9 and sky["processing"]["base"] == [64, 64]
    build_file(path, Options(cache=dproject.root / "c2", out=dproject.root / "o2"))
    first, second = (dproject.root / "o1" / "t" / "main.png"), (dproject.root / "o2" / "t" / "main.png")
    assert pixels(first).shape == (144, 160, 3) and first.read_bytes() == second.read_bytes()


def test_guidance_alone_and_scheduler_alone_each_change_the_picture(dproject):
    path = dproject.write("s.brief", SMALL)
    build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
    base = pixels(dproject.root / "out" / "s" / "main.png")
    seen = [base]
    for line in ("  guidance 2.5\n", "  scheduler EulerAncestralDiscreteScheduler\n"):
        dproject.write("s.brief", SMALL.replace("  steps 2\n", "  steps 2\n" + line))
        build_file(path, Options(cache=dproject.root / "cache", out=dproject.root / "out"))
        seen.append(pixels(dproject.root / "out" / "s" / "main.png"))
    assert not np.array_equal(seen[0], seen[1]) and not np.array_equal(seen[0], seen[2])


def test_with_scheduler_builds_the_class_from_the_models_config_and_refuses_a_mismatch(tiny_model):
    from brief.runtime.context import OpError

    pipe = diffusers_model.load_pipeline(str(tiny_model), "cpu", "float32")
    swapped = diffusers_model.with_scheduler(pipe, "UniPCMultistepScheduler")
    assert type(swapped.scheduler).__name__ == "UniPCMultistepScheduler" and swapped is not pipe
    assert swapped.scheduler.config.beta_schedule == pipe.scheduler.config.beta_schedule == "scaled_linear"
    assert type(pipe.scheduler).__name__ == "DDIMScheduler"  # the model's own pipeline untouched
    with pytest.raises(OpError, match="takes a discrete one"):
        diffusers_model.with_scheduler(pipe, "FlowMatchEulerDiscreteScheduler")


def test_a_lora_leaves_nothing_behind_in_the_model(dproject):
    """After a build with a LoRA, the same process renders without it exactly as before (a fresh
    cache: every node runs on the model the LoRA was loaded into and unloaded from)."""
    import make_tiny_lora

    make_tiny_lora.build(dproject.root / "model", dproject.root / "looks" / "brand.safetensors")
    path = dproject.write("s.brief", SMALL)
    build_file(path, Options(cache=dproject.root / "c1", out=dproject.root / "o1"))
    dproject.write("s.brief", SMALL.replace("  steps 2\n", '  steps 2\n  lora "looks/brand.safetensors" weight 1\n'))
    build_file(path, Options(cache=dproject.root / "c2", out=dproject.root / "o2"))
    dproject.write("s.brief", SMALL)
    build_file(path, Options(cache=dproject.root / "c3", out=dproject.root / "o3"))
    first, again = (dproject.root / d / "s" / "main.png" for d in ("o1", "o3"))
    assert first.read_bytes() == again.read_bytes()


def test_sides_the_model_cannot_take_are_padded_and_incremental_equals_clean(tmp_path, tmp_path_factory, monkeypatch):
    """SD3 needs multiples of 16: a 72 px canvas with a full-width in-paint, a full-width component and
    an out-painted 72 × 120 output builds; a change beside the in-paint re-runs it or reuses it exactly
    as a clean build would make it."""
    monkeypatch.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
    project = Project(tmp_path)
    make_tiny_pipeline.build(project.root / "model", unet_size="tiny-sd3")
    text = '''brief p {
  canvas 72 x 72
  backend diffusers "model"
  steps 2
  component sky { prompt "blue sky" }
  component band {
    prompt "a red kite"
    region box 0% 60% 100% 90%
    z 2
  }
  component spot {
    prompt "green"
    region box 80% 5% 100% 40%
    context none
    z 3
  }
  edit e {
    inpaint box 0% 10% 100% 30%
    prompt "clouds"
  }
  output tall 72 x 120 outpaint
}
'''
    project.write("p.brief", text)
    build_file(project.root / "p.brief", Options(cache=project.root / "cache", out=project.root / "out"))
    changed = text.replace('prompt "green"', 'prompt "a blue kite"')
    project.write("p.brief", changed)
    build_file(project.root / "p.brief", Options(cache=project.root / "cache", out=project.root / "out"))
    build_file(project.root / "p.brief", Options(cache=project.root / "clean", out=project.root / "clean-out"))
    for name in ("canvas.png", "tall.png"):
        incremental, clean = project.root / "out" / "p" / name, project.root / "clean-out" / "p" / name
        assert incremental.read_bytes() == clean.read_bytes()
