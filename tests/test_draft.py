"""The draft backend's real image operations, on synthetic images with known answers."""

from __future__ import annotations

import numpy as np
from PIL import Image

from brief.runtime.backends import draft_textures as tex
from brief.runtime.render import imaging
from brief.runtime.store.tiles import Layer, TiledImage


def test_recolor_moves_the_dominant_colour_within_delta_e_and_leaves_others():
    rng = np.random.default_rng(1)
    shoe = np.zeros((60, 80, 3), np.uint8)
    shoe[...] = (40, 90, 200)  # a blue upper, with shading
    shoe = np.clip(shoe.astype(int) + rng.integers(-18, 18, (60, 80, 1)), 0, 255).astype(np.uint8)
    shoe[45:, :] = (250, 250, 250)  # white sole
    shoe[10:14, 20:60] = (15, 15, 15)  # black lace
    weight = np.ones(shoe.shape[:2], np.float32)
    out = imaging.recolor_pixels(shoe, weight, "#C8102E", within=2.0)
    target = imaging.to_lab(np.array([[[200, 16, 46]]], np.uint8))[0, 0]
    upper = imaging.to_lab(out[:40, :])[np.ones((40, 80), bool) & ~np.pad(np.ones((4, 40), bool), ((10, 26), (20, 20)))]
    assert np.percentile(imaging.delta_e(target, upper), 95) <= 2.0
    assert (out[45:] == shoe[45:]).all() and (out[10:14, 20:60] == shoe[10:14, 20:60]).all()
    assert out[:40].std() > 0  # shading kept, not a flat fill


def test_fit_modes():
    img = Image.new("RGBA", (100, 50), (255, 0, 0, 255))
    contain = imaging.fit_image(img, (0, 0, 80, 80), "contain")
    assert contain.shape == (80, 80, 4) and contain[0, 40, 3] == 0 and contain[40, 40, 3] == 255
    cover = imaging.fit_image(img, (0, 0, 80, 80), "cover")
    assert cover[..., 3].min() == 255
    stretch = imaging.fit_image(img, (0, 0, 30, 90), "stretch")
    assert stretch.shape == (90, 30, 4) and stretch[..., 3].min() == 255


def test_compositing_is_exact_integer_alpha():
    base = Layer((0, 0, 4, 4), np.dstack([np.full((4, 4, 3), 200, np.uint8), np.full((4, 4), 255, np.uint8)]))
    half = Layer((1, 1, 3, 3), np.dstack([np.zeros((2, 2, 3), np.uint8), np.full((2, 2), 128, np.uint8)]))
    out = imaging.composite_region((0, 0, 4, 4), [base, half])
    assert out[0, 0].tolist() == [200, 200, 200]
    assert out[1, 1].tolist() == [(200 * 127 + 127) // 255] * 3
    # a region alone gives the same bytes as the whole
    assert np.array_equal(imaging.composite_region((1, 0, 3, 4), [base, half]), out[:, 1:3])


def test_tiled_image_replace_shares_untouched_tiles(tmp_path):
    from brief.runtime.store.cache import Cache
    cache = Cache(tmp_path / "c")
    arr = np.random.default_rng(0).integers(0, 255, (600, 700, 3), np.uint8)
    img = TiledImage.from_array(arr)
    img.save(cache)
    changed = img.replaced((10, 10, 50, 50), np.zeros((40, 40, 3), np.uint8))
    changed.save(cache)
    assert sum(img.keys[t] != changed.keys[t] for t in img.keys) == 1
    again = TiledImage.load(changed.save(cache), cache)
    expected = arr.copy()
    expected[10:50, 10:50] = 0
    assert np.array_equal(again.to_array(), expected)


def test_reframe_and_outpaint_sizes():
    from brief.runtime.render import formats

    rgb = TiledImage.from_array(np.random.default_rng(0).integers(0, 255, (60, 80, 3), np.uint8))
    assert formats.reframe(rgb, (50, 50), "crop").to_array().shape == (50, 50, 3)
    fitted = formats.reframe(rgb, (100, 40), "fit")
    assert fitted.to_array().shape == (40, 100, 3)
    out = formats.outpaint(rgb, (80, 120), seed=1).to_array()
    assert out.shape == (120, 80, 3)
    assert np.array_equal(out, formats.outpaint(rgb, (80, 120), seed=1).to_array())


def test_placeholders_follow_keywords_and_seeds():
    summer, autumn = tex.describe("sunlit summer park"), tex.describe("crisp autumn park, falling leaves")
    a = tex.texture(summer, 64, 48, seed=1).reshape(-1, 3).mean(axis=0)
    b = tex.texture(autumn, 64, 48, seed=1).reshape(-1, 3).mean(axis=0)
    assert a[1] > a[0] and b[0] > b[1]  # green versus orange
    assert np.array_equal(tex.texture(summer, 64, 48, seed=1), tex.texture(summer, 64, 48, seed=1))
    assert not np.array_equal(tex.texture(summer, 64, 48, seed=1), tex.texture(summer, 64, 48, seed=2))
    assert tex.describe("soft contact shadow")["motif"] == "shadow"


def test_band_mask_surrounds_alpha():
    alpha = np.zeros((20, 20), np.uint8)
    alpha[5:15, 5:15] = 255
    layer = Layer((10, 10, 30, 30), np.dstack([np.zeros((20, 20, 3), np.uint8), alpha]))
    band = imaging.band_mask(layer, 3, (0, 0, 40, 40))
    assert band[20, 20] == 0 and band[13, 20] == 1 and band[5, 5] == 0


def test_banded_png_decodes_to_the_same_pixels_and_reuses_bands(tmp_path):
    import io

    from brief.runtime.deliver import pngstream
    from brief.runtime.store.cache import Cache
    cache = Cache(tmp_path / "c")
    rng = np.random.default_rng(3)
    arr = (rng.integers(0, 40, (700, 530, 3)) + np.linspace(0, 200, 530)[None, :, None]).astype(np.uint8)
    img = TiledImage.from_array(arr)
    data = pngstream.encode(img, cache)
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data))), arr)
    bands = len(list((tmp_path / "c" / "objects").glob("*/pngband-*.bin")))
    changed = img.replaced((0, 0, 10, 10), np.zeros((10, 10, 3), np.uint8))
    data2 = pngstream.encode(changed, cache)
    expected = arr.copy()
    expected[:10, :10] = 0
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data2))), expected)
    assert len(list((tmp_path / "c" / "objects").glob("*/pngband-*.bin"))) == bands + 1  # one band redone
    assert pngstream.adler32_combine(__import__("zlib").adler32(b"abc"), __import__("zlib").adler32(b"defg"), 4) == \
        __import__("zlib").adler32(b"abcdefg")
