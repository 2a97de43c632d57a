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

import numpy as np
import pytest

pytest.importorskip("diffusers")

from brief.lang.diagnostics import DiagnosticError  # noqa: E402
from brief.runtime.backends import diffusers as backend  # noqa: E402
from brief.runtime.backends import diffusers_model  # noqa: E402
from brief.runtime.build import Options, build_file  # noqa: E402
from diffusers_project import BRIEF, dbuild, make_tiny_pipeline  # noqa: E402
from runtime_helpers import output_bytes, pixels, ran  # noqa: E402


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
