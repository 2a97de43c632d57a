"""Write a small, randomly initialised LoRA for a tiny pipeline (scripts/make_tiny_pipeline.py), as
a `.safetensors` file in diffusers' LoRA format, offline: peft adapters on the UNet's attention
projections with random (not zero) weights, so applying it changes what the model draws.

    .venv/bin/python scripts/make_tiny_lora.py MODEL_DIR DEST.safetensors [--seed N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def build(model: Path, dest: Path, seed: int = 0, rank: int = 2) -> Path:
    import shutil

    import torch
    from diffusers import DiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(seed)
    pipe = DiffusionPipeline.from_pretrained(model, local_files_only=True, use_safetensors=True)
    pipe.unet.add_adapter(LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                                     target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(pipe.unet))
    with tempfile.TemporaryDirectory() as tmp:
        type(pipe).save_lora_weights(tmp, unet_lora_layers=layers, safe_serialization=True)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(Path(tmp) / "pytorch_lora_weights.safetensors", dest)
    return dest


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", type=Path)
    ap.add_argument("dest", type=Path)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    build(args.model, args.dest, args.seed)
    print(f"wrote a tiny LoRA to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
