"""Colour arithmetic the language needs without numpy: a hex colour's sRGB values and its CIELAB
coordinates (D65 white, the sRGB transfer curve), shown by the language server on hover. The
runtime measures pixels with its own vectorised conversion; a test holds the two equal."""

from __future__ import annotations

_WHITE_D65 = (0.95047, 1.0, 1.08883)


def hex_rgb(text: str) -> tuple[int, int, int]:
    """`#C8102E` or `#c12` → (200, 16, 46)."""
    digits = text.lstrip("#")
    if len(digits) == 3:
        digits = "".join(ch * 2 for ch in digits)
    return int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16)


def _linear(channel: int) -> float:
    c = channel / 255.0
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def _f(t: float) -> float:
    return t ** (1 / 3) if t > (6 / 29) ** 3 else t / (3 * (6 / 29) ** 2) + 4 / 29


def srgb_to_lab(rgb: tuple[int, int, int]) -> tuple[float, float, float]:
    """CIELAB (L*, a*, b*) of an 8-bit sRGB colour, D65."""
    r, g, b = (_linear(c) for c in rgb)
    x = 0.4124564 * r + 0.3575761 * g + 0.1804375 * b
    y = 0.2126729 * r + 0.7151522 * g + 0.0721750 * b
    z = 0.0193339 * r + 0.1191920 * g + 0.9503041 * b
    fx, fy, fz = (_f(v / w) for v, w in zip((x, y, z), _WHITE_D65))
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)
