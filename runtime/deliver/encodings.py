"""Encoding an output as the brief's `format` asks: JPEG or WebP at a quality, under a `max` file-size
cap, and the cap checked for PNG (whose bytes `pngstream` makes, band by band).

Owns the encoder settings, fixed so that the same pixels give the same bytes in any process:
- JPEG (Pillow/libjpeg): baseline (`progressive=False`), `optimize=True` (optimal Huffman tables,
  smaller at no cost in quality), chroma 4:4:4 from quality 90 up (type and brand-colour edges stay
  sharp) and 4:2:0 below it (where the cap matters more than chroma detail);
- WebP (Pillow/libwebp): lossy, `method=4` (libwebp's default trade of speed for size);
- both embed the sRGB ICC profile (`srgb_icc`: Little CMS's sRGB, dated by a constant instead of
  the moment it was built) and nothing else: no EXIF, XMP or timestamps.

Quality defaults to 90 (`lang.delivery.DEFAULT_QUALITY`). With a cap, the quality asked for is kept
if its file fits; otherwise the largest whole quality in [1, asked] whose file fits is found by
bisection (about log2(asked) encodings). A cap nothing meets is an `EncodingError`, one sentence
naming the smallest size reached; for PNG, lossless, any size over the cap is.
"""

from __future__ import annotations

import datetime
import functools
import io
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from brief.lang.delivery import DEFAULT_QUALITY, LOSSY, QUALITY_MAX, QUALITY_MIN, format_size

from ..context import OpError
from ..render.images import srgb_profile

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

JPEG_FULL_CHROMA_FROM = 90  # quality from which JPEG keeps chroma at full resolution (4:4:4)
WEBP_METHOD = 4
ICC_DATE = datetime.datetime(2000, 1, 1)  # the creation date written into the embedded profile
ICC_DATE_OFFSET = 24  # where an ICC header keeps its creation date: six big-endian uint16


class EncodingError(OpError):
    """No encoding of the output meets its `max` cap; the message says what to change."""


@dataclass(frozen=True)
class Encoded:
    data: bytes
    fmt: str  # png, jpeg or webp
    quality: int | None  # the quality used; None for PNG

    @property
    def size(self) -> int:
        return len(self.data)


@functools.cache
def srgb_icc() -> bytes:
    """The sRGB ICC profile exported files embed: the one pixels are converted to (`srgb_profile`),
    with a fixed creation date. Little CMS stamps the time it built the profile, which would make
    every process's files differ (a retried farm task must give the same bytes)."""
    data = srgb_profile().tobytes()
    d = ICC_DATE
    stamp = struct.pack(">6H", d.year, d.month, d.day, d.hour, d.minute, d.second)
    return data[:ICC_DATE_OFFSET] + stamp + data[ICC_DATE_OFFSET + len(stamp):]


def encode_output(rgb: np.ndarray, fmt: str, quality: int | None = None, max_bytes: int | None = None) -> Encoded:
    """`rgb` (H, W, 3 uint8) as `fmt` ("jpeg" or "webp") at `quality` (default 90), or, when that
    file is over `max_bytes`, at the largest quality below it whose file is not."""
    if fmt not in LOSSY:
        raise ValueError(f"encode_output encodes {' and '.join(LOSSY)}; PNG comes from pngstream "
                         "and its cap is checked by check_png_cap")
    wanted = DEFAULT_QUALITY if quality is None else quality
    if not (isinstance(wanted, int) and QUALITY_MIN <= wanted <= QUALITY_MAX):
        raise ValueError(f"quality must be a whole number from {QUALITY_MIN} to {QUALITY_MAX}, not {wanted!r}")
    _check_cap(max_bytes)
    if getattr(rgb, "ndim", 0) != 3 or rgb.shape[2] != 3 or rgb.dtype.name != "uint8" or 0 in rgb.shape:
        raise ValueError(f"expected pixels of shape (H, W, 3) and dtype uint8, not {getattr(rgb, 'shape', rgb)!r}")
    from PIL import Image

    image = Image.fromarray(rgb)
    made: dict[int, bytes] = {}

    def at(q: int) -> bytes:
        if q not in made:
            made[q] = _encode(image, fmt, q)
        return made[q]

    if max_bytes is None or len(at(wanted)) <= max_bytes:
        return Encoded(at(wanted), fmt, wanted)
    if len(at(QUALITY_MIN)) > max_bytes:
        raise EncodingError(f"no {fmt} quality fits max {_pair(len(at(QUALITY_MIN)), max_bytes)[1]}: "
                            f"quality {QUALITY_MIN} is {_pair(len(at(QUALITY_MIN)), max_bytes)[0]}; "
                            "raise max or shrink the output")
    fits, over = QUALITY_MIN, wanted  # invariant: `fits` is under the cap, `over` is not
    while over - fits > 1:
        mid = (fits + over) // 2
        if len(at(mid)) <= max_bytes:
            fits = mid
        else:
            over = mid
    return Encoded(at(fits), fmt, fits)


def check_png_cap(data: bytes, max_bytes: int | None) -> Encoded:
    """PNG bytes as an `Encoded`, refused when over `max_bytes`: lossless, they cannot shrink."""
    _check_cap(max_bytes)
    if max_bytes is not None and len(data) > max_bytes:
        size, cap = _pair(len(data), max_bytes)
        raise EncodingError(f"PNG is lossless: {size} is over max {cap}; use jpeg or webp, or raise max")
    return Encoded(data, "png", None)


def _check_cap(max_bytes: int | None) -> None:
    if max_bytes is not None and not (isinstance(max_bytes, int) and max_bytes > 0):
        raise ValueError(f"max must be a whole number of bytes above 0, not {max_bytes!r}")


def _pair(size: int, cap: int) -> tuple[str, str]:
    """`size` and `cap` for a message, in exact bytes where rounding would show them equal."""
    shown = format_size(size), format_size(cap)
    return shown if shown[0] != shown[1] else (f"{size:,} bytes", f"{cap:,} bytes")


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "jpeg":
        image.save(buf, "JPEG", quality=quality, optimize=True, progressive=False, icc_profile=srgb_icc(),
                   subsampling="4:4:4" if quality >= JPEG_FULL_CHROMA_FROM else "4:2:0")
    else:
        image.save(buf, "WEBP", quality=quality, method=WEBP_METHOD, lossless=False, icc_profile=srgb_icc())
    return buf.getvalue()
