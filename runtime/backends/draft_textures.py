"""Procedural placeholders for the draft backend: a prompt becomes a palette and a motif, and a
seeded, smooth texture stands in for the generated image.

Deterministic (numpy's PCG64 from the seed, OpenCV's bicubic remap), cheap (cost proportional to
the box, memory to a band of rows of it: a texture is made BAND rows at a time), and
recognisable: keywords pick colours (summer is green and gold, autumn orange and brown), sky-like
prompts get a vertical gradient, and a regional component is a soft-edged shape with its prompt
written on it, so layout and rules can be reviewed without a model.
"""

from __future__ import annotations

import hashlib
import re

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

KEYWORDS: dict[str, list[tuple[int, int, int]]] = {
    "summer": [(86, 160, 60), (200, 190, 80)], "sunlit": [(250, 220, 120)], "lush": [(60, 140, 50)],
    "grass": [(80, 150, 55), (110, 170, 70)], "park": [(90, 150, 70)], "forest": [(40, 90, 45)],
    "autumn": [(200, 110, 40), (150, 70, 30)], "fall": [(190, 100, 40)], "leaves": [(170, 80, 35), (220, 150, 50)],
    "crisp": [(230, 160, 90)], "winter": [(225, 235, 245), (170, 190, 210)], "snow": [(245, 248, 252)],
    "snowy": [(235, 240, 248)], "spring": [(170, 210, 120), (240, 180, 200)], "sky": [(120, 175, 230)],
    "clouds": [(235, 238, 242)], "cloud": [(230, 234, 240)], "golden": [(240, 190, 90)], "sunset": [(240, 140, 70)],
    "night": [(25, 30, 70)], "moonlight": [(60, 70, 120)], "midday": [(250, 245, 225)], "sea": [(40, 110, 170)],
    "beach": [(230, 210, 160)], "sand": [(220, 200, 150)], "city": [(130, 130, 140)], "street": [(110, 110, 115)],
    "red": [(200, 30, 40)], "green": [(50, 150, 60)], "blue": [(40, 90, 200)], "yellow": [(240, 210, 50)],
    "orange": [(240, 140, 40)], "white": [(245, 245, 245)], "black": [(25, 25, 25)], "grey": [(128, 128, 128)],
    "gray": [(128, 128, 128)], "pink": [(240, 150, 180)], "purple": [(130, 70, 160)], "brown": [(120, 80, 50)],
    "gold": [(212, 175, 55)], "shadow": [(40, 40, 40)], "wildflowers": [(220, 120, 160), (240, 220, 90)],
}
SKY_WORDS = {"sky", "clouds", "cloud", "sunset", "night", "moonlight"}
SHADOW_WORDS = {"shadow", "shade", "shadows"}


def describe(prompt: str, negative: str = "") -> dict:
    """The draft backend's stand-in for a prompt embedding: palette, motif and a seed."""
    words = re.findall(r"[a-z]+", prompt.lower())
    banned = set(re.findall(r"[a-z]+", negative.lower()))
    palette: list[list[int]] = []
    for word in words:
        if word in banned:
            continue
        for colour in KEYWORDS.get(word, []):
            if list(colour) not in palette:
                palette.append(list(colour))
    digest = hashlib.sha256(prompt.encode("utf-8")).digest()
    if len(palette) < 2:  # unknown words: hues from the prompt's hash, so any prompt looks its own
        hsv = np.array([[[digest[0] * 180 // 256, 120 + digest[1] % 100, 150 + digest[2] % 90],
                         [digest[3] * 180 // 256, 90 + digest[4] % 100, 110 + digest[5] % 120]]], np.uint8)
        for colour in cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0][: 2 - len(palette)]:
            palette.append([int(c) for c in colour])
    motif = "shadow" if SHADOW_WORDS & set(words) else "sky" if SKY_WORDS & set(words) else "texture"
    return {"palette": palette[:5], "motif": motif, "prompt_seed": int.from_bytes(digest[:4], "big"),
            "label": prompt.strip()[:48]}


BAND = 256  # rows of a texture made at a time
LEVELS = 1024  # the palette's gradient, as a lookup table of this many steps


class Noise:
    """Value noise in [0, 1]: a small random grid, read smoothly (bicubic) at any w x h, a band of
    rows at a time."""

    def __init__(self, rng: np.random.Generator, w: int, h: int, cells: int):
        gw, gh = max(2, cells), max(2, round(cells * h / max(w, 1)) or 2)
        self.grid = rng.random((gh, gw)).astype(np.float32)
        self.xs = ((np.arange(w, dtype=np.float64) + 0.5) * gw / w - 0.5).astype(np.float32)
        self.fy = gh / h

    def rows(self, y0: int, y1: int) -> np.ndarray:
        ys = ((np.arange(y0, y1, dtype=np.float64) + 0.5) * self.fy - 0.5).astype(np.float32)
        mx, my = np.meshgrid(self.xs, ys)
        return cv2.remap(self.grid, mx, my, cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE).clip(0, 1)


def smooth_noise(rng: np.random.Generator, w: int, h: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1] over w x h (all rows at once)."""
    return Noise(rng, w, h, cells).rows(0, h)


def texture(desc: dict, w: int, h: int, seed: int, full_height: int | None = None, y_offset: int = 0) -> np.ndarray:
    """RGB uint8 texture for a w x h box, made a band of rows at a time (memory ∝ a band)."""
    rng = np.random.default_rng([seed, desc["prompt_seed"]])
    layers = [(0.55, Noise(rng, w, h, 4)), (0.3, Noise(rng, w, h, 9)), (0.15, Noise(rng, w, h, 23))]
    palette = np.array(desc["palette"], np.float32)
    stops = np.linspace(0, 1, len(palette))
    steps = np.linspace(0, 1, LEVELS + 1)
    lut = np.clip(np.rint(np.stack([np.interp(steps, stops, palette[:, c]) for c in range(3)], axis=-1)),
                  0, 255).astype(np.uint8)
    out = np.empty((h, w, 3), np.uint8)
    total = full_height or h
    for y0 in range(0, h, BAND):
        y1 = min(h, y0 + BAND)
        t = sum(weight * noise.rows(y0, y1) for weight, noise in layers)
        if desc["motif"] == "sky":  # light at the top, palette colours lower down
            ramp = (np.arange(y0, y1, dtype=np.float32)[:, None] + y_offset) / max(total - 1, 1)
            t = 0.6 * ramp + 0.4 * t
        out[y0:y1] = lut[np.clip(np.rint(t * LEVELS), 0, LEVELS).astype(np.intp)]
    return out


def blob_alpha(w: int, h: int, seed: int) -> np.ndarray:
    """A soft, slightly irregular rounded shape filling most of a w x h box (uint8 alpha), made a
    band of rows at a time."""
    rng = np.random.default_rng(seed)
    noise = Noise(rng, w, h, 5)
    nx4 = np.abs((np.arange(w, dtype=np.float32) + 0.5) / w * 2 - 1)[None, :] ** 4
    edge = max(2.0, min(w, h) * 0.04)
    out = np.empty((h, w), np.uint8)
    for y0 in range(0, h, BAND):
        y1 = min(h, y0 + BAND)
        ny4 = np.abs((np.arange(y0, y1, dtype=np.float32) + 0.5) / h * 2 - 1)[:, None] ** 4
        r = (nx4 + ny4) ** 0.25
        wobble = 0.08 * (noise.rows(y0, y1) - 0.5)
        out[y0:y1] = np.rint(np.clip((0.97 + wobble - r) * min(w, h) / (2 * edge), 0, 1) * 255).astype(np.uint8)
    return out


def label(rgb: np.ndarray, text: str) -> np.ndarray:
    """Write the prompt small across the middle, on a translucent band (regional placeholders).
    Only the rows around the text are touched (in place)."""
    h, w = rgb.shape[:2]
    if w < 120 or h < 40 or not text:
        return rgb
    size = int(np.clip(h // 14, 11, 28))
    font = ImageFont.load_default(size=size)
    pad = max(4, size // 3)
    measure = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    while text and measure.textlength(text, font=font) > w - 4 * pad:
        text = text[:-2] + "…" if len(text) > 2 else ""
    tw = int(measure.textlength(text, font=font))
    x, y = (w - tw) // 2, (h - size) // 2
    top, bottom = max(0, y - pad - size), min(h, y + 2 * size + pad)  # the band and what glyphs may reach
    img = Image.fromarray(np.ascontiguousarray(rgb[top:bottom])).convert("RGBA")
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rectangle([x - pad, y - pad - top, x + tw + pad, y + size + pad - top], fill=(0, 0, 0, 90))
    draw.text((x, y - top), text, font=font, fill=(255, 255, 255, 235))
    rgb[top:bottom] = np.asarray(Image.alpha_composite(img, overlay).convert("RGB"))
    return rgb
