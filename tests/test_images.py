"""Images as people have them (DESIGN's bad inputs 13, 24 and 25): a phone photo with EXIF rotation,
ICC-tagged pixels (Display P3, Adobe RGB), 16-bit and palette PNGs are placed upright and in sRGB;
masks get the same limits and clear errors as assets; `brief check` decodes image bodies; every
exported PNG is tagged sRGB. Test images are generated here, ICC profiles built by hand."""

from __future__ import annotations

import io
import json
import struct

import numpy as np
import pytest
from PIL import Image

from brief.runtime.build import Options, build_file
from brief.runtime.render.execute import BuildError
from test_cli import run

# ── ICC v2 matrix/TRC profiles, built by hand (ImageCms.createProfile makes only sRGB, LAB, XYZ) ──

D50 = np.array([0.9642, 1.0, 0.8249])
D65 = (0.3127, 0.3290)
BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])
SRGB_PRIMARIES = ((0.64, 0.33), (0.30, 0.60), (0.15, 0.06))
P3_PRIMARIES = ((0.680, 0.320), (0.265, 0.690), (0.150, 0.060))
ADOBE_PRIMARIES = ((0.64, 0.33), (0.21, 0.71), (0.15, 0.06))
ADOBE_GAMMA = 563 / 256  # 2.19921875, as Adobe RGB (1998) profiles store it (u8Fixed8)


def _xyz(xy) -> np.ndarray:
    return np.array([xy[0] / xy[1], 1.0, (1 - xy[0] - xy[1]) / xy[1]])


def rgb_to_xyz(primaries, white=D65) -> np.ndarray:
    """The linear RGB → XYZ matrix of a colour space (columns: the primaries, scaled to the white)."""
    P = np.stack([_xyz(p) for p in primaries], axis=1)
    return P * np.linalg.solve(P, _xyz(white))


def srgb_decode(v):
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def srgb_encode(v):
    return np.where(v <= 0.0031308, v * 12.92, 1.055 * np.power(np.maximum(v, 0), 1 / 2.4) - 0.055)


def matrix_profile(name: str, primaries, curve: bytes) -> bytes:
    """An ICC v2 RGB display profile: D65 primaries Bradford-adapted to the D50 PCS, one TRC."""
    def s15(v) -> bytes:
        return struct.pack(">i", round(float(v) * 65536))

    def xyz_tag(v) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(s15(c) for c in v)

    cone = BRADFORD @ _xyz(D65), BRADFORD @ D50
    adapted = np.linalg.inv(BRADFORD) @ np.diag(cone[1] / cone[0]) @ BRADFORD @ rgb_to_xyz(primaries)
    text = name.encode("ascii") + b"\0"
    tags = [(b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 78),
            (b"cprt", b"text\0\0\0\0none\0"), (b"wtpt", xyz_tag(D50)),
            (b"rXYZ", xyz_tag(adapted[:, 0])), (b"gXYZ", xyz_tag(adapted[:, 1])), (b"bXYZ", xyz_tag(adapted[:, 2])),
            (b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for sig, data in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(body), len(data))
        body += data
    body += b"\0" * (-len(body) % 4)
    header = (struct.pack(">I", offset + len(body)) + b"none" + bytes([2, 0x10, 0, 0]) + b"mntrRGB XYZ "
              + b"\0" * 12 + b"acsp" + b"\0" * 28 + b"".join(s15(c) for c in D50) + b"\0" * 48)
    return header + struct.pack(">I", len(tags)) + table + body


SRGB_TRC = b"curv\0\0\0\0" + struct.pack(">I", 4096) + b"".join(
    struct.pack(">H", round(float(srgb_decode(i / 4095)) * 65535)) for i in range(4096))
P3_ICC = matrix_profile("Display P3 (test)", P3_PRIMARIES, SRGB_TRC)
ADOBE_ICC = matrix_profile("Adobe RGB (test)", ADOBE_PRIMARIES,
                           b"curv\0\0\0\0" + struct.pack(">IH", 1, round(ADOBE_GAMMA * 256)))


def to_srgb(rgb: np.ndarray, primaries, decode) -> np.ndarray:
    """The independent answer: decode, to XYZ (D65), to linear sRGB, clip, encode, round."""
    m = np.linalg.inv(rgb_to_xyz(SRGB_PRIMARIES)) @ rgb_to_xyz(primaries)
    linear = np.clip(decode(rgb.astype(np.float64) / 255) @ m.T, 0, 1)
    return np.rint(srgb_encode(linear) * 255).astype(int)


# ── small projects ────────────────────────────────────────────────────────────

def one_asset(project, file: str, size=(64, 48), extra: str = "", fit: str = "stretch") -> str:
    return f'''use "brands/acme.brief"
brief img {{
  canvas {size[0]} x {size[1]}
  brand acme
  component product {{
    asset "assets/{file}"
    region full
    fit {fit}
{extra}  }}
}}
'''


def build(project, text: str, name: str = "img.brief", **options):
    project.write(name, text)
    return build_file(project.root / name, Options(cache=project.root / "cache", out=project.root / "out", **options))


def layer(project, name: str = "product") -> np.ndarray:
    with Image.open(project.root / "out" / "img" / "layers" / f"{name}.png") as img:
        return np.asarray(img.convert("RGBA")).astype(int)


def save(project, file: str, img: Image.Image, **kw) -> None:
    img.save(project.root / "assets" / file, **kw)


# ── EXIF orientation ──────────────────────────────────────────────────────────

def test_phone_photo_with_exif_rotation_is_placed_upright(project):
    stored = np.zeros((40, 60, 3), np.uint8)  # as the sensor wrote it: landscape, red left, blue right
    stored[:, :30] = (220, 20, 20)
    stored[:, 30:] = (20, 20, 220)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    save(project, "photo.jpg", Image.fromarray(stored), exif=exif, quality=95)
    build(project, one_asset(project, "photo.jpg", size=(60, 60), fit="contain"))
    px = layer(project)
    # upright it is portrait 40 x 60: contained in 60 x 60 it leaves 10 px transparent left and right
    assert (px[:, :9, 3] == 0).all() and (px[:, 51:, 3] == 0).all() and (px[:, 12:48, 3] == 255).all()
    top, bottom = px[5:25, 15:45, :3].mean(axis=(0, 1)), px[35:55, 15:45, :3].mean(axis=(0, 1))
    assert top[0] > 180 and top[2] < 60  # the left of the sensor image is the top of the photo
    assert bottom[2] > 180 and bottom[0] < 60


# ── ICC profiles → sRGB ───────────────────────────────────────────────────────

@pytest.mark.parametrize("icc, primaries, decode", [
    (P3_ICC, P3_PRIMARIES, srgb_decode),
    (ADOBE_ICC, ADOBE_PRIMARIES, lambda v: v ** ADOBE_GAMMA),
], ids=["display-p3", "adobe-rgb"])
def test_icc_tagged_asset_is_converted_to_srgb(project, icc, primaries, decode):
    rgb = np.random.default_rng(4).integers(0, 256, (48, 64, 3), np.uint8)
    rgb[0, :4] = [(200, 16, 46), (255, 0, 0), (0, 255, 0), (128, 128, 128)]
    save(project, "tagged.png", Image.fromarray(rgb), icc_profile=icc)
    build(project, one_asset(project, "tagged.png"))  # canvas = asset size: placed without resampling
    px = layer(project)
    expected = to_srgb(rgb, primaries, decode)
    assert np.abs(px[..., :3] - expected).max() <= 1
    assert (px[..., 3] == 255).all()
    assert np.abs(px[..., :3] - rgb).max() > 20  # a real conversion, not the numbers as stored


def test_p3_red_fails_the_colour_check_that_its_numbers_would_pass(project):
    red = Image.new("RGB", (64, 48), (200, 16, 46))  # the brand red's numbers, meant in Display P3
    save(project, "p3red.png", red, icc_profile=P3_ICC)
    save(project, "red.png", red)
    extra = "    color red within 2\n"
    check = "  check color product\n}\n"
    built = build(project, one_asset(project, "p3red.png", extra=extra).rstrip()[:-1] + check)
    result = built[0].manifest["checks"][0]["result"]
    assert result["status"] == "fail" and result["measured"] == pytest.approx(4.7, abs=0.15)
    built = build(project, one_asset(project, "red.png", extra=extra).rstrip()[:-1] + check)
    assert built[0].manifest["checks"][0]["result"]["status"] == "pass"


# ── 16-bit and palette PNGs ──────────────────────────────────────────────────

def test_16_bit_grey_gradient_keeps_its_values(project):
    grey16 = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (48, 1))
    save(project, "grey16.png", Image.fromarray(grey16))
    with Image.open(project.root / "assets" / "grey16.png") as img:
        assert img.mode.startswith("I")  # read as 16-bit
    build(project, one_asset(project, "grey16.png"))
    px = layer(project)
    expected = np.rint(grey16 / 257).astype(int)
    for c in range(3):
        assert np.array_equal(px[..., c], expected)
    assert (px[..., 3] == 255).all()


def test_palette_png_with_a_transparent_index(project):
    pal = Image.new("P", (64, 48), 1)
    pal.putpalette([255, 255, 255, 30, 60, 200, 200, 16, 46] + [0] * 759)
    pal.paste(0, (0, 0, 32, 48))  # the left half: index 0, the transparent one
    pal.paste(2, (32, 0, 64, 8))
    save(project, "pal.png", pal, transparency=0)
    build(project, one_asset(project, "pal.png"))
    px = layer(project)
    assert (px[:, :32, 3] == 0).all()
    assert (px[8:, 32:] == (30, 60, 200, 255)).all() and (px[:8, 32:] == (200, 16, 46, 255)).all()


def test_ordinary_8_bit_images_decode_exactly_as_before(tmp_path):
    """Untagged 8-bit files give the pixels Pillow's plain convert gives (what the reader did
    before), as assets (RGBA) and as masks (L): existing renders do not change."""
    from brief.runtime.render import images

    rng = np.random.default_rng(9)
    rgb = Image.fromarray(rng.integers(0, 256, (30, 40, 3), np.uint8))
    cases = {"RGBA": Image.fromarray(rng.integers(0, 256, (30, 40, 4), np.uint8)), "RGB": rgb,
             "L": rgb.convert("L"), "LA": Image.fromarray(rng.integers(0, 256, (30, 40, 2), np.uint8), "LA"),
             "P": rgb.convert("P", palette=Image.Palette.ADAPTIVE), "1": rgb.convert("1")}
    for name, img in cases.items():
        path = tmp_path / f"plain-{name}.png"
        img.save(path)
        for mode in ("RGBA", "L"):
            with Image.open(path) as plain:
                before = np.asarray(plain.convert(mode))
            assert np.array_equal(np.asarray(images.open_image(path, mode=mode)), before), (name, mode)


# ── masks: the same reader, the same limits, clear errors ─────────────────────

MASKED = '''use "brands/acme.brief"
brief img {
  canvas 64 x 48
  brand acme
  component sky {
    prompt "summer park"
  }
  component product {
    asset "assets/product.png"
    region mask "assets/MASK"
    z 2
  }
}
'''


def test_16_bit_mask_is_read_as_a_gradient(project):
    ramp = np.tile(np.linspace(0, 65535, 64).round().astype(np.uint16), (48, 1))
    save(project, "ramp16.png", Image.fromarray(ramp))
    build(project, MASKED.replace("MASK", "ramp16.png"))
    alpha = layer(project)[..., 3]
    assert np.abs(alpha - np.rint(ramp / 257)).max() <= 1  # today: almost all 255


def bad_masks(project) -> dict[str, str]:
    """file → the words its error must contain."""
    Image.new("1", (20000, 20000)).save(project.root / "assets" / "bomb.png")  # tiny file, 400 megapixels
    good = (project.root / "assets" / "mask.png").read_bytes()
    (project.root / "assets" / "cut.png").write_bytes(good[:len(good) // 2])  # truncated mid-pixels
    (project.root / "assets" / "junk.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    return {"bomb.png": "decompression bomb", "cut.png": "truncated", "junk.png": "not an image"}


def test_a_bad_mask_fails_the_build_with_one_clear_error(project):
    for file, words in bad_masks(project).items():
        with pytest.raises(BuildError) as info:
            build(project, MASKED.replace("MASK", file))
        message = str(info.value)
        assert file in message and words in message and "img.brief:" in message and "\n" not in message
        res = run("build", project.root / "img.brief", "--cache", project.root / "cache", "-q")
        assert res.returncode == 1 and file in res.stderr and "Traceback" not in res.stderr


def test_a_bad_mask_in_watch_mode_is_reported_and_survived(project):
    from test_watch import Running

    bad_masks(project)
    running = Running(project, target=project.write("img.brief", MASKED.replace("MASK", "cut.png")))
    try:
        assert "cut.png" in running.watcher.rebuilds[0].error and "truncated" in running.watcher.rebuilds[0].error
        project.write("img.brief", MASKED.replace("MASK", "mask.png"))
        assert running.settle(2) == 2
        assert running.watcher.rebuilds[-1].error == "" and running.watcher.rebuilds[-1].built
    finally:
        running.close()


# ── `brief check` decodes image bodies ────────────────────────────────────────

def test_check_reports_a_truncated_asset_and_bad_masks_at_their_lines(project):
    bad_masks(project)
    good = (project.root / "assets" / "product.png").read_bytes()
    (project.root / "assets" / "half.png").write_bytes(good[:60])
    logo = project.root / "assets" / "logo.png"
    logo.write_bytes(logo.read_bytes()[:60])  # the brand kit's logo, named in brands/acme.brief
    text = MASKED.replace("MASK", "junk.png").replace("product.png", "half.png") + '''brief more {
  canvas 64 x 48
  component a {
    asset "assets/product.png"
    region mask "assets/bomb.png"
  }
  component b {
    asset "assets/product.png"
    region mask "assets/cut.png"
  }
  edit e {
    remove mask "assets/cut.png"
  }
}
'''
    path = project.write("img.brief", text)
    res = run("check", path, "--color", "never")
    assert res.returncode == 1, res.stderr
    lines = text.splitlines()
    for needle, words in (('"assets/half.png"', "truncated"), ('"assets/junk.png"', "not an image"),
                          ('"assets/bomb.png"', "decompression bomb"), ('mask "assets/cut.png"', "truncated")):
        row = next(i for i, line in enumerate(lines) if needle in line) + 1
        col = lines[row - 1].index('"') + 1
        assert f"img.brief:{row}:{col}" in res.stderr and words in res.stderr
        assert lines[row - 1] in res.stderr
    assert res.stderr.count("cut.png") >= 2  # each line that names it
    assert "acme.brief:5:8" in res.stderr and 'logo "../assets/logo.png"' in res.stderr
    assert "Traceback" not in res.stderr
    as_json = json.loads(run("check", path, "--format", "json").stderr)
    assert len([d for d in (as_json if isinstance(as_json, list) else as_json["diagnostics"])
                if d["severity"] == "error"]) == 6


def test_check_stays_quiet_on_good_images(project):
    path = project.write("img.brief", MASKED.replace("MASK", "mask.png"))
    res = run("check", path)
    assert res.returncode == 0 and res.stderr == ""


# ── exported PNGs are tagged sRGB ─────────────────────────────────────────────

def test_every_exported_png_is_tagged_srgb(project):
    text = MASKED.replace("MASK", "mask.png").rstrip()[:-1] + "  output square 40 x 40 crop\n}\n"
    built = build(project, text)
    pngs = sorted((project.root / "out").rglob("*.png"))
    assert {p.name for p in pngs} >= {"square.png", "canvas.png", "sky.png", "product.png"}
    assert {p.parent.name for p in pngs} >= {"img", "layers", "masks"}
    for p in pngs:
        with Image.open(p) as img:
            assert img.info.get("srgb") == 0, p  # sRGB chunk, perceptual intent
            img.load()
    assert built[0].manifest["files"]
    with Image.open(project.root / "out" / "img" / "square.png") as img:
        assert img.info.get("gamma") == pytest.approx(0.45455)
    layer_bytes = (project.root / "out" / "img" / "layers" / "product.png").read_bytes()
    assert io.BytesIO(layer_bytes).read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_layered_psd_names_srgb(project):
    from psd_tools import PSDImage
    from psd_tools.constants import Resource

    build(project, MASKED.replace("MASK", "mask.png"), psd=True)
    (psd,) = (project.root / "out" / "img").glob("*.psd")
    doc = PSDImage.open(psd)
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(io.BytesIO(doc.image_resources.get_data(Resource.ICC_PROFILE)))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
