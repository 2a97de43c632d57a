"""The catalogue example's committed assets (issue 12): the two SKU product shots, the STRIDE logo
and the brand fonts. The PNGs are what examples/make_catalogue_assets.py makes (to the pixel, and
the script is deterministic to the byte); each shoe measures as its SKU colour under the brand
check the brief runs (`check color product`, p95 CIEDE2000 ≤ 2), placed as the brief places it."""

from __future__ import annotations

import importlib.util
import io

import numpy as np
import pytest
from PIL import Image, ImageFont

from brief.runtime.brand.checks import sku_color
from brief.runtime.render import imaging
from brief.runtime.store.tiles import Layer
from conftest import EXAMPLES

ASSETS = EXAMPLES / "assets"
FONTS = EXAMPLES / "brands" / "fonts"
SKUS = {"volt": "#D4FF3A", "navy": "#1F2A44"}


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("make_catalogue_assets", EXAMPLES / "make_catalogue_assets.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def made(script):
    """The script's images, made in memory: {file name: PNG bytes}, each saved as main() saves it."""
    shape = script.Shape()
    images = {f"sku-{name}.png": script.paint(shape, colour, accent) for name, (colour, accent) in script.SKUS.items()}
    images["stride-logo.png"] = script.logo()
    out = {}
    for name, img in images.items():
        buf = io.BytesIO()
        img.save(buf, format="PNG", optimize=True)
        out[name] = buf.getvalue()
    return out


def test_committed_assets_are_what_the_script_makes(made, script):
    for name, png in made.items():
        same = np.array_equal(np.asarray(Image.open(io.BytesIO(png))), np.asarray(Image.open(ASSETS / name)))
        assert same, f"examples/assets/{name} differs from what examples/make_catalogue_assets.py makes: rerun it"
    kit_copy = EXAMPLES / "brands" / "assets" / "stride-logo.png"
    assert kit_copy.read_bytes() == (ASSETS / "stride-logo.png").read_bytes()  # the brand kit's logo: same file
    again = script.logo()
    buf = io.BytesIO()
    again.save(buf, format="PNG", optimize=True)
    assert buf.getvalue() == made["stride-logo.png"]  # deterministic to the byte


def test_sku_shots_are_one_shape_on_a_transparent_background():
    alphas = []
    for name in SKUS:
        img = Image.open(ASSETS / f"sku-{name}.png")
        assert img.mode == "RGBA" and img.size == (900, 600)
        a = np.asarray(img)[..., 3]
        assert a[0, 0] == a[0, -1] == a[-1, 0] == a[-1, -1] == 0
        assert 0.3 < (a >= 128).mean() < 0.6  # a product, not a frame or a speck
        alphas.append(a)
    assert np.array_equal(*alphas)


@pytest.mark.parametrize("sku", SKUS)
def test_sku_shot_measures_its_colour_as_the_brief_places_it(sku):
    """The brief's product box (25% 35% 75% 90% of 1600 x 1600), fit contain, over a studio grey;
    the brand check's own measure: the dominant colour cluster's p95 CIEDE2000 to the SKU colour."""
    box = (400, 560, 1200, 1440)
    rgba = imaging.fit_image(Image.open(ASSETS / f"sku-{sku}.png"), box, "contain")
    a = rgba[..., 3:].astype(np.float64) / 255
    canvas = np.rint(rgba[..., :3] * a + np.array([200, 196, 188]) * (1 - a)).astype(np.uint8)
    params = {"within": 2, "target": SKUS[sku], "component": "product", "color": sku}
    result = sku_color(params, canvas, Layer(box, rgba))
    assert result["status"] == "pass", result
    assert result["measured"] <= 1.6  # a margin below 2 for a backdrop that bleeds into the edges


def test_logo_is_ink_on_transparent():
    img = Image.open(ASSETS / "stride-logo.png")
    assert img.mode == "RGBA" and img.size == (360, 180)
    px = np.asarray(img)
    ink = px[px[..., 3] >= 128][:, :3]
    assert len(ink) > 2000
    assert np.abs(ink.astype(int) - imaging.hex_rgb("#14161A")).max() <= 1
    x0, y0, x1, y1 = img.getbbox()
    assert x0 > 0 and y0 > 0 and x1 < 360 and y1 < 180  # whole inside its frame


def test_brand_fonts_are_committed_with_their_license():
    for file, style in (("LiberationSans-Bold.ttf", "Bold"), ("LiberationSans-Regular.ttf", "Regular")):
        font = ImageFont.truetype(str(FONTS / file), 40)
        assert font.getname() == ("Liberation Sans", style)
    license_text = (FONTS / "LICENSE").read_text(encoding="utf-8")
    assert "SIL Open Font License" in license_text and "Reserved Font Name Liberation" in license_text
