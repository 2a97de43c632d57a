"""Output encodings and delivery names (issue 12, `format` and `file` in an output's block): JPEG and
WebP bytes that are the same for the same pixels and carry the sRGB ICC profile, the largest quality
under a `max` cap found by bisection, a clear error for a cap nothing meets (PNG included), and the
pure rules the checker applies to sizes (`500KB`) and file names."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

from brief.lang.delivery import (
    DEFAULT_QUALITY,
    check_file_name,
    format_size,
    parse_file_size,
)
from brief.runtime.deliver.encodings import (
    ICC_DATE,
    EncodingError,
    check_png_cap,
    encode_output,
    srgb_icc,
)


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    """96 x 128 of gradient plus seeded noise: its encoded size moves with quality."""
    rng = np.random.default_rng(12)
    y, x = np.mgrid[0:96, 0:128]
    base = np.stack([x * 2, y * 2, (x + y)], axis=-1).astype(np.int16)
    return np.clip(base + rng.integers(-40, 40, base.shape), 0, 255).astype(np.uint8)


def _open(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def _riff_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    kinds, at = [], 12
    while at < len(data):
        kinds.append(data[at:at + 4])
        at += 8 + ((int.from_bytes(data[at + 4:at + 8], "little") + 1) & ~1)  # chunks are padded to even sizes
    return kinds


# ── encoding ─────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_same_pixels_give_the_same_bytes(rgb, fmt):
    first, second = encode_output(rgb, fmt, None, None), encode_output(rgb.copy(), fmt, None, None)
    assert first.data == second.data and first.size == len(first.data) > 0
    assert first.quality == DEFAULT_QUALITY == 90 and first.fmt == fmt
    capped = [encode_output(rgb, fmt, None, first.size - 1) for _ in range(2)]
    assert capped[0].data == capped[1].data and capped[0].quality < DEFAULT_QUALITY


@pytest.mark.parametrize("fmt, pil_format", [("jpeg", "JPEG"), ("webp", "WEBP")])
def test_the_file_carries_the_srgb_profile_and_no_exif(rgb, fmt, pil_format):
    im = _open(encode_output(rgb, fmt, 80, None).data)
    assert im.format == pil_format and im.size == (128, 96) and im.mode == "RGB"
    assert im.info["icc_profile"] == srgb_icc()
    profile = ImageCms.ImageCmsProfile(io.BytesIO(im.info["icc_profile"]))
    assert "sRGB" in ImageCms.getProfileDescription(profile)
    assert "exif" not in im.info and len(im.getexif()) == 0


def test_the_profile_is_dated_by_a_constant_not_the_clock():
    """Little CMS stamps a profile with the time it was made: embedded as is, the same pixels would
    give other bytes in every process (a farm task run twice, DESIGN's bad input 16)."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(srgb_icc()))
    assert profile.profile.creation_date == ICC_DATE
    assert srgb_icc() == srgb_icc()


def test_webp_is_lossy_and_jpeg_keeps_chroma_from_quality_90(rgb):
    assert _riff_chunks(encode_output(rgb, "webp", 90, None).data) == [b"VP8X", b"ICCP", b"VP8 "]  # lossy: not VP8L
    sampling = {q: JpegImagePlugin.get_sampling(_open(encode_output(rgb, "jpeg", q, None).data))
                for q in (89, 90, 100)}
    assert sampling == {89: 2, 90: 0, 100: 0}  # 4:2:0 below 90, 4:4:4 from 90


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_a_cap_finds_the_largest_quality_that_fits(rgb, fmt):
    top, bottom = encode_output(rgb, fmt, 90, None).size, encode_output(rgb, fmt, 1, None).size
    cap = (top + bottom) // 2
    got = encode_output(rgb, fmt, None, cap)
    assert 1 < got.quality < 90 and got.size <= cap
    assert encode_output(rgb, fmt, got.quality, None).data == got.data
    assert encode_output(rgb, fmt, got.quality + 1, None).size > cap
    # a quality the cap already allows is kept; one it does not is lowered within [1, quality]
    assert encode_output(rgb, fmt, 60, top).quality == 60
    lowered = encode_output(rgb, fmt, 95, cap)
    assert lowered.size <= cap < encode_output(rgb, fmt, lowered.quality + 1, None).size


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_a_cap_no_quality_meets_is_one_clear_sentence(rgb, fmt):
    smallest = encode_output(rgb, fmt, 1, None).size
    with pytest.raises(EncodingError) as exc:
        encode_output(rgb, fmt, 90, 500)
    message = str(exc.value)
    assert message == (f"no {fmt} quality fits max 500 bytes: quality 1 is {format_size(smallest)}; "
                       "raise max or shrink the output")
    assert "\n" not in message


def test_a_png_over_its_cap_is_refused_since_it_is_lossless(rgb):
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    png = buf.getvalue()
    assert check_png_cap(png, None).data == png and check_png_cap(png, len(png)).size == len(png)
    assert check_png_cap(png, len(png)).quality is None
    with pytest.raises(EncodingError) as exc:
        check_png_cap(png, 10_000)
    assert str(exc.value) == (f"PNG is lossless: {format_size(len(png))} is over max 10 KB; "
                              "use jpeg or webp, or raise max")


def test_sizes_that_round_alike_are_told_apart_in_bytes():
    png = b"\x89PNG\r\n\x1a\n" + bytes(500_392)
    with pytest.raises(EncodingError, match=r"500,400 bytes is over max 500,000 bytes"):
        check_png_cap(png, 500_000)


def test_bad_arguments_are_programming_errors(rgb):
    with pytest.raises(ValueError, match="pngstream"):
        encode_output(rgb, "png", None, None)
    with pytest.raises(ValueError, match="quality"):
        encode_output(rgb, "jpeg", 0, None)
    with pytest.raises(ValueError, match="H, W, 3"):
        encode_output(rgb[..., :2], "jpeg", None, None)
    with pytest.raises(ValueError, match="max"):
        encode_output(rgb, "webp", None, 0)


# ── sizes ────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("text, size", [
    ("500KB", 500_000), ("500 KB", 500_000), ("500kB", 500_000), ("1.5MB", 1_500_000), ("2MB", 2_000_000),
    ("2MiB", 2 * 1024 * 1024), ("1.5KiB", 1536), ("100B", 100), ("1GB", 10**9),
])
def test_sizes_parse_in_thousands_or_kibibytes(text, size):
    assert parse_file_size(text) == size


@pytest.mark.parametrize("text, reason", [
    ("", "a size"),
    ("500", "unit"),
    ("500kb", "write 500KB"),
    ("2mib", "write 2MiB"),
    ("2TB", "unit"),
    ("-5KB", "a size"),
    ("1e3KB", "a size"),
    ("1,5MB", "a size"),
    ("0KB", "more than 0"),
    ("0.5B", "whole number of bytes"),
    ("1.0005KB", "whole number of bytes"),
    ("2GB", "at most 1GB"),
    ("99999999999KB", "at most 1GB"),
    ("9" * 400 + "KB", "a size"),
])
def test_bad_sizes_are_refused_with_a_reason(text, reason):
    with pytest.raises(ValueError) as exc:
        parse_file_size(text)
    assert reason in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("size, text", [
    (999, "999 bytes"), (1000, "1 KB"), (11_200, "11.2 KB"), (812_000, "812 KB"), (1_500_000, "1.5 MB"),
    (2_000_000_000, "2 GB"),
])
def test_sizes_read_back_in_the_units_people_write(size, text):
    assert format_size(size) == text


# ── delivery names ───────────────────────────────────────────────────────────

@pytest.mark.parametrize("name, fmt", [
    ("launch-volt-en-story.jpg", "jpeg"), ("launch_volt.JPEG", "jpeg"), ("Lauf weiter – ü.webp", "webp"),
    ("story.png", "png"), ("a" * 196 + ".png", "png"),
])
def test_good_file_names_pass_unchanged(name, fmt):
    assert check_file_name(name, fmt) == name


@pytest.mark.parametrize("name, fmt, reason", [
    ("../x.jpg", "jpeg", "'..'"),
    ("a/b.jpg", "jpeg", "path separator"),
    ("a\\b.jpg", "jpeg", "path separator"),
    (".hidden.jpg", "jpeg", "start with '.'"),
    ("-rf.jpg", "jpeg", "start with '-'"),
    ("story.png", "jpeg", "a jpeg file ends in .jpg or .jpeg, not .png"),
    ("story.jpg", "webp", "a webp file ends in .webp, not .jpg"),
    ("story", "png", "no extension"),
    ("sto\x00ry.png", "png", "U+0000"),
    ("sto\nry.png", "png", "U+000A"),
    ("invoice\u202egnp.png", "png", "U+202E"),
    ("a:b.png", "png", "':'"),
    ("story?.png", "png", "'?'"),
    ("", "png", "empty"),
    (" story.png", "png", "space"),
    ("story .png", "png", "space"),
    ("CON.png", "png", "reserved"),
    ("lpt1.jpg", "jpeg", "reserved"),
    ("ü" * 100 + ".png", "png", "204 bytes"),
])
def test_bad_file_names_are_refused_with_a_reason(name, fmt, reason):
    with pytest.raises(ValueError) as exc:
        check_file_name(name, fmt)
    message = str(exc.value)
    assert reason in message and "\n" not in message and re.match(r"[a-z'\"]", message), message
