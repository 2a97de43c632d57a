"""Text typesetting (runtime/render/text.py): wrapping inside the box, alignment, `auto` size, overflow
and missing-glyph errors with their numbers, exact colour and opacity, bit-for-bit determinism."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont, features

from brief.runtime.render.text import LINE_SPACING, TextError, text_engine, typeset

FONTS = Path(__file__).parent / "fonts"
BOLD = FONTS / "LiberationSans-Bold.ttf"
REGULAR = FONTS / "LiberationSans-Regular.ttf"
INK = (20, 22, 26)
LONG = "Run further and faster than ever before with the new stride runner built for the long road"


def digest(layout) -> str:
    return hashlib.sha256(layout.rgba.tobytes()).hexdigest()


def needs(message: str) -> tuple[int, int]:
    w, h = re.search(r"needs (\d+) x (\d+) px", message).groups()
    return int(w), int(h)


# ── determinism ───────────────────────────────────────────────────────────────

def test_same_inputs_same_bytes_in_process_and_in_a_subprocess():
    args = dict(box_size=(520, 300), size=48, color=INK, align="center", opacity=0.8)
    first, second = typeset(LONG, BOLD, **args), typeset(LONG, BOLD, **args)
    assert first.rgba.tobytes() == second.rgba.tobytes()
    code = ("import hashlib, sys; from pathlib import Path; from brief.runtime.render.text import typeset; "
            f"t = typeset({LONG!r}, Path(sys.argv[1]), box_size=(520, 300), size=48, color={INK}, align='center', "
            "opacity=0.8); print(hashlib.sha256(t.rgba.tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code, str(BOLD)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == digest(first)


def test_text_engine_names_what_is_used():
    engine = text_engine()
    assert engine["layout"] == ("raqm" if features.check_feature("raqm") else "basic")
    assert engine["pillow"] and engine["freetype"] == features.version("freetype2")
    assert (engine["raqm"] is not None) == (engine["layout"] == "raqm")


# ── wrapping and placement ────────────────────────────────────────────────────

def test_long_text_wraps_greedily_inside_the_width():
    width = 420
    layout = typeset(LONG, BOLD, (width, 600), size=40, color=INK)
    assert len(layout.lines) >= 3
    assert " ".join(layout.lines) == LONG
    assert layout.needed[0] <= width and layout.ink[2] <= width
    for line, following in zip(layout.lines, layout.lines[1:]):
        # greedy: the next line's first word would not have fitted on this one
        joined = typeset(f"{line} {following.split()[0]}", BOLD, (width, 600), size=40)
        assert len(joined.lines) == 2


def test_newline_breaks_lines_and_whitespace_runs_collapse():
    layout = typeset("Run\nfurther   now\n\nend", BOLD, (900, 400), size=40)
    assert layout.lines == ("Run", "further now", "", "end")


def test_no_glyph_is_clipped_by_the_box():
    # ink above the font's ascent (Ǻ) and below its descent (⌡), in a box exactly the size needed
    text = "Ǻngström fjord\nÉgypte jy ⌡"
    exact = typeset(text, BOLD, (1000, 1000), size=60, color=INK)
    w, h = exact.needed
    tight = typeset(text, BOLD, (w, h), size=60, color=INK)
    roomy = typeset(text, BOLD, (w + 80, h + 80), size=60, color=INK)
    assert tight.lines == roomy.lines == ("Ǻngström fjord", "Égypte jy ⌡")
    assert np.array_equal(roomy.rgba[:h, :w], tight.rgba)  # everything drawn in the big box is in the tight one
    assert not roomy.rgba[h:, :, 3].any() and not roomy.rgba[:, w:, 3].any()
    # and nothing was cut at the top: the same block pushed down by a blank first line is the same pixels
    lower = typeset("\n" + text, BOLD, (w, h + 200), size=60, color=INK)
    dy = lower.ink[1] - tight.ink[1]
    assert dy > 0 and np.array_equal(lower.rgba[dy:dy + h], tight.rgba)
    with pytest.raises(TextError):
        typeset(text, BOLD, (w, h - 1), size=60)


def test_line_height_comes_from_the_font_metrics_not_the_letters():
    ascent, descent = ImageFont.truetype(str(BOLD), 50).getmetrics()
    line_height = round((ascent + descent) * LINE_SPACING)
    layout = typeset("H\nH\nH", BOLD, (300, 600), size=50)
    assert layout.line_height == line_height
    assert layout.needed[1] == ascent + 2 * line_height + descent  # top of the box to the last line's descent
    rows = np.nonzero(layout.coverage.any(axis=1))[0]
    bottoms = [r for r in rows if r + 1 not in rows]  # the lower edge of each H: on the baselines
    assert np.diff(bottoms).tolist() == [line_height, line_height]
    assert typeset("ace", BOLD, (300, 200), size=50).needed[1] == typeset("gjy", BOLD, (300, 200), size=50).needed[1]


def test_align_places_each_line_left_center_or_right():
    width = 800
    placed = {a: typeset("Run further", BOLD, (width, 120), size=48, color=INK, align=a)
              for a in ("left", "center", "right")}
    inks = {a: p.ink for a, p in placed.items()}
    em = 48
    assert inks["left"][0] < 0.1 * em
    assert width - inks["right"][2] < 0.1 * em
    left_gap, right_gap = inks["center"][0], width - inks["center"][2]
    assert abs(left_gap - right_gap) < 0.1 * em
    assert inks["left"][0] < inks["center"][0] < inks["right"][0]
    # the same pixels, moved sideways only
    crops = [p.rgba[i[1]:i[3], i[0]:i[2]] for p, i in ((placed[a], inks[a]) for a in placed)]
    assert all(np.array_equal(crops[0], c) for c in crops[1:])


def test_center_aligns_each_line_on_its_own():
    layout = typeset("A much longer first line\nshort", BOLD, (900, 200), size=40, align="center")
    rows = layout.coverage.any(axis=1).nonzero()[0]
    second = layout.coverage[rows[-1] - 5:rows[-1] + 1]  # the last line's lower rows
    cols = second.any(axis=0).nonzero()[0]
    assert abs(cols.min() - (900 - cols.max() - 1)) < 6


def test_rendered_at_the_asked_resolution():
    small = typeset(LONG, BOLD, (400, 400), size=30)
    big = typeset(LONG, BOLD, (800, 800), size=60)
    assert big.rgba.shape == (800, 800, 4) and small.rgba.shape == (400, 400, 4)
    assert big.lines == small.lines
    assert abs(big.ink[2] - big.ink[0] - 2 * (small.ink[2] - small.ink[0])) < 12


# ── auto size ─────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("box", [(600, 300), (430, 500), (1000, 140), (250, 250)])
def test_auto_picks_the_largest_size_that_fits(box):
    layout = typeset(LONG, BOLD, box, auto=(12, 160), color=INK)
    assert 12 <= layout.size < 160
    assert typeset(LONG, BOLD, box, size=layout.size, color=INK).rgba.tobytes() == layout.rgba.tobytes()
    with pytest.raises(TextError):
        typeset(LONG, BOLD, box, size=layout.size + 1)


def test_auto_matches_a_linear_scan():
    box = (500, 260)
    fitting = []
    for size in range(16, 100):
        try:
            typeset(LONG, REGULAR, box, size=size)
            fitting.append(size)
        except TextError:
            pass
    assert typeset(LONG, REGULAR, box, auto=(16, 99)).size == max(fitting)


def test_auto_returns_the_maximum_when_it_fits_and_fails_below_the_minimum():
    assert typeset("Go", BOLD, (800, 400), auto=(20, 90)).size == 90
    assert typeset("Go", BOLD, (800, 400), auto=(40, 40)).size == 40
    with pytest.raises(TextError, match=r"at 60 px but the box is 300 x 100 px.*smallest size"):
        typeset(LONG, BOLD, (300, 100), auto=(60, 120))


# ── errors ────────────────────────────────────────────────────────────────────

def test_overflow_says_how_much_did_not_fit():
    with pytest.raises(TextError) as err:
        typeset(LONG, BOLD, (500, 150), size=48)
    message = str(err.value)
    assert "at 48 px but the box is 500 x 150 px" in message
    assert needs(message) == typeset(LONG, BOLD, (500, 2000), size=48).needed  # the real numbers
    assert "\n" not in message


def test_a_word_wider_than_the_box_is_named():
    alone = typeset("Unstoppable", BOLD, (2000, 200), size=96).needed[0]
    with pytest.raises(TextError) as err:
        typeset("The Unstoppable runner", BOLD, (alone - 1, 800), size=96)
    assert str(err.value) == f"the word 'Unstoppable' is {alone} px wide at 96 px but the box is {alone - 1} px wide"
    assert typeset("Unstoppable", BOLD, (alone, 200), size=96).lines == ("Unstoppable",)


def test_missing_glyphs_are_named_and_spaces_are_not():
    with pytest.raises(TextError) as err:
        typeset("Straße → 中文 中 😀\tgo\n", BOLD, (900, 400), size=40)
    assert str(err.value) == ("the font LiberationSans-Bold.ttf has no glyph for "
                              "'中' (U+4E2D), '文' (U+6587), '😀' (U+1F600)")
    assert typeset("Straße → 20 €", BOLD, (900, 400), size=40).lines == ("Straße → 20 €",)


def test_unreadable_font_and_empty_box_are_one_line_errors(tmp_path):
    bad = tmp_path / "Broken.ttf"
    bad.write_bytes(b"not a font at all" * 10)
    with pytest.raises(TextError, match=r"^the font Broken.ttf is not a readable"):
        typeset("Go", bad, (100, 100), size=20)
    with pytest.raises(TextError, match=r"^cannot read the font Missing.ttf"):
        typeset("Go", tmp_path / "Missing.ttf", (100, 100), size=20)
    with pytest.raises(TextError, match=r"empty \(0 x 50 px\)"):
        typeset("Go", BOLD, (0, 50), size=20)


# ── pixels ────────────────────────────────────────────────────────────────────

def test_colour_is_exact_and_alpha_is_antialiased_coverage():
    layout = typeset("Run further", BOLD, (600, 120), size=64, color=INK)
    alpha = layout.rgba[..., 3]
    assert ((alpha > 0) & (alpha < 255)).any()  # anti-aliased edges
    assert (layout.rgba[alpha > 0, :3] == INK).all()
    assert not layout.rgba[alpha == 0].any()  # transparent black outside the glyphs
    assert np.array_equal(layout.coverage, alpha >= 128)
    ys, xs = np.nonzero(alpha)
    assert layout.ink == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)


def test_opacity_scales_alpha_and_keeps_colour_and_coverage():
    full = typeset("Run further", BOLD, (600, 120), size=64, color=INK)
    half = typeset("Run further", BOLD, (600, 120), size=64, color=INK, opacity=0.5)
    assert np.array_equal(half.rgba[..., 3], np.rint(full.rgba[..., 3] * np.float32(0.5)).astype(np.uint8))
    visible = half.rgba[..., 3] > 0
    assert (half.rgba[visible, :3] == INK).all() and not half.rgba[~visible].any()
    assert np.array_equal(half.coverage, full.coverage)
    assert not typeset("Run", BOLD, (300, 120), size=64, color=INK, opacity=0).rgba.any()


def test_bold_comes_from_the_font():
    assert typeset("Go", BOLD, (200, 100), size=20).bold is True
    assert typeset("Go", REGULAR, (200, 100), size=20).bold is False


def test_empty_text_is_a_transparent_layer():
    layout = typeset("", BOLD, (200, 100), size=20)
    assert layout.lines == () and layout.ink is None and not layout.rgba.any() and not layout.coverage.any()


def test_basic_layout_engine_works_where_raqm_is_missing(monkeypatch):
    from brief.runtime.render import text
    monkeypatch.setattr(text, "text_engine", lambda: {**text_engine(), "layout": "basic", "raqm": None})
    first = typeset(LONG, BOLD, (420, 600), size=40, color=INK)
    assert len(first.lines) >= 3 and " ".join(first.lines) == LONG
    assert first.rgba.tobytes() == typeset(LONG, BOLD, (420, 600), size=40, color=INK).rgba.tobytes()
