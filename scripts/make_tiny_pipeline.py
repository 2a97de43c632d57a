"""Write a tiny, randomly initialised Stable Diffusion pipeline to a folder, offline, in seconds.

It has every part of a real SD 1.x model (UNet, VAE, CLIP text encoder, tokenizer, scheduler) at
toy sizes, saved with `save_pretrained` as safetensors, so tests can run the diffusers backend end
to end on a CPU without downloading anything. The images it makes are noise, deterministically.

    .venv/bin/python scripts/make_tiny_pipeline.py DEST [--seed N]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path


def build(dest: Path, seed: int = 0, unet_size: str = "tiny") -> Path:
    """`unet_size`: "tiny" (tests), or "sd15" — the real Stable Diffusion 1.5 UNet configuration,
    randomly initialised (the cost of a UNet step does not depend on its weights), for benchmarks;
    "sdxl" and "tiny-xl" make an SDXL pipeline (two text encoders) at full or toy size."""
    if unet_size in ("sdxl", "tiny-xl"):
        return build_xl(dest, seed, full=unet_size == "sdxl")
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

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
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(4, 8, 8, 8), layers_per_block=1,
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4,
        sample_size=64)
    words = ["<|startoftext|>", "<|endoftext|>", "a", "red", "kite", "sky", "park", "summer", "autumn",
             "shadow", "grass", "shoe", "soft", "the", "in", "on", "blue", "green", "clouds", "light"]
    vocab = {w + ("" if w.startswith("<|") else "</w>"): i for i, w in enumerate(words)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"), model_max_length=77)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(vocab), hidden_size=width, intermediate_size=2 * width, num_hidden_layers=1,
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
    from transformers import CLIPTokenizer

    vocab = {w + ("" if w.startswith("<|") else "</w>"): i for i, w in enumerate(words)}
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
        return CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"), model_max_length=77), len(vocab)


def build_xl(dest: Path, seed: int, full: bool) -> Path:
    """An SDXL pipeline: the real SDXL UNet configuration when `full`, else toy sizes."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionXLPipeline, UNet2DConditionModel
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
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(4, 8, 8, 8),
                        layers_per_block=1, down_block_types=("DownEncoderBlock2D",) * 4,
                        up_block_types=("UpDecoderBlock2D",) * 4, norm_num_groups=4, sample_size=64)
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dest", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--unet", choices=("tiny", "sd15", "sdxl", "tiny-xl"), default="tiny", help="UNet size (default: tiny)")
    args = ap.parse_args()
    build(args.dest, args.seed, args.unet)
    print(f"wrote a tiny Stable Diffusion pipeline to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
