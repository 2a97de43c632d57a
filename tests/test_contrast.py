"""WCAG 2 contrast (runtime/brand/contrast.py): known pairs from the definition, the percentile
measure of text over an image, the empty case, and the large-text rule."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from brief.runtime.brand.contrast import (
    contrast_ratio,
    default_threshold,
    large_text,
    relative_luminance,
    text_contrast,
)

WHITE, BLACK = (255, 255, 255), (0, 0, 0)


def ratio(a, b) -> float:
    return contrast_ratio(relative_luminance(a), relative_luminance(b))


def grey(v: int) -> tuple[int, int, int]:
    return (v, v, v)


def test_relative_luminance_follows_the_wcag_definition():
    assert relative_luminance(WHITE) == pytest.approx(1.0)
    assert relative_luminance(BLACK) == 0.0
    assert relative_luminance((255, 0, 0)) == pytest.approx(0.2126)
    assert relative_luminance((0, 255, 0)) == pytest.approx(0.7152)
    assert relative_luminance((0, 0, 255)) == pytest.approx(0.0722)
    # the linear segment up to 0.04045 (10/255 = 0.0392), the power curve above (11/255 = 0.0431)
    assert relative_luminance(grey(10)) == pytest.approx(10 / 255 / 12.92)
    assert relative_luminance(grey(11)) == pytest.approx(((11 / 255 + 0.055) / 1.055) ** 2.4)
    many = relative_luminance(np.array([WHITE, BLACK, grey(10)], np.uint8))
    assert many.shape == (3,) and many[0] == pytest.approx(1.0)


@pytest.mark.parametrize("fg, bg, expected", [
    (BLACK, WHITE, 21.0),
    (WHITE, WHITE, 1.0),
    (grey(0x76), WHITE, 4.54),   # #767676: the lightest grey that passes AA on white
    (grey(0x77), WHITE, 4.48),   # #777777: just fails
    (grey(0x59), WHITE, 7.0),    # #595959: about AAA's 7:1
    ((255, 0, 0), WHITE, 4.0),   # pure red on white
    ((0, 0, 255), WHITE, 8.59),
])
def test_known_pairs(fg, bg, expected):
    assert ratio(fg, bg) == pytest.approx(expected, abs=0.01)
    assert ratio(bg, fg) == ratio(fg, bg)


def test_aa_boundary_is_not_rounded():
    assert ratio(grey(0x76), WHITE) >= 4.5 > ratio(grey(0x77), WHITE)


def test_text_contrast_on_a_plain_background():
    result = text_contrast(BLACK, np.full((500, 3), 255, np.uint8))
    assert result["status"] == "measured" and result["pixels"] == 500
    assert result["ratio"] == pytest.approx(21.0) and result["median"] == pytest.approx(21.0)


def test_a_few_stray_pixels_do_not_decide_but_a_real_share_does():
    under = np.full((1000, 3), 20, np.uint8)  # white text on a near-black floor: high contrast
    under[:30] = 250  # 3 % of the glyph pixels over a white speck
    few = text_contrast(WHITE, under)
    assert few["ratio"] > 15 and few["worst"] < 1.1 and few["percentile"] == 5
    under[:100] = 250  # 10 %: part of the text is white on white
    many = text_contrast(WHITE, under)
    assert many["ratio"] < 1.1 and many["median"] > 15
    # the figures are ratios of real pixels (percentile method "lower")
    assert many["ratio"] == pytest.approx(ratio(WHITE, grey(250)))


def test_figures_are_ratios_of_real_pixels():
    under = np.repeat(np.arange(0, 200, 2, dtype=np.uint8), 3).reshape(-1, 3)  # 100 distinct greys
    result = text_contrast(WHITE, under)
    per_pixel = {ratio(WHITE, px) for px in map(tuple, under)}
    assert any(result["ratio"] == pytest.approx(r, rel=1e-12) for r in per_pixel)
    assert any(result["median"] == pytest.approx(r, rel=1e-12) for r in per_pixel)
    assert result["worst"] == pytest.approx(ratio(WHITE, grey(198)))
    assert result["worst"] < result["ratio"] < result["median"]


def test_text_contrast_takes_pixels_in_any_leading_shape():
    img = np.full((10, 20, 3), 255, np.uint8)
    assert text_contrast(BLACK, img)["pixels"] == 200
    with pytest.raises(ValueError, match="RGB"):
        text_contrast(BLACK, np.zeros((10, 4), np.uint8))


def test_no_pixels_is_skipped_without_a_division_by_zero():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = text_contrast(BLACK, np.empty((0, 3), np.uint8))
    assert result["status"] == "skipped" and result["pixels"] == 0 and result["note"]


@pytest.mark.parametrize("px, bold, large", [
    (24, False, True), (23, False, False), (23.9, True, True),
    (19, True, True), (18.66, True, True), (18.65, True, False), (18, True, False), (30, True, True),
])
def test_large_text_rule(px, bold, large):
    assert large_text(px, bold) is large
    assert default_threshold(px, bold) == (3.0 if large else 4.5)
