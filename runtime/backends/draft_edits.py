"""The draft backend's edits, without a model: what an `inpaint` makes of its prompt (the pixels
inside its region, from what lies there, the prompt's description and the region's shape), and the
weights the other edits share (the band a `harmonize` fades over, a removal's seed). The ops that
read and write the canvas are draft.py's; removal's in-painting is imaging.fill_hole.

Prompt → behaviour (deterministic: `draft_textures.describe` reads the prompt's words; the
motif is "shadow" when a word is "shadow", "shadows" or "shade"):

- motif "shadow", region `around COMPONENT Npx`: a contact shadow under the component. The ground
  line runs through the lowest points of the component's left and right halves (its alpha); the
  shadow darkens around that line: a soft ellipse as wide as the component plus N/2 px each side,
  reaching N px below the line and only N/4 px above it, with a tighter one a third as high where
  it touches, so it is strongest at the contact and fades downward and sideways. The component
  itself (its alpha) is never darkened, nor anything above its foot: no halo.
- motif "shadow", any other region: the region darkened softly, feathered at its edge.
- any other prompt: the prompt's placeholder texture (seeded), tinted with the colours beneath it,
  blended in softly: around a component, strongest at its edge and fading to nothing at the band's
  outer edge; in a box or anchor, feathered over `FEATHER` px inside its edge; a mask by its values.

`strength` scales every effect. Every pixel outside the region's box, and every pixel where the
weight is 0, is left bit-identical; all arithmetic is float32 numpy/OpenCV, the same on every run.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..render import imaging
from . import draft_textures as tex

FEATHER = 6  # px: a box in-paint blends into its surroundings over this many px inside its edge
SHADOW_DEPTH = 0.55  # how dark a contact shadow is at its core (the share of light it takes)
REGION_SHADE = 0.35  # how dark a shadow in-paint of a plain region is


def region_seed(box: tuple) -> int:
    """A seed of a region's own, for an edit that has none (a removal's grain): the same box, the same grain."""
    x0, y0, x1, y1 = box
    return ((x0 * 73856093) ^ (y0 * 19349663) ^ (x1 * 83492791) ^ (y1 * 2654435761)) & 0xFFFFFFFF


def feathered(mask: np.ndarray, shape: str) -> np.ndarray:
    """The region's weight: a box or anchor fades in over FEATHER px inside its edge; other shapes
    (full, a mask file, a band) keep their own values."""
    if shape not in ("box", "anchor"):
        return mask
    h, w = mask.shape
    ys = np.minimum(np.arange(h) + 0.5, h - 0.5 - np.arange(h)).astype(np.float32)[:, None]
    xs = np.minimum(np.arange(w) + 0.5, w - 0.5 - np.arange(w)).astype(np.float32)[None, :]
    t = np.clip(np.minimum(ys, xs) / FEATHER, 0, 1)
    return mask * (t * t * (3 - 2 * t))


def fading_band(alpha: np.ndarray, band: int) -> np.ndarray:
    """A band around a component's alpha (float 0..1) that fades smoothly from 1 at its edge to 0 at
    `band` px out; 0 on the component itself."""
    distance = cv2.distanceTransform((alpha <= 0.5).astype(np.uint8), cv2.DIST_L2, 5)
    t = np.clip(1 - distance / max(band, 1), 0, 1)
    return (t * t * (3 - 2 * t) * (1 - np.clip(alpha, 0, 1))).astype(np.float32)


def contact_shadow(alpha: np.ndarray, band: int) -> np.ndarray:
    """How much light a contact shadow takes at each pixel of a box holding a component's alpha
    (float 0..1): the ellipse under its foot that the module docstring describes, 0 on the component."""
    h, w = alpha.shape
    solid = alpha > 0.5
    cols = np.flatnonzero(solid.any(axis=0))
    if cols.size == 0 or band <= 0:
        return np.zeros((h, w), np.float32)
    bottom = h - 1 - np.argmax(solid[::-1], axis=0)  # each column's lowest solid row
    xl, xr = int(cols[0]), int(cols[-1])
    middle = (xl + xr) / 2
    feet = []
    for half in (cols[cols <= middle], cols[cols >= middle]):  # the lowest point of each half
        low = bottom[half].max()
        feet.append((float(np.median(half[bottom[half] >= low - 1])), float(low)))
    (fx0, fy0), (fx1, fy1) = feet
    slope = float(np.clip((fy1 - fy0) / (fx1 - fx0), -0.3, 0.3)) if fx1 - fx0 >= 1 else 0.0
    xs = np.arange(w, dtype=np.float32)[None, :]
    ground = fy0 + slope * (xs - fx0) + 1  # the line the component stands on
    below = np.arange(h, dtype=np.float32)[:, None] - ground  # px below it (negative: above)
    reach = np.where(below >= 0, np.float32(band), np.float32(max(1.0, band / 4)))
    u = (xs - np.float32(middle)) / np.float32((xr - xl) / 2 + band / 2)
    wide = np.clip(1 - u ** 4 - (below / reach) ** 2, 0, 1) ** 2
    core = np.clip(1 - u ** 4 - (below / (reach / 3)) ** 2, 0, 1) ** 2  # the darker line where it touches
    weight = 0.65 * wide + 0.35 * core
    return (weight * (1 - np.clip(alpha, 0, 1))).astype(np.float32)


def inpaint(base: np.ndarray, desc: dict, mask: np.ndarray, shape: str, seed: int, strength: float,
            alpha: np.ndarray | None = None, band: int = 0) -> np.ndarray:
    """The in-painted pixels of the region (RGB uint8, the box's size), as the docstring maps a
    prompt to them. `mask` is the region's shape (float 0..1), `alpha` the component's that an
    `around` region is drawn around, `band` its width in px."""
    if desc["motif"] == "shadow":
        if alpha is not None:
            weight = contact_shadow(alpha, band) * SHADOW_DEPTH
        else:
            weight = feathered(mask, shape) * REGION_SHADE
        weight *= np.float32(strength)
        dark = base.astype(np.float32) * (1 - weight[..., None])  # where the weight is 0: the very same bytes
        return np.clip(np.rint(dark), 0, 255).astype(np.uint8)
    h, w = mask.shape
    fill = tex.texture(desc, w, h, seed).astype(np.float32)
    beneath = cv2.GaussianBlur(base, (0, 0), max(2.0, min(h, w) / 8)).astype(np.float32)
    fill = fill * 0.7 + beneath * 0.3
    # around a component: strongest at its edge, nothing at the band's outer edge
    weight = mask * fading_band(alpha, band) if alpha is not None and band > 0 else feathered(mask, shape)
    return imaging.blend_masked(base, np.clip(np.rint(fill), 0, 255).astype(np.uint8), weight * np.float32(strength))
