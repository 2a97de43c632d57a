"""The sizes a model is run at: its native size, and what a crop or a canvas is denoised at.

A diffusion model draws coherently near the size it was trained at: its native size, read from
its own config (the UNet's or transformer's sample size × the VAE's scale; FLUX, whose config has
none, by its pipeline's default). Under `resolution native` (the default):

- a regional crop smaller than native (by area) is resampled up to about native area, keeping its
  aspect (at most twice native a side), denoised there, and brought back to its box: as ADetailer's
  "inpaint only masked" at 512 px and Krita AI's 512 px minimum context do;
- a component or canvas larger than native is generated at about native area with its aspect,
  resized up and refined at its own size (img2img, `REFINE_STRENGTH`): A1111's and ComfyUI's
  "hires fix"; larger than twice native a side, the refine runs tile by tile (native-sized tiles,
  overlapping, blended), as Ultimate SD Upscale does;
- anything else is denoised at its own size, as under `resolution exact`.

`POLICY` names these rules in the backend's lock, so a change of them is a change of every key.
"""

from __future__ import annotations

import math

POLICY = "native-2"  # 2: tiled refines, in-paints larger than native refined up, boxes smaller drawn up
REFINE_STRENGTH = 0.35  # img2img strength of the refine pass: keeps the composition, redraws detail
MAX_UPSCALE_SIDE = 2  # a resampled crop stays within 2 × native a side


def refine_steps(steps: int, strength: float = REFINE_STRENGTH) -> int:
    """The scheduler steps of an image-to-image or in-paint pass at `strength`: it runs `strength` ×
    of them, at least one."""
    return max(steps, math.ceil(1 / max(strength, 1e-3)))


def denoised_steps(steps: int, strength: float) -> int:
    """How many of `steps` an image-to-image or in-paint pass at `strength` runs (diffusers' rule)."""
    return min(int(steps * strength), steps)


def native_size(pipe) -> int:
    """The model's native side in pixels: the denoiser's sample size × the VAE's scale, or (FLUX) the
    VAE's sample size."""
    denoiser = getattr(pipe, "unet", None) or getattr(pipe, "transformer", None)
    sample = getattr(getattr(denoiser, "config", None), "sample_size", None)
    if isinstance(sample, (list, tuple)):
        sample = sample[0]
    if isinstance(sample, int) and sample > 0:
        return sample * int(pipe.vae_scale_factor)
    side = getattr(pipe.vae.config, "sample_size", None)  # FLUX: its transformer has none; its VAE's holds it
    if isinstance(side, (list, tuple)):
        side = side[0]
    return int(side) if isinstance(side, int) and side > 0 else 1024


def multiple_of(pipe) -> int:
    """What a side must be a multiple of: the VAE's scale, × 2 for transformers that patchify."""
    return int(pipe.vae_scale_factor) * (2 if getattr(pipe, "transformer", None) is not None else 1)


def _round(side: float, multiple: int) -> int:
    return max(multiple, int(round(side / multiple)) * multiple)


def crop_size(w: int, h: int, native: int, multiple: int) -> tuple[int, int] | None:
    """The size a regional crop of w × h is denoised at under `native`, or None to denoise it as it
    is (it is not smaller than native)."""
    if w * h >= native * native:
        return None
    scale = min(native / math.sqrt(w * h), MAX_UPSCALE_SIDE * native / max(w, h))
    size = (_round(w * scale, multiple), _round(h * scale, multiple))
    return None if size[0] <= w and size[1] <= h else size


TILE_WHEN = 2  # a refine larger than this × native a side is done tile by tile
TILE_OVERLAP = 8  # 1/8 of a tile overlaps its neighbour, blended linearly


def refine_tiles(w: int, h: int, native: int, multiple: int) -> list[tuple[int, int, int, int]]:
    """The boxes a w × h refine pass is run in: the whole image, or (larger than `TILE_WHEN` × native
    a side) native-sized tiles overlapping by 1/`TILE_OVERLAP`, covering it, on the size multiple."""
    if max(w, h) <= TILE_WHEN * native:
        return [(0, 0, w, h)]
    tile = min(_round(native, multiple), w, h) // multiple * multiple
    step = max(multiple, (tile - tile // TILE_OVERLAP) // multiple * multiple)

    def starts(total: int) -> list[int]:
        out = list(range(0, max(total - tile, 0) + 1, step))
        if out[-1] + tile < total:
            out.append(total - tile)
        return out

    return [(x, y, x + tile, y + tile) for y in starts(h) for x in starts(w)]


def base_size(w: int, h: int, native: int, multiple: int) -> tuple[int, int] | None:
    """The size a w × h image is first generated at under `native` before it is refined up, or None
    when it is not larger than native (generated as it is)."""
    if w * h <= native * native:
        return None
    scale = native / math.sqrt(w * h)
    return _round(w * scale, multiple), _round(h * scale, multiple)
