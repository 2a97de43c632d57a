"""What differs between model families, in one place: Stable Diffusion 1.x and SDXL (UNets),
Stable Diffusion 3.x and FLUX.1 (transformers on flow matching), and FLUX.1 Fill (an in-painting
model). The backend's ops are written once; they ask this module how a family encodes a prompt,
what its latents look like and how they are decoded, and how it paints without a mask.

- Prompt embeddings: SD 1.x gives (prompt, negative); SDXL and SD3 add pooled embeddings (SD3
  has three text encoders, T5 among them); FLUX gives (prompt, pooled) and guides by distillation,
  without a negative.
- Latents: UNet and SD3 latents are (1, C, h/8, w/8); FLUX packs them 2 × 2 into tokens
  (1, h/16 · w/16, 64) and they are unpacked (the pipeline's own `_unpack_latents`) before decoding.
- Decoding: `latents / scaling_factor (+ shift_factor)`; with `latents_mean`/`latents_std` in the
  VAE config as SDXL pipelines use them; an fp16 VAE that needs it (`force_upcast`) decodes in
  float32 through the pipeline's own `upcast_vae`.
- FLUX.1 Fill has no text-to-image: it fills a mid-grey image under a full mask (text to image),
  and under a full mask with `strength` (image to image); it in-paints natively.
"""

from __future__ import annotations

import numpy as np


def family(pipe) -> str:
    name = type(pipe).__name__
    if name.startswith("FluxFill"):
        return "flux-fill"
    if name.startswith("Flux"):
        return "flux"
    if name.startswith("StableDiffusion3"):
        return "sd3"
    if getattr(pipe, "text_encoder_2", None) is not None:
        return "sdxl"
    return "sd"


def encode(pipe, prompt: str, negative: str) -> dict:
    """The prompt's embeddings as the family's pipelines take them (`prompt_embeds=…` and the rest)."""
    device, kind = pipe.device, family(pipe)
    if kind in ("flux", "flux-fill"):
        pe, pooled, _ = pipe.encode_prompt(prompt=prompt, prompt_2=None, device=device, num_images_per_prompt=1)
        return {"prompt_embeds": pe, "pooled_prompt_embeds": pooled}
    if kind == "sd3":
        pe, ne, pooled, npooled = pipe.encode_prompt(prompt=prompt, prompt_2=None, prompt_3=None, device=device,
                                                     num_images_per_prompt=1, do_classifier_free_guidance=True,
                                                     negative_prompt=negative or "")
        return {"prompt_embeds": pe, "negative_prompt_embeds": ne, "pooled_prompt_embeds": pooled,
                "negative_pooled_prompt_embeds": npooled}
    if kind == "sdxl":
        pe, ne, pooled, npooled = pipe.encode_prompt(prompt, device=device, num_images_per_prompt=1,
                                                     do_classifier_free_guidance=True, negative_prompt=negative or "")
        return {"prompt_embeds": pe, "negative_prompt_embeds": ne, "pooled_prompt_embeds": pooled,
                "negative_pooled_prompt_embeds": npooled}
    pe, ne = pipe.encode_prompt(prompt, device, 1, True, negative or "")
    return {"prompt_embeds": pe, "negative_prompt_embeds": ne}


def decode(pipe, latents, size: tuple[int, int]) -> np.ndarray:
    """8-bit RGB of `size` (w, h) from the family's latents, decoded the way its pipeline does."""
    import torch

    vae = pipe.vae
    w, h = size
    with torch.no_grad():
        if family(pipe) in ("flux", "flux-fill") and latents.dim() == 3:
            latents = pipe._unpack_latents(latents, h, w, pipe.vae_scale_factor)
        upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
        if upcast and hasattr(pipe, "upcast_vae"):
            pipe.upcast_vae()  # the pipeline's own fp16 fix (SDXL): the VAE decodes in float32
        dtype = next(iter(vae.post_quant_conv.parameters())).dtype if getattr(vae, "post_quant_conv", None) \
            is not None else vae.dtype
        latents = latents.to(device=vae.device, dtype=dtype)
        mean, std = getattr(vae.config, "latents_mean", None), getattr(vae.config, "latents_std", None)
        if mean is not None and std is not None:
            mean = torch.tensor(mean).view(1, -1, 1, 1).to(latents)
            std = torch.tensor(std).view(1, -1, 1, 1).to(latents)
            latents = latents * std / vae.config.scaling_factor + mean
        else:
            latents = latents / vae.config.scaling_factor + (getattr(vae.config, "shift_factor", None) or 0.0)
        image = vae.decode(latents).sample
        if upcast and hasattr(pipe, "upcast_vae"):
            vae.to(dtype=torch.float16)  # as the pipeline does after its own decode
    image = (image / 2 + 0.5).clamp(0, 1)[0].permute(1, 2, 0).float().cpu().numpy()
    return np.rint(image * 255).astype(np.uint8)


def size_kwargs(pipe, size: tuple[int, int]) -> dict:
    """`height` and `width` for pipelines that take them with an image (FLUX's image to image would
    otherwise work at 1024 px); those that read the size off the image (SD's) are given none."""
    import inspect

    params = inspect.signature(type(pipe).__call__).parameters
    return {"height": size[1], "width": size[0]} if "height" in params and "width" in params else {}


def paints_without_a_mask(pipe) -> bool:
    """Whether the model has text-to-image and image-to-image of its own (FLUX.1 Fill has not)."""
    return family(pipe) != "flux-fill"


def fill_everything(size: tuple[int, int], image: np.ndarray | None = None):
    """(image, mask) for a Fill model to paint the whole of `size`: over `image` (image to image), or
    over mid grey (text to image)."""
    from PIL import Image

    w, h = size
    base = image if image is not None else np.full((h, w, 3), 128, np.uint8)
    return Image.fromarray(base), Image.fromarray(np.full((h, w), 255, np.uint8))
