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


# ── edits and out-painting that look right (issue 12, point 6) ───────────────────────────────────

def _gradient(rgb: np.ndarray) -> np.ndarray:
    import cv2
    grey = rgb.astype(np.float32).mean(axis=2)
    return np.hypot(cv2.Sobel(grey, cv2.CV_32F, 1, 0) / 8, cv2.Sobel(grey, cv2.CV_32F, 0, 1) / 8)


def _sloped_scene() -> np.ndarray:
    """A yellow-to-green slope with fine grain (known: what lies behind any object put on it)."""
    import cv2
    rng = np.random.default_rng(4)
    t = np.linspace(0, 1, 200, dtype=np.float32)[:, None, None]
    bg = np.broadcast_to((1 - t) * np.float32([210, 195, 90]) + t * np.float32([70, 140, 60]), (200, 240, 3)).copy()
    grain = cv2.GaussianBlur(rng.normal(0, 1, (200, 240)).astype(np.float32), (0, 0), 1.2)
    return np.clip(np.rint(bg + (grain / grain.std() * 3)[..., None]), 0, 255).astype(np.uint8)


def _removal_faults(out: np.ndarray, truth: np.ndarray, box) -> list[str]:
    """What gives a removal away: a fill unlike the scene behind it, a flat smear, a hard edge."""
    import cv2
    x0, y0, x1, y1 = box
    smooth = [cv2.GaussianBlur(a.astype(np.float32), (0, 0), 2)[y0:y1, x0:x1] for a in (out, truth)]
    error = np.abs(smooth[0] - smooth[1]).mean(axis=2)
    g = _gradient(out)
    ring = np.zeros(g.shape, bool)
    ring[y0 - 16:y1 + 16, x0 - 16:x1 + 16] = True
    ring[y0 - 3:y1 + 3, x0 - 3:x1 + 3] = False
    frame = np.zeros(g.shape, bool)  # 2 px either side of the region's edge
    frame[y0 - 2:y1 + 2, x0 - 2:x1 + 2] = True
    frame[y0 + 2:y1 - 2, x0 + 2:x1 - 2] = False
    faults = []
    if error.mean() > 2.0 or error.max() > 8:
        faults.append(f"unlike the scene behind: mean {error.mean():.1f}, max {error.max():.1f}")
    inside = g[y0:y1, x0:x1].mean() / g[ring].mean()
    if not 0.6 <= inside <= 1.5:
        faults.append(f"texture inside {inside:.2f} x the surroundings'")
    edge = g[frame].mean() / g[ring].mean()
    if not 0.75 <= edge <= 1.33:
        faults.append(f"gradient at the edge {edge:.2f} x the surroundings'")
    return faults


def test_remove_blends_into_its_surroundings_where_telea_leaves_a_patch():
    import cv2

    from brief.runtime.backends import draft
    truth = _sloped_scene()
    scene = truth.copy()
    scene[75:125, 95:145] = (30, 30, 160)  # the object to remove
    box = (90, 70, 150, 130)
    params = {"box": list(box), "shape": "box"}
    out = draft.remove(None, params, [TiledImage.from_array(scene)]).to_array()
    assert _removal_faults(out, truth, box) == []
    outside = np.ones(scene.shape[:2], bool)
    outside[box[1]:box[3], box[0]:box[2]] = False
    assert np.array_equal(out[outside], scene[outside])
    assert np.array_equal(out, draft.remove(None, params, [TiledImage.from_array(scene)]).to_array())
    # the same measure tells the old fill (OpenCV's Telea over the box) for what it is
    crop = scene[54:146, 74:166].copy()
    hole = np.zeros(crop.shape[:2], np.uint8)
    hole[16:-16, 16:-16] = 255
    telea = scene.copy()
    telea[54:146, 74:166] = cv2.inpaint(crop, hole, 5, cv2.INPAINT_TELEA)
    assert _removal_faults(telea, truth, box)


def _shoe_scene(band: int):
    alpha = np.zeros((80, 140), np.uint8)
    alpha[20:70, 10:130] = 255  # the product, letterboxed in its box
    alpha[12:20, 60:128] = 255
    layer = Layer((60, 60, 200, 140), np.dstack([np.full((80, 140, 3), (200, 20, 40), np.uint8), alpha]))
    scene = np.empty((220, 260, 3), np.uint8)
    scene[...] = (150, 190, 110)
    imaging.blend_into(scene, (0, 0, 260, 220), layer)
    box = imaging.grow(layer.box, band, (260, 220))
    return scene, layer, box


def test_a_shadow_in_paint_around_a_component_falls_under_it_not_all_round():
    from brief.runtime.backends import draft
    band = 16
    scene, layer, box = _shoe_scene(band)
    params = {"box": list(box), "shape": "around", "band": band, "seed": 3, "strength": 1}
    inputs = [TiledImage.from_array(scene), tex.describe("soft contact shadow on grass"), layer]
    out = draft.inpaint(None, params, inputs).to_array()
    dark = scene.astype(np.int16).mean(axis=2) - out.astype(np.int16).mean(axis=2)
    bottom, left, right = 60 + 70, 60 + 10, 60 + 130  # the product's foot and sides on the canvas
    under = dark[bottom:bottom + 4, left + 12:right - 12]
    assert under.mean() > 25, "darkest where it stands"
    assert dark[bottom + 2, 130] > dark[bottom + 8, 130] > dark[bottom + 13, 130] >= 0, "fading downward"
    assert dark[bottom + 2, 130] > dark[bottom + 2, left + 4] > dark[bottom + 2, left - 6], "and sideways"
    assert np.abs(dark[:bottom - band // 4 - 1]).max() <= 1, "nothing above its foot: no halo"
    solid = imaging.layer_alpha_in(layer, (0, 0, 260, 220)) == 255
    assert np.array_equal(out[solid], scene[solid]), "the product itself is not darkened"
    outside = np.ones(scene.shape[:2], bool)
    outside[box[1]:box[3], box[0]:box[2]] = False
    assert np.array_equal(out[outside], scene[outside])
    assert np.array_equal(out, draft.inpaint(None, params, inputs).to_array())


def test_a_box_in_paint_fades_in_from_its_edge():
    from brief.runtime.backends import draft
    scene = _sloped_scene()
    box = (60, 50, 180, 150)
    params = {"box": list(box), "shape": "box", "seed": 2, "strength": 1}
    out = draft.inpaint(None, params, [TiledImage.from_array(scene), tex.describe("wildflowers")])
    change = np.abs(out.to_array().astype(np.int16) - scene).mean(axis=2)
    edge = np.concatenate([change[box[1], box[0]:box[2]], change[box[3] - 1, box[0]:box[2]],
                           change[box[1]:box[3], box[0]], change[box[1]:box[3], box[2] - 1]])
    assert change[box[1] + 20:box[3] - 20, box[0] + 20:box[2] - 20].mean() > 20, "the prompt's colours inside"
    assert edge.mean() < 0.1 * change[box[1] + 20:box[3] - 20, box[0] + 20:box[2] - 20].mean(), "no hard edge"


def _row_steps(rgb: np.ndarray) -> np.ndarray:
    """How much each row differs from the next (mean absolute, over columns and channels)."""
    return np.abs(np.diff(rgb.astype(np.float32), axis=0)).mean(axis=(1, 2))


def test_outpainted_margins_have_no_seam_no_stretched_bands_and_some_texture():
    import cv2

    from brief.runtime.render import formats
    canvas = tex.texture(tex.describe("sunlit summer park, lush grass, wildflowers"), 256, 192, seed=5)
    out = formats.outpaint(TiledImage.from_array(canvas), (256, 480), seed=9).to_array()
    y0, y1 = 144, 336  # the placed canvas: scale 1, centred
    assert np.array_equal(out[y0:y1], canvas)
    typical = np.percentile(_row_steps(canvas), 95)  # the canvas's own row-to-row differences
    steps = _row_steps(out)
    assert steps.max() <= 1.5 * typical + 0.5, (steps.max(), typical)  # at the seams and in the margins
    for near, edge in ((out[y0 - 4:y0], canvas[:4]), (out[y1:y1 + 4], canvas[-4:])):
        assert np.abs(near.astype(np.float32).mean(axis=(0, 1)) - edge.mean(axis=(0, 1))).max() < 4
    for far in (out[:y0 - 48], out[y1 + 48:]):  # beyond the first few dozen px: blurred, textured
        smooth = cv2.GaussianBlur(far.astype(np.float32), (0, 0), 4).mean(axis=2)
        across, along = np.abs(smooth[:, 8:] - smooth[:, :-8]).mean(), np.abs(smooth[8:] - smooth[:-8]).mean()
        assert 1 / 3 < across / along < 3, "no streaks: it varies as much outward as along the edge"
        assert (smooth - cv2.GaussianBlur(smooth, (0, 0), 12)).std() > 0.4, "not a flat smear"
    assert np.array_equal(out, formats.outpaint(TiledImage.from_array(canvas), (256, 480), seed=9).to_array())


def test_harmonize_fades_out_across_its_band_with_no_ring_at_its_outer_edge():
    import cv2

    from brief.runtime.backends import draft
    band = 12
    scene, layer, _ = _shoe_scene(band)
    grain = np.random.default_rng(8).normal(0, 6, scene.shape[:2])[..., None]
    base = np.clip(scene + grain, 0, 255).astype(np.uint8)
    imaging.blend_into(base, (0, 0, 260, 220), layer)  # the product over a grainy ground
    box = imaging.grow(layer.box, band, (260, 220))
    out = draft.harmonize(None, {"box": list(box), "band": band}, [TiledImage.from_array(base), layer]).to_array()
    change = np.abs(out.astype(np.int16) - base).mean(axis=2)
    outside = (imaging.layer_alpha_in(layer, (0, 0, 260, 220)) == 0).astype(np.uint8)
    distance = cv2.distanceTransform(outside, cv2.DIST_L2, 5)
    near = change[(distance > 0) & (distance <= 3)].mean()
    far = change[(distance > band - 3) & (distance < band)].mean()
    assert near > 2, "the seam is softened"
    assert far < min(1.0, 0.05 * near), "and the softening fades out: no ring where the band ends"
    assert np.array_equal(out[distance == 0], base[distance == 0]), "the component itself is kept"
    assert np.array_equal(out[distance > band + 1], base[distance > band + 1])
