"""Output formats made tile by tile (runtime/render/formats.py): after any change of the canvas, the
incremental output is bit-identical to a clean one, and it made again only the tiles the change
reaches (property over canvas and output sizes, modes and changed boxes)."""

from __future__ import annotations

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from brief.runtime.render import formats
from brief.runtime.store.cache import Cache
from brief.runtime.store.tiles import TILE, TiledImage


def make(mode: str, image: TiledImage, size, previous=None, changed=None) -> TiledImage:
    if mode == "outpaint":
        return formats.outpaint(image, size, 7, previous, changed)
    return formats.reframe(image, size, mode, previous, changed)


@st.composite
def case(draw):
    W, H = draw(st.integers(40, 600)), draw(st.integers(40, 600))
    ow, oh = draw(st.integers(30, 700)), draw(st.integers(30, 700))
    x0, y0 = draw(st.integers(0, W - 2)), draw(st.integers(0, H - 2))
    box = (x0, y0, draw(st.integers(x0 + 1, W)), draw(st.integers(y0 + 1, H)))
    return (W, H), (ow, oh), draw(st.sampled_from(["crop", "fit", "outpaint"])), box, draw(st.integers(0, 10**6))


@settings(max_examples=30, deadline=None)
@given(case())
def test_an_incremental_output_is_bit_identical_to_a_clean_one(args):
    (W, H), size, mode, box, seed = args
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), np.uint8), (0, 0), 1.5)
    before = make(mode, TiledImage.from_array(base), size)
    after = base.copy()
    after[box[1]:box[3], box[0]:box[2]] = rng.integers(0, 256, (box[3] - box[1], box[2] - box[0], 3))
    image = TiledImage.from_array(after)
    clean = make(mode, image, size)
    incremental = make(mode, image, size, before, [box])
    assert np.array_equal(incremental.to_array(), clean.to_array())
    unchanged = make(mode, image, size, clean, [])
    assert unchanged is clean, "nothing changed: the last output as it is"


def test_a_small_change_makes_only_the_tiles_it_reaches(tmp_path):
    cache = Cache(tmp_path / "cache")
    rng = np.random.default_rng(3)
    base = cv2.GaussianBlur(rng.integers(0, 256, (2048, 3072, 3), np.uint8), (0, 0), 2)
    for mode, size in (("crop", (1080, 1080)), ("fit", (1080, 1920)), ("outpaint", (1080, 1920))):
        before = make(mode, TiledImage.from_array(base), size)
        before.save(cache)  # stored: every tile has its key
        after = base.copy()
        box = (1400, 900, 1560, 1020)  # about 0.3% of the canvas, far from its border
        after[box[1]:box[3], box[0]:box[2]] = 0
        out = make(mode, TiledImage.from_array(after), size, before, [box])
        made = [t for t in out.keys.keys() | out.pixels.keys() if t not in out.keys]
        assert 0 < len(made) <= 4, (mode, len(made))
        total = -(-size[0] // TILE) * -(-size[1] // TILE)
        assert len(made) < total / 4


def test_a_change_at_the_border_remakes_the_outpaint_margins():
    rng = np.random.default_rng(5)
    base = cv2.GaussianBlur(rng.integers(0, 256, (300, 400, 3), np.uint8), (0, 0), 2)
    before = make("outpaint", TiledImage.from_array(base), (400, 600))
    after = base.copy()
    after[:10, :] = 255  # the top edge: the margin above continues it
    image = TiledImage.from_array(after)
    out = make("outpaint", image, (400, 600), before, [(0, 0, 400, 10)])
    assert np.array_equal(out.to_array(), make("outpaint", image, (400, 600)).to_array())
    assert not np.array_equal(out.to_array()[:20], before.to_array()[:20])


def test_the_runtime_outpaint_band_stays_within_the_one_the_plan_assumes():
    """lang/impact.py predicts which out-paint margins a change keeps from lang/geometry's band; the
    runtime's band (the draft's, and the diffusers reach) must never be wider, or a plan would reuse
    checks on margins that changed."""
    from brief.lang.geometry import outpaint_band
    from brief.runtime.backends.diffusers import OUTPAINT_REACH

    for canvas, size in [((1024, 768), (1080, 1920)), ((1024, 768), (1080, 1080)), ((1600, 1600), (1200, 628)),
                         ((3072, 2048), (1080, 1920)), ((512, 512), (2048, 512)), ((8192, 8192), (1080, 1920))]:
        place = formats.Placement.of(canvas, size, "fit")
        for backend, reach in (("draft", 0), ("diffusers", OUTPAINT_REACH)):
            assert formats.outpaint_band(place, reach)[1] <= outpaint_band(canvas, size, backend), \
                (canvas, size, backend)
