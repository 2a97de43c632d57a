"""The tiny Stable Diffusion 3 and FLUX.1 pipelines that scripts/make_tiny_pipeline.py writes offline:
each folder loads as its diffusers pipeline from disk alone (safetensors only), renders
deterministically on a CPU at its 64 px native size, in-paints, and its T5 tokenizer works without
the hub. The full-size configurations are checked by their parameter count on the meta device
(nothing allocated), never built here."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from conftest import REPO  # noqa: E402

sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_pipeline  # noqa: E402

PROMPT = "a red kite in the sky"
SIZE = 64  # every tiny family's native size


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {
        "sd3": make_tiny_pipeline.build_sd3(root / "sd3", seed=0),
        "flux": make_tiny_pipeline.build_flux(root / "flux", seed=0),
        "flux-fill": make_tiny_pipeline.build_flux_fill(root / "flux-fill", seed=0),
    }


@pytest.fixture(scope="module")
def pipes(folders):
    from diffusers import DiffusionPipeline

    return {name: DiffusionPipeline.from_pretrained(folder, local_files_only=True)
            for name, folder in folders.items()}


def _run(pipe, seed=7, **kwargs):
    generator = torch.Generator("cpu").manual_seed(seed)
    return pipe(PROMPT, num_inference_steps=2, height=SIZE, width=SIZE, generator=generator, **kwargs)


def _mask(x0: int = 16) -> Image.Image:
    mask = np.zeros((SIZE, SIZE), np.uint8)
    mask[16:48, x0:x0 + 32] = 255
    return Image.fromarray(mask)


@pytest.mark.parametrize(("name", "expected"), [
    ("sd3", {"_class_name": "StableDiffusion3Pipeline", "transformer": "SD3Transformer2DModel",
             "text_encoder": "CLIPTextModelWithProjection", "text_encoder_2": "CLIPTextModelWithProjection",
             "text_encoder_3": "T5EncoderModel", "scheduler": "FlowMatchEulerDiscreteScheduler"}),
    ("flux", {"_class_name": "FluxPipeline", "transformer": "FluxTransformer2DModel", "text_encoder": "CLIPTextModel",
              "text_encoder_2": "T5EncoderModel", "scheduler": "FlowMatchEulerDiscreteScheduler"}),
    ("flux-fill", {"_class_name": "FluxFillPipeline", "transformer": "FluxTransformer2DModel",
                   "text_encoder_2": "T5EncoderModel"}),
])
def test_folder_names_its_pipeline_and_holds_only_safetensors(folders, pipes, name, expected):
    folder = folders[name]
    index = json.loads((folder / "model_index.json").read_text())
    for key, cls in expected.items():
        assert (index[key] if key == "_class_name" else index[key][1]) == cls, key
    weights = {p.suffix for p in folder.rglob("*") if p.suffix in (".safetensors", ".bin", ".ckpt", ".pt")}
    assert weights == {".safetensors"}
    assert type(pipes[name]).__name__ == expected["_class_name"]
    vae = pipes[name].vae.config
    assert vae.latent_channels == 16


def test_native_size_is_64px_for_every_tiny_family(pipes):
    for name, pipe in pipes.items():
        scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        # the rule for FLUX (its transformer config has no sample_size): the VAE's sample_size
        native = (pipe.transformer.config.sample_size * scale if name == "sd3" else pipe.vae.config.sample_size)
        assert native == SIZE, name
    assert pipes["sd3"].transformer.config.sample_size * pipes["sd3"].vae_scale_factor == SIZE


@pytest.mark.parametrize("name", ["sd3", "flux"])
def test_text_to_image_is_deterministic_and_latents_have_the_family_shape(pipes, name):
    pipe = pipes[name]
    first = np.asarray(_run(pipe).images[0])
    again = np.asarray(_run(pipe).images[0])
    assert first.shape == (SIZE, SIZE, 3)
    assert np.array_equal(first, again)
    other = np.asarray(_run(pipe, seed=8).images[0])
    assert not np.array_equal(first, other)  # the seed reaches the pixels
    latents = _run(pipe, output_type="latent").images
    # SD3: (batch, 16, H/8, W/8); FLUX returns its latents packed in 2x2 patches: (batch, H/16 * W/16, 64)
    assert tuple(latents.shape) == ((1, 16, SIZE // 8, SIZE // 8) if name == "sd3" else (1, (SIZE // 16) ** 2, 64))


def test_sd3_inpaint_from_the_same_components(pipes):
    from diffusers import StableDiffusion3InpaintPipeline

    inpaint = StableDiffusion3InpaintPipeline.from_pipe(pipes["sd3"])
    image = Image.new("RGB", (SIZE, SIZE), (200, 30, 40))
    out = np.asarray(_run(inpaint, image=image, mask_image=_mask(), strength=1.0).images[0])
    assert out.shape == (SIZE, SIZE, 3)
    moved = np.asarray(_run(inpaint, image=image, mask_image=_mask(x0=0), strength=1.0).images[0])
    assert not np.array_equal(out, moved)  # the mask reaches the result


def test_flux_fill_takes_image_and_mask_channels(pipes):
    pipe = pipes["flux-fill"]
    config = pipe.transformer.config
    latent = pipe.vae.config.latent_channels * 4  # packed 2x2
    assert config.in_channels == latent + latent + pipe.vae_scale_factor ** 2 * 4
    assert config.out_channels == latent
    image = Image.new("RGB", (SIZE, SIZE), (200, 30, 40))
    first = np.asarray(_run(pipe, image=image, mask_image=_mask()).images[0])
    again = np.asarray(_run(pipe, image=image, mask_image=_mask()).images[0])
    assert first.shape == (SIZE, SIZE, 3)
    assert np.array_equal(first, again)
    moved = np.asarray(_run(pipe, image=image, mask_image=_mask(x0=0)).images[0])
    assert not np.array_equal(first, moved)  # the mask reaches the transformer


@pytest.mark.parametrize(("name", "sub"), [("sd3", "tokenizer_3"), ("flux", "tokenizer_2")])
def test_t5_tokenizer_loads_offline_and_tokenizes(folders, name, sub):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folders[name] / sub, local_files_only=True)
    ids = tokenizer(PROMPT, padding="max_length", max_length=12).input_ids
    assert ids[:7] == [tokenizer.convert_tokens_to_ids("▁" + w) for w in PROMPT.split()] + [tokenizer.eos_token_id]
    assert tokenizer.unk_token_id not in ids[:6] and ids[7:] == [tokenizer.pad_token_id] * 5
    assert tokenizer.decode(ids, skip_special_tokens=True) == PROMPT
    assert tokenizer("zebra").input_ids == [tokenizer.unk_token_id, tokenizer.eos_token_id]


@pytest.mark.parametrize(("family", "parameters"), [
    ("sd3", 2_028_328_000),    # Stable Diffusion 3 medium's transformer
    ("flux", 11_901_408_320),  # FLUX.1 [dev]'s
])
def test_full_configuration_is_the_real_model_on_the_meta_device(family, parameters):
    from accelerate import init_empty_weights
    from diffusers import FluxTransformer2DModel, SD3Transformer2DModel

    cls, config = ((SD3Transformer2DModel, make_tiny_pipeline.sd3_transformer_config(full=True)) if family == "sd3"
                   else (FluxTransformer2DModel, make_tiny_pipeline.flux_transformer_config(full=True)))
    with init_empty_weights():
        model = cls(**config)
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_cli_writes_the_same_bytes_as_the_builder(folders, tmp_path, monkeypatch):
    assert set(make_tiny_pipeline.BUILDERS) >= {"tiny", "sd15", "sdxl", "tiny-xl", "tiny-sd3", "sd3", "tiny-flux",
                                                "flux", "tiny-flux-fill"}
    dest = tmp_path / "cli"
    monkeypatch.setattr(sys, "argv", ["make_tiny_pipeline.py", str(dest), "--unet", "tiny-flux-fill", "--seed", "0"])
    assert make_tiny_pipeline.main() == 0
    files = sorted(p.relative_to(dest) for p in dest.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(folders["flux-fill"]) for p in folders["flux-fill"].rglob("*") if p.is_file())
    for rel in files:  # same seed, same bytes: the builders are deterministic
        assert (dest / rel).read_bytes() == (folders["flux-fill"] / rel).read_bytes(), rel
