"""Write a tiny, randomly initialised diffusion pipeline to a folder, offline, in seconds.

Families: Stable Diffusion 1.x (`tiny`, `sd15`), SDXL (`tiny-xl`, `sdxl`), Stable Diffusion 3
(`tiny-sd3`, `sd3`) and FLUX.1 (`tiny-flux`, `flux`, `tiny-flux-fill`). Each has every part of the
real model (denoiser, VAE, text encoders, tokenizers, scheduler) at toy sizes, saved with
`save_pretrained` as safetensors, so tests can run the diffusers backend end to end on a CPU without
downloading anything; the images it makes are noise, deterministically. The names without `tiny`
give the real denoiser configuration, randomly initialised, for GPU benchmarks only.

Native size (what a backend renders at by default), 64 px for every tiny family:
- UNet (SD 1.x, SDXL): `unet.config.sample_size * vae_scale_factor`;
- SD3: `transformer.config.sample_size * vae_scale_factor`;
- FLUX: its transformer config has no sample_size and `FluxPipeline.default_sample_size` is a
  constant 128 (1024 px), so read `vae.config.sample_size` (1024 in the real FLUX.1 VAE);
where `vae_scale_factor = 2 ** (len(vae.config.block_out_channels) - 1)`.

    .venv/bin/python scripts/make_tiny_pipeline.py DEST [--seed N] [--unet FAMILY]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

# The words every tiny tokenizer knows (CLIP and T5 alike); any other word is one unknown token.
WORDS = ["a", "red", "kite", "sky", "park", "summer", "autumn", "shadow", "grass", "shoe", "soft", "the", "in",
         "on", "blue", "green", "clouds", "light", "boat", "yellow", "product", "studio", "floor", "daylight"]
VAE_STRIDE = 8  # every family here has the real 8x VAE (four blocks), tiny or full
SD3_VAE = dict(latent_channels=16, scaling_factor=1.5305, shift_factor=0.0609, use_quant_conv=False,
               use_post_quant_conv=False)
FLUX_VAE = dict(SD3_VAE, scaling_factor=0.3611, shift_factor=0.1159)


def build(dest: Path, seed: int = 0, unet_size: str = "tiny") -> Path:
    """`unet_size`: "tiny" (tests), or "sd15" — the real Stable Diffusion 1.5 UNet configuration,
    randomly initialised (the cost of a UNet step does not depend on its weights), for benchmarks;
    any other key of `BUILDERS` ("sdxl", "tiny-xl", "tiny-sd3", "flux", ...) makes that family."""
    if unet_size not in ("tiny", "sd15"):
        return BUILDERS[unet_size](dest, seed)
    import torch
    from diffusers import DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(seed)
    width = 16
    if unet_size == "sd15":
        width = 768
        unet = UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(320, 640, 1280, 1280),
            down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
            up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3, cross_attention_dim=768, attention_head_dim=8)
    else:
        unet = UNet2DConditionModel(
            sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
            down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
            cross_attention_dim=16, attention_head_dim=2, norm_num_groups=4)
    vae = _vae()
    tokenizer, n = _tokenizer(["<|startoftext|>", "<|endoftext|>", "a", "red", "kite", "sky", "park", "summer",
                               "autumn", "shadow", "grass", "shoe", "soft", "the", "in", "on", "blue", "green",
                               "clouds", "light"])
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=n, hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1,
        num_attention_heads=2, max_position_embeddings=77, projection_dim=width, bos_token_id=0, eos_token_id=1,
        pad_token_id=1))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


def _tokenizer(words: list[str]):
    """A CLIP tokenizer (vocab.json + merges.txt) knowing `words` whole, and its vocabulary size."""
    from transformers import CLIPTokenizer

    vocab = {w + ("" if w.startswith("<|") else "</w>"): i for i, w in enumerate(words)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
        return CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"), model_max_length=77), len(vocab)


def _t5_tokenizer(words: list[str]):
    """A T5 tokenizer built offline: a SentencePiece-style Unigram model over `words` (each one piece,
    "▁word"), ids <pad>=0, </s>=1, <unk>=2 as in T5, "</s>" appended; and its vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)] + [("\u2581" + w, -1.0) for w in words]
    backend = Tokenizer(models.Unigram(pieces, unk_id=2))
    backend.pre_tokenizer = pre_tokenizers.Metaspace()
    backend.decoder = decoders.Metaspace()
    backend.post_processor = processors.TemplateProcessing(single="$A </s>", pair="$A </s> $B </s>",
                                                           special_tokens=[("</s>", 1)])
    tokenizer = T5TokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>", unk_token="<unk>",
                                extra_ids=0, model_max_length=512)
    return tokenizer, len(pieces)


def _vae(full: bool = False, **config):
    """The VAE, with the real 8x stride: toy widths, or the real SD3/FLUX widths when `full`."""
    from diffusers import AutoencoderKL

    size = (dict(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, sample_size=1024)
            if full else dict(block_out_channels=(4, 8, 8, 8), layers_per_block=1, norm_num_groups=4, sample_size=64))
    config = {"latent_channels": 4, **config}
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 4,
                         up_block_types=("UpDecoderBlock2D",) * 4, **size, **config)


def _clip(cls, vocab_size: int, width: int):
    """A one-layer CLIP text encoder of `width` (768: CLIP-L, 1280: CLIP-G), with projection if `cls` has it."""
    from transformers import CLIPTextConfig

    return cls(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=width, intermediate_size=4 * width, num_hidden_layers=1,
        num_attention_heads=width // 64 if width >= 128 else 2, max_position_embeddings=77, projection_dim=width,
        bos_token_id=0, eos_token_id=1, pad_token_id=1))


def _t5(vocab_size: int, d_model: int, full: bool):
    """A one-layer T5 v1.1 encoder (gated GELU); `full`: T5-XXL's widths (d_model 4096)."""
    from transformers import T5Config, T5EncoderModel

    heads, d_kv, d_ff = (64, 64, 10240) if full else (2, d_model // 2, 2 * d_model)
    return T5EncoderModel(T5Config(
        vocab_size=vocab_size, d_model=d_model, d_kv=d_kv, d_ff=d_ff, num_layers=1, num_heads=heads,
        relative_attention_num_buckets=32 if full else 8, feed_forward_proj="gated-gelu", pad_token_id=0,
        eos_token_id=1, decoder_start_token_id=0))


def sd3_transformer_config(full: bool = False) -> dict:
    """SD3Transformer2DModel's configuration: Stable Diffusion 3 medium's when `full`, else toy sizes whose
    native size is `sample_size` 8 latents x 8 = 64 px. Its text encoders follow from it: two CLIPs whose
    projections add up to `pooled_projection_dim`, and a T5 of width `joint_attention_dim`."""
    if full:
        return dict(sample_size=128, patch_size=2, in_channels=16, out_channels=16, num_layers=24,
                    attention_head_dim=64, num_attention_heads=24, joint_attention_dim=4096,
                    caption_projection_dim=1536, pooled_projection_dim=768 + 1280, pos_embed_max_size=192)
    return dict(sample_size=8, patch_size=2, in_channels=16, out_channels=16, num_layers=2, attention_head_dim=8,
                num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=16 + 32,
                pos_embed_max_size=128)  # up to 128 patches x 2 x 8 = 2048 px a side


def flux_transformer_config(full: bool = False, fill: bool = False) -> dict:
    """FluxTransformer2DModel's configuration: FLUX.1 [dev]'s when `full` (distilled guidance embedded),
    else toy sizes. Latents (16 channels) enter packed in 2x2 patches: 64 channels; the Fill model also
    takes the packed masked-image latents (64) and the mask, one 8x8 pixel block per latent, packed (256)."""
    latent = SD3_VAE["latent_channels"] * 4
    sizes = (dict(num_layers=19, num_single_layers=38, attention_head_dim=128, num_attention_heads=24,
                  joint_attention_dim=4096, pooled_projection_dim=768, axes_dims_rope=(16, 56, 56)) if full else
             dict(num_layers=1, num_single_layers=1, attention_head_dim=16, num_attention_heads=2,
                  joint_attention_dim=32, pooled_projection_dim=32, axes_dims_rope=(4, 6, 6)))
    return dict(patch_size=1, in_channels=latent + latent + VAE_STRIDE**2 * 4 if fill else latent,
                out_channels=latent if fill else None, guidance_embeds=True, **sizes)


def build_sd3(dest: Path, seed: int = 0, full: bool = False) -> Path:
    """A Stable Diffusion 3 pipeline: CLIP-L and CLIP-G (with projection), T5, an MMDiT, a 16-channel VAE."""
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, SD3Transformer2DModel, StableDiffusion3Pipeline
    from transformers import CLIPTextModelWithProjection

    torch.manual_seed(seed)
    config = sd3_transformer_config(full)
    clip_l, clip_g = (768, 1280) if full else (16, 32)
    tokenizer, n = _tokenizer(["<|startoftext|>", "<|endoftext|>", *WORDS])
    t5_tokenizer, m = _t5_tokenizer(WORDS)
    pipe = StableDiffusion3Pipeline(
        transformer=SD3Transformer2DModel(**config), vae=_vae(full, **SD3_VAE),
        text_encoder=_clip(CLIPTextModelWithProjection, n, clip_l), tokenizer=tokenizer,
        text_encoder_2=_clip(CLIPTextModelWithProjection, n, clip_g), tokenizer_2=tokenizer,
        text_encoder_3=_t5(m, config["joint_attention_dim"], full), tokenizer_3=t5_tokenizer,
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0))
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


def build_flux(dest: Path, seed: int = 0, full: bool = False) -> Path:
    """A FLUX.1 [dev] pipeline: CLIP-L (pooled), T5, the flux transformer, a 16-channel VAE. `full` is
    made and saved in bfloat16 (as FLUX.1 ships): 12B parameters would be 48 GB in float32."""
    return _build_flux(dest, seed, full, fill=False)


def build_flux_fill(dest: Path, seed: int = 0) -> Path:
    """A FLUX.1 Fill pipeline at toy size: its transformer also takes the masked image and the mask."""
    return _build_flux(dest, seed, False, fill=True)


def _build_flux(dest: Path, seed: int, full: bool, fill: bool) -> Path:
    import torch
    from diffusers import FlowMatchEulerDiscreteScheduler, FluxFillPipeline, FluxPipeline, FluxTransformer2DModel
    from transformers import CLIPTextModel

    torch.manual_seed(seed)
    config = flux_transformer_config(full, fill)
    tokenizer, n = _tokenizer(["<|startoftext|>", "<|endoftext|>", *WORDS])
    t5_tokenizer, m = _t5_tokenizer(WORDS)
    with _default_dtype(torch.bfloat16 if full else torch.float32):
        parts = dict(transformer=FluxTransformer2DModel(**config), vae=_vae(full, **FLUX_VAE),
                     text_encoder=_clip(CLIPTextModel, n, config["pooled_projection_dim"]), tokenizer=tokenizer,
                     text_encoder_2=_t5(m, config["joint_attention_dim"], full), tokenizer_2=t5_tokenizer)
    scheduler = FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True,
                                                base_shift=0.5, max_shift=1.15, base_image_seq_len=256,
                                                max_image_seq_len=4096)
    pipe = (FluxFillPipeline if fill else FluxPipeline)(scheduler=scheduler, **parts)
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


@contextlib.contextmanager
def _default_dtype(dtype):
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def build_xl(dest: Path, seed: int, full: bool) -> Path:
    """An SDXL pipeline: the real SDXL UNet configuration when `full`, else toy sizes."""
    import torch
    from diffusers import EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    h1, h2 = (768, 1280) if full else (16, 32)
    if full:
        unet = UNet2DConditionModel(
            sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816)
    else:
        unet = UNet2DConditionModel(
            sample_size=8, block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
            attention_head_dim=2, cross_attention_dim=h1 + h2, use_linear_projection=True,
            addition_embed_type="text_time", addition_time_embed_dim=8, projection_class_embeddings_input_dim=h2 + 6 * 8)
    vae = _vae()
    words = ["<|startoftext|>", "<|endoftext|>", "a", "red", "kite", "blue", "boat", "park", "green", "yellow"]
    tokenizer, n = _tokenizer(words)
    common = dict(vocab_size=n, num_hidden_layers=1, num_attention_heads=2, max_position_embeddings=77,
                  bos_token_id=0, eos_token_id=1, pad_token_id=1)
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=h1, intermediate_size=2 * h1, projection_dim=h1, **common))
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=h2, intermediate_size=2 * h2,
                                                                projection_dim=h2, **common))
    scheduler = EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                       steps_offset=1, timestep_spacing="leading")
    pipe = StableDiffusionXLPipeline(vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2,
                                     tokenizer=tokenizer, tokenizer_2=tokenizer, unet=unet, scheduler=scheduler)
    pipe.save_pretrained(dest, safe_serialization=True)
    return dest


# The CLI's `--unet` choices: "tiny-*" for tests (seconds on a CPU), the others the real denoiser
# configuration with random weights, for GPU benchmarks only.
def build_controlnet(model: Path, dest: Path, seed: int = 0) -> Path:
    """A ControlNet for the UNet of `model` (SD 1.x or SDXL), randomly initialised from it with
    `ControlNetModel.from_unet` (its zero convolutions made non-zero, so it changes what is drawn),
    saved as a diffusers ControlNet folder (config.json + safetensors)."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(model / "unet", use_safetensors=True, local_files_only=True)
    net = ControlNetModel.from_unet(unet, conditioning_channels=3)
    with torch.no_grad():
        for name, param in net.named_parameters():
            if any(part in name for part in ("zero_conv", "controlnet_down_blocks", "controlnet_mid_block",
                                              "controlnet_cond_embedding.conv_out")):
                param.normal_(0, 0.2)
    net.save_pretrained(dest, safe_serialization=True)
    return dest


BUILDERS = {
    "tiny": lambda dest, seed: build(dest, seed, "tiny"),
    "sd15": lambda dest, seed: build(dest, seed, "sd15"),
    "sdxl": lambda dest, seed: build_xl(dest, seed, full=True),
    "tiny-xl": lambda dest, seed: build_xl(dest, seed, full=False),
    "tiny-sd3": lambda dest, seed: build_sd3(dest, seed),
    "sd3": lambda dest, seed: build_sd3(dest, seed, full=True),
    "tiny-flux": lambda dest, seed: build_flux(dest, seed),
    "flux": lambda dest, seed: build_flux(dest, seed, full=True),
    "tiny-flux-fill": lambda dest, seed: build_flux_fill(dest, seed),
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unet", choices=tuple(BUILDERS), default="tiny",
                    help="model family and size (default: tiny, a toy SD 1.x)")
    args = ap.parse_args()
    BUILDERS[args.unet](args.dest, args.seed)
    print(f"wrote a {args.unet} pipeline to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
