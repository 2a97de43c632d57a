"""WCAG 2 contrast: relative luminance of sRGB colours, the contrast ratio, the contrast of a text
colour against the pixels under its glyphs, and WCAG's large-text rule for the default threshold.

Relative luminance is WCAG 2.x's: each 8-bit channel c/255 is linearised by c/12.92 at or below
0.04045, else ((c + 0.055) / 1.055) ** 2.4, then weighted 0.2126 R + 0.7152 G + 0.0722 B. WCAG's text
prints 0.03928 (from an old sRGB draft); the sRGB standard says 0.04045, used here. No 8-bit value
lies between the two (10/255 = 0.0392, 11/255 = 0.0431), so results are the same for every colour.
The ratio is (Lmax + 0.05) / (Lmin + 0.05), from 1 to 21, and it is never rounded before comparing
(4.499 fails 4.5, as WCAG says).

Text over an image has no single background colour. `text_contrast` measures the ratio at every
pixel under the glyphs and reports the 5th percentile as the figure to judge: the worst meaningful
case, so a text that is unreadable over a fifth of its length fails while a few stray pixels (a
speck, an anti-aliasing fringe) do not decide; the median is reported beside it. Percentiles are
taken with numpy's `lower` method, so each figure is the ratio of a real pixel. No pixels (a text
fully hidden or empty): a `skipped` result, never a division by zero.
"""

from __future__ import annotations

import numpy as np

WEIGHTS = np.array([0.2126, 0.7152, 0.0722])
LINEAR_BELOW = 0.04045  # sRGB's linear-segment threshold (WCAG's text says 0.03928: same for 8-bit)
PERCENTILE = 5  # the low percentile of per-pixel contrast that `text_contrast` judges
LARGE_PX = 24.0  # WCAG large text: 18 pt at 96 px per inch ...
LARGE_BOLD_PX = 18.66  # ... or 14 pt bold, which WCAG writes as 18.66 px (14 × 96 / 72 = 18.67)
THRESHOLD, LARGE_THRESHOLD = 4.5, 3.0  # WCAG 2 AA minimum contrast, for normal and for large text


def relative_luminance(rgb) -> float | np.ndarray:
    """WCAG relative luminance (0 black … 1 white) of one 8-bit sRGB colour, or of an (..., 3) array."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    if c.shape[-1:] != (3,):
        raise ValueError(f"expected RGB triples, got shape {c.shape}")
    linear = np.where(c <= LINEAR_BELOW, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    lum = linear @ WEIGHTS
    return float(lum) if lum.ndim == 0 else lum


def contrast_ratio(l1, l2) -> float | np.ndarray:
    """WCAG contrast ratio of two relative luminances, in either order: 1 (none) to 21."""
    hi, lo = np.maximum(l1, l2), np.minimum(l1, l2)
    ratio = (hi + 0.05) / (lo + 0.05)
    return float(ratio) if np.ndim(ratio) == 0 else ratio


def text_contrast(text_rgb, background) -> dict:
    """Contrast of a text colour against the background pixels under its glyphs ((N, 3) uint8).

    Returns {"status": "measured", "pixels", "ratio" (the 5th percentile: judge this), "median",
    "worst", "percentile"} or, for no pixels, {"status": "skipped", "pixels": 0, "note"}."""
    pixels = np.asarray(background)
    if pixels.size == 0:
        return {"status": "skipped", "pixels": 0, "note": "no text pixels to measure"}
    if pixels.shape[-1:] != (3,):
        raise ValueError(f"expected background RGB pixels (N, 3), got shape {pixels.shape}")
    pixels = pixels.reshape(-1, 3)
    ratios = contrast_ratio(relative_luminance(text_rgb), relative_luminance(pixels))
    ratios = np.atleast_1d(ratios)
    return {
        "status": "measured",
        "pixels": int(len(pixels)),
        "ratio": float(np.percentile(ratios, PERCENTILE, method="lower")),
        "median": float(np.percentile(ratios, 50, method="lower")),
        "worst": float(ratios.min()),
        "percentile": PERCENTILE,
    }


def large_text(px_size: float, bold: bool) -> bool:
    """WCAG 2 large-scale text: at least 24 px, or at least 18.66 px (14 pt) when bold."""
    return px_size >= LARGE_PX or (bold and px_size >= LARGE_BOLD_PX)


def default_threshold(px_size: float, bold: bool) -> float:
    """WCAG 2 AA minimum contrast for text of this size and weight: 3.0 if large, else 4.5."""
    return LARGE_THRESHOLD if large_text(px_size, bold) else THRESHOLD
