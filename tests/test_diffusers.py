"""The diffusers backend end to end on CPU, with a tiny random Stable Diffusion pipeline made
offline by scripts/make_tiny_pipeline.py: every op, the runtime guarantees, the lockfile.

One model is made and one build from an empty cache is rendered per session (`warm`); each test's
project starts as a copy of that build (cache, outputs, lock), so a test renders only what its own
change makes it render. The tests whose claim is about a cold build (every op runs; a change
matches a clean build) say so and build from nothing."""

from __future__ import annotations

import json
import os
import shutil
import sys
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("diffusers")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.backends import diffusers as backend  # noqa: E402
from brief.runtime.backends import diffusers_model  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from conftest import REPO, Project  # noqa: E402
from runtime_helpers import output_bytes, pixels, ran  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_pipeline  # noqa: E402

BRIEF = '''use "brands/acme.brief"
brief d {
  canvas 128 x 96
  seed 3
  backend diffusers "model"
  steps 3
  brand acme
  component sky {
    prompt "blue sky clouds"
  }
  component kite {
    prompt "a red kite"
    region box 55% 5% 95% 45%
    z 2
  }
  component bird {
    prompt "green"
    region box 2% 2% 25% 30%
    context none
    z 3
  }
  component product {
    asset "assets/product.png"
    region box 30% 55% 60% 95%
    z 4
  }
  edit fix {
    inpaint box 2% 60% 25% 95%
    prompt "grass"
  }
  edit tidy {
    remove box 70% 70% 90% 95%
  }
  edit tone {
    recolor product to red
  }
  edit seam {
    harmonize product band 4px
  }
  output wide 160 x 96 outpaint
  output small 64 x 64 crop
}
'''


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory):
    return make_tiny_pipeline.build(tmp_path_factory.mktemp("tiny") / "model")


def _new_project(root, tiny_model) -> Project:
    project = Project(root)
    shutil.copytree(tiny_model, project.root / "model")
    project.write("d.brief", BRIEF)
    return project


@pytest.fixture(scope="session")
def warm(tiny_model, tmp_path_factory):
    """BRIEF built once from an empty cache: (its project, what the build returned). Read only."""
    project = _new_project(tmp_path_factory.mktemp("warm"), tiny_model)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
        built = dbuild(project)
    return SimpleNamespace(project=project, built=built)


@pytest.fixture
def dproject(tmp_path, tiny_model, warm, monkeypatch, tmp_path_factory):
    """A project of its own (model files, hash memo) holding a copy of the warm build: its first
    `dbuild` renders nothing, as the second build of a project would."""
    project = _new_project(tmp_path, tiny_model)
    monkeypatch.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
    shutil.copytree(warm.project.root / "cache", project.root / "cache")
    shutil.copytree(warm.project.root / "out", project.root / "out")
    shutil.copy2(warm.project.root / "brief.lock", project.root / "brief.lock")
    return project


def dbuild(project, text=None, cache="cache", out="out", **kw):
    if text is not None:
        project.write("d.brief", text)
    return build_file(project.root / "d.brief", Options(cache=project.root / cache, out=project.root / out, **kw))


def test_every_op_runs_end_to_end(warm):
    built, root = warm.built, warm.project.root  # a build from an empty cache
    ops = {op.split(" ")[0] for op in ran(built)}
    assert {"encode_prompt", "generate", "load_asset", "composite", "inpaint", "remove", "recolor", "harmonize",
            "outpaint", "reframe"} <= ops
    folder = root / "out" / "d"
    assert pixels(folder / "wide.png").shape == (96, 160, 3) and pixels(folder / "small.png").shape == (64, 64, 3)
    assert pixels(folder / "layers" / "kite.png")[..., 3].max() == 255
    lock = json.loads(json.dumps(built[0].variant.backend))
    assert {"files", "dtype", "device", "torch", "diffusers", "pipeline"} <= set(lock)
    assert list(root.glob("cache/objects/*/latents-*.safetensors"))


def test_a_project_copied_from_the_warm_build_renders_nothing(warm, dproject):
    """What the other tests stand on: the copy is the warm build's state, not a cold start."""
    assert ran(dbuild(dproject)) == set()
    assert output_bytes(dproject.root / "out") == output_bytes(warm.project.root / "out")


def test_noop_rebuild_runs_nothing_and_loads_no_model(dproject, monkeypatch):
    dbuild(dproject)
    monkeypatch.setattr(diffusers_model, "load_pipeline", lambda *a: pytest.fail("model loaded"))
    monkeypatch.setattr(backend, "load_pipeline", lambda *a: pytest.fail("model loaded"))
    assert ran(dbuild(dproject)) == set()


def test_prompt_change_rerenders_only_its_region_and_matches_a_clean_build(dproject, tmp_path):
    dbuild(dproject)
    before = pixels(dproject.root / "out" / "d" / "layers" / "sky.png")
    changed = BRIEF.replace('"a red kite"', '"a blue kite"')
    again = dbuild(dproject, changed)
    assert "generate component kite" in ran(again)
    assert not ran(again) & {"generate component sky", "generate component bird", "encode_prompt component sky"}
    assert np.array_equal(before, pixels(dproject.root / "out" / "d" / "layers" / "sky.png"))
    clean = build_file(dproject.root / "d.brief", Options(cache=tmp_path / "c2", out=tmp_path / "o2"))  # cold
    assert clean and output_bytes(tmp_path / "o2") == output_bytes(dproject.root / "out")


def test_finishing_change_reuses_cached_latents(dproject):
    dbuild(dproject)
    latents = set(dproject.root.glob("cache/objects/*/latents-*.safetensors"))
    again = dbuild(dproject, BRIEF.replace("    z 2\n", "    z 2\n    opacity 80%\n"))
    assert "generate component kite" in ran(again)
    assert set(dproject.root.glob("cache/objects/*/latents-*.safetensors")) == latents


def test_lockfile_refuses_changed_weights_until_updated(dproject):
    dbuild(dproject)
    lock = (dproject.root / "brief.lock").read_text()
    assert "unet/diffusion_pytorch_model.safetensors" in lock and "torch" in lock
    weights = dproject.root / "model" / "unet" / "diffusion_pytorch_model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(DiagnosticError) as info:
        dbuild(dproject)
    (d,) = info.value.diagnostics
    assert d.code == "E401" and "unet/diffusion_pytorch_model.safetensors changed" in d.summary
    assert "--update-lock" in d.detail
    assert dbuild(dproject, update_lock=True)
    assert (dproject.root / "brief.lock").read_text() != lock


def _hostile_header(path, prefix):
    """Overwrite a safetensors file's header: a huge length, or a tensor whose data lie far outside."""
    data = path.read_bytes()
    if prefix is not None:
        path.write_bytes(prefix + data[8:])
        return
    header = json.dumps({"w": {"dtype": "F32", "shape": [2**40], "data_offsets": [0, 2**42]}}).encode()
    path.write_bytes(len(header).to_bytes(8, "little") + header + b"\0" * 16)


@pytest.mark.parametrize("damage, message", [
    (lambda m: [p.unlink() for p in (m / "unet").glob("*.safetensors")] and
     (m / "unet" / "diffusion_pytorch_model.bin").write_bytes(b"x"), "safetensors weights only"),
    (lambda m: (m / "model_index.json").write_text(
        (m / "model_index.json").read_text().replace("StableDiffusionPipeline", "MyPipeline")), "not supported"),
    (lambda m: (m / "model_index.json").write_text(
        (m / "model_index.json").read_text().replace('"diffusers",\n    "UNet2D', '"my_code",\n    "UNet2D')),
     "never run"),
    (lambda m: shutil.rmtree(m), "does not exist"),
    (lambda m: (m / "model_index.json").write_text("[1, 2]"), "not a JSON object"),
    (lambda m: (m / "model_index.json").write_text('{"_class_name": ["StableDiffusionPipeline"]}'), "not supported"),
    (lambda m: (m / "vae" / "config.json").write_text('{"scaling_factor": 0.18'), "not readable JSON"),
    (lambda m: _hostile_header(m / "unet" / "diffusion_pytorch_model.safetensors", (2**62).to_bytes(8, "little")),
     "not a safetensors file"),
    (lambda m: _hostile_header(m / "unet" / "diffusion_pytorch_model.safetensors", None), "points outside the file"),
])
def test_unsafe_or_missing_models_are_refused(dproject, damage, message):
    damage(dproject.root / "model")
    with pytest.raises(DiagnosticError) as info:
        dbuild(dproject)
    assert message in info.value.diagnostics[0].summary
    assert info.value.diagnostics[0].span.line == 5


def test_hub_id_needs_a_revision_and_offline_is_a_clear_error(dproject, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DiagnosticError) as info:
        dbuild(dproject, BRIEF.replace('"model"', '"someorg/somemodel"'))
    assert "needs a pinned revision" in info.value.diagnostics[0].summary
    with pytest.raises(DiagnosticError) as info:
        dbuild(dproject, BRIEF.replace('"model"', '"someorg/somemodel" revision "abc123"'))
    assert "could not be fetched from the hub" in info.value.diagnostics[0].summary


def test_pixels_outside_rerendered_regions_stay_bit_identical(dproject):
    text = BRIEF.replace("  output wide 160 x 96 outpaint\n  output small 64 x 64 crop\n", "")
    dbuild(dproject, text)
    before = pixels(dproject.root / "out" / "d" / "main.png")
    again = dbuild(dproject, text.replace("    context none\n", "    context none\n    seed 99\n"))  # the bird
    after = pixels(dproject.root / "out" / "d" / "main.png")
    (b,) = again
    changed = np.zeros(before.shape[:2], bool)
    for key in b.run.ran:
        a = b.graph.nodes[key]
        if a["op"] in ("generate", "inpaint", "remove", "recolor", "harmonize") and key not in b.run.reused:
            x0, y0, x1, y1 = a["region"]
            changed[y0:y1, x0:x1] = True
    assert changed.mean() < 0.5 and np.array_equal(before[~changed], after[~changed])
    assert not np.array_equal(before[changed], after[changed])


def test_sdxl_pipelines_work_too(project, tmp_path_factory, monkeypatch):
    model = make_tiny_pipeline.build(project.root / "model", unet_size="tiny-xl")
    monkeypatch.setattr(diffusers_model, "HASH_MEMO", tmp_path_factory.mktemp("memo") / "hashes.json")
    assert model.exists()
    text = '''brief x {
  canvas 64 x 64
  backend diffusers "model"
  steps 2
  component sky {
    prompt "blue park"
  }
  component kite {
    prompt "a red kite"
    region box 40% 40% 90% 90%
  }
}
'''
    built = dbuild(project, text)
    assert built[0].variant.backend["pipeline"] == "StableDiffusionXLPipeline"
    assert pixels(project.root / "out" / "x" / "main.png").shape == (64, 64, 3)


# ── model identity is its content (issue 10, point 1) ────────────────────────────────────────────

def _flip_keeping_stat_times(path, offset=-3):
    """Change one byte of a file and put its atime/mtime back, as `touch -r` would."""
    st = path.stat()
    data = bytearray(path.read_bytes())
    data[offset] ^= 1
    path.write_bytes(bytes(data))
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_mtime_ns == st.st_mtime_ns and path.stat().st_size == st.st_size


def test_a_weight_byte_flipped_with_mtime_restored_is_refused(dproject):
    dbuild(dproject)
    _flip_keeping_stat_times(dproject.root / "model" / "unet" / "diffusion_pytorch_model.safetensors")
    with pytest.raises(DiagnosticError) as info:
        dbuild(dproject)
    assert "unet/diffusion_pytorch_model.safetensors changed" in info.value.diagnostics[0].summary


@pytest.mark.parametrize("rel, edit", [
    ("vae/config.json", lambda t: t.replace('"scaling_factor": 0.18215', '"scaling_factor": 0.2')),
    ("tokenizer/tokenizer_config.json", lambda t: t.replace("{", '{\n  "clean_up_tokenization_spaces": true,', 1)),
    ("scheduler/scheduler_config.json", lambda t: t.replace('"beta_end": 0.012', '"beta_end": 0.013')),
    ("model_index.json", lambda t: t.replace("{", '{\n  "_name_or_path": "x",', 1)),
    ("unet/extra_lora.safetensors", None),
])
def test_every_model_file_that_can_change_the_output_is_locked_and_keyed(dproject, rel, edit):
    from brief.runtime.build import plan_file

    dbuild(dproject)
    path = dproject.root / "model" / rel
    if edit is None:  # a new file (a LoRA dropped in the folder)
        from safetensors.numpy import save_file

        save_file({"lora_down": np.zeros((4, 4), np.float32)}, str(path))
    else:
        text = path.read_text()
        assert edit(text) != text, "the edit must change the file"
        path.write_text(edit(text))
    with pytest.raises(DiagnosticError) as info:
        dbuild(dproject)
    summary = info.value.diagnostics[0].summary
    assert info.value.diagnostics[0].code == "E401" and rel in summary
    options = Options(cache=dproject.root / "cache", out=dproject.root / "out", update_lock=True)
    _, (plan,) = plan_file(dproject.root / "d.brief", options)
    assert {s.op for s in plan.steps} >= {"encode_prompt", "generate"}, "model files are part of every model key"
    assert rel in (dproject.root / "brief.lock").read_text()


def test_verify_rehashes_even_when_the_memo_says_otherwise(dproject):
    dbuild(dproject)
    memo = json.loads(diffusers_model.HASH_MEMO.read_text())
    poisoned = {k: "0" * 64 for k in memo}
    diffusers_model.HASH_MEMO.write_text(json.dumps(poisoned))
    diffusers_model.forget_hashes()  # a new process: nothing memoised in memory
    with pytest.raises(DiagnosticError):
        dbuild(dproject)  # the memo is trusted without --verify
    diffusers_model.forget_hashes()
    assert dbuild(dproject, verify=True)  # re-hashed: the files match the lock
    assert json.loads(diffusers_model.HASH_MEMO.read_text()) == memo, "--verify repairs the memo"


def test_a_model_changed_on_disk_is_loaded_again_by_a_long_lived_process(dproject):
    dbuild(dproject)
    loads = diffusers_model.load_pipeline.cache_info().misses
    config = dproject.root / "model" / "vae" / "config.json"
    config.write_text(config.read_text().replace('"scaling_factor": 0.18215', '"scaling_factor": 0.2'))
    dbuild(dproject, update_lock=True)  # as `brief watch --update-lock` would, in the same process
    assert diffusers_model.load_pipeline.cache_info().misses > loads, "the old pipeline rendered the new keys"


def test_an_interior_change_keeps_the_outpaint_margins_without_a_unet_step(dproject, tmp_path):
    text = '''brief o {
  canvas 320 x 160
  seed 4
  backend diffusers "model"
  steps 2
  component sky {
    prompt "blue sky"
  }
  component spot {
    prompt "a red spot"
    region box 40% 44% 55% 56%
    context none
  }
  output tall 320 x 320 outpaint
}
'''
    path = dproject.write("o.brief", text)
    options = Options(cache=dproject.root / "cache", out=dproject.root / "out")
    build_file(path, options)
    painted, inside = [], []  # the model's in-paints made while the out-paint runs
    real_inpaint, real_outpaint = backend._inpaint_region, backend.OPS["outpaint"]

    def outpaint(ctx, params, inputs):
        inside.append(True)
        try:
            return real_outpaint(ctx, params, inputs)
        finally:
            inside.pop()

    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setattr(backend, "_inpaint_region", lambda ctx, image, box, *a, **k: (painted.append(box) if inside
                                                                                       else None) or
                        real_inpaint(ctx, image, box, *a, **k))
    monkeypatch.setitem(backend.OPS, "outpaint", outpaint)
    try:
        path.write_text(text.replace("a red spot", "a green spot"))
        (again,) = build_file(path, options)
    finally:
        monkeypatch.undo()
    assert "outpaint output tall" in ran([again])
    assert painted == [], "the margins were repainted"
    build_file(path, Options(cache=tmp_path / "clean", out=tmp_path / "clean-out"))
    clean = pixels(tmp_path / "clean-out" / "o" / "tall.png")
    assert pixels(dproject.root / "out" / "o" / "tall.png").tobytes() == clean.tobytes()


# ── native resolution and generation controls (issue 16) ──────────────────────

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


def test_the_scheduler_comes_from_the_models_config():
    """`with_scheduler` builds the named class from the model's own scheduler config and leaves the
    model's pipeline as it was; a name off the allow-list is refused."""
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
