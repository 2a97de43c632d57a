"""PNG files written band by band from a tiled image, with each band's compressed bytes cached.

A PNG's pixels are one zlib stream, but deflate allows independent pieces joined at full-flush
points (as pigz does), and Adler-32 checksums combine. So each 256-pixel band of rows is
compressed on its own (Sub filter, so no band looks at another), stored in the cache under the
keys of the tiles it is made of, and a PNG is assembled from its bands: exporting a canvas where
one region changed compresses only the bands that region crosses, and they compress in parallel.
The file is an ordinary PNG that any decoder reads.

Every PNG the export writes says its pixels are sRGB (what compositing works in; user images are
converted to it on reading): an sRGB chunk, with the gAMA and cHRM the PNG specification asks to
accompany it for decoders that predate sRGB. `tag_srgb` adds them to PNG bytes made elsewhere.
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..store.cache import Cache
from ..store.tiles import TILE, TiledImage

if TYPE_CHECKING:
    import numpy as np

ADLER_BASE = 65521
SUB_FILTER = 1


def adler32_combine(adler1: int, adler2: int, len2: int) -> int:
    """Adler-32 of A+B from those of A and B and the length of B (zlib's adler32_combine)."""
    rem = len2 % ADLER_BASE
    a1, b1 = adler1 & 0xFFFF, adler1 >> 16
    a2, b2 = adler2 & 0xFFFF, adler2 >> 16
    a = (a1 + a2 - 1) % ADLER_BASE
    b = (b1 + b2 + rem * a1 - rem) % ADLER_BASE
    return (b << 16) | a


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SRGB_PERCEPTUAL = 0  # the sRGB chunk's rendering intent
SRGB_GAMMA = 45455  # gAMA: 1/2.2 × 100000, the value the PNG specification pairs with sRGB
SRGB_CHROMATICITIES = (31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)  # white, red, green, blue × 100000


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def srgb_chunks(colour: bool) -> bytes:
    """sRGB, gAMA and (for colour images) cHRM chunks, to follow IHDR."""
    chunks = _chunk(b"sRGB", bytes([SRGB_PERCEPTUAL])) + _chunk(b"gAMA", struct.pack(">I", SRGB_GAMMA))
    return chunks + (_chunk(b"cHRM", struct.pack(">8I", *SRGB_CHROMATICITIES)) if colour else b"")


def tag_srgb(png: bytes, offset: tuple[int, int] | None = None) -> bytes:
    """PNG bytes (from any encoder, without colour chunks of its own) tagged as sRGB; with `offset`,
    also where the image lies on the canvas (an `oFFs` chunk, in pixels: a cropped layer's place)."""
    ihdr_end = len(PNG_SIGNATURE) + 8 + 13 + 4  # IHDR always comes first: length, type, 13 bytes, CRC
    if not png.startswith(PNG_SIGNATURE) or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    colour = png[len(PNG_SIGNATURE) + 8 + 9] in (2, 3, 6)  # IHDR colour type: RGB, palette, RGBA
    place = _chunk(b"oFFs", struct.pack(">iiB", offset[0], offset[1], 0)) if offset else b""
    return png[:ihdr_end] + srgb_chunks(colour) + place + png[ihdr_end:]


def _scanlines(pixels: np.ndarray) -> bytes:
    """Rows with the Sub filter: each byte minus the byte one pixel to its left."""
    import numpy as np

    h, w, c = pixels.shape
    filtered = pixels.astype(np.int16)
    filtered[:, 1:] -= pixels[:, :-1].astype(np.int16)
    rows = np.empty((h, 1 + w * c), np.uint8)
    rows[:, 0] = SUB_FILTER
    rows[:, 1:] = (filtered & 0xFF).astype(np.uint8).reshape(h, w * c)
    return rows.tobytes()


def _band(image: TiledImage, row: int, level: int) -> tuple[bytes, int, int]:
    """(deflate bytes ending in a full flush, adler32, raw length) of one band of rows."""
    y0, y1 = row * TILE, min(image.height, (row + 1) * TILE)
    raw = _scanlines(image.read((0, y0, image.width, y1)))
    comp = zlib.compressobj(level, zlib.DEFLATED, -15, 8, zlib.Z_RLE)
    data = comp.compress(raw) + comp.flush(zlib.Z_FULL_FLUSH)
    return data, zlib.adler32(raw), len(raw)


def _band_key(image: TiledImage, row: int, level: int) -> str | None:
    cols = -(-image.width // TILE)
    keys = [image.keys.get((tx, row)) for tx in range(cols)]
    if None in keys:
        return None
    h = hashlib.sha256(f"pngband:2:{level}:{image.width}x{image.height}:{image.channels}:{row}".encode())
    for k in keys:
        h.update(k.encode())
    return "pngband-" + h.hexdigest()


def encode(image: TiledImage, cache: Cache | None = None, level: int = 1) -> bytes:
    """The image as PNG bytes; bands whose tiles are unchanged come from the cache."""
    if cache is not None:
        image.save(cache)  # every tile keyed, so bands can be looked up
    rows = -(-image.height // TILE)

    def band(row: int) -> tuple[bytes, int, int]:
        key = _band_key(image, row, level) if cache is not None else None
        got = cache.get(key, "bin") if key else None
        if got is not None and isinstance(got[1].get("adler32"), int) and isinstance(got[1].get("length"), int):
            return got[0], got[1]["adler32"], got[1]["length"]
        data, adler, length = _band(image, row, level)
        if key:
            cache.put(key, data, "bin", {"adler32": adler, "length": length})
        return data, adler, length

    with ThreadPoolExecutor(max_workers=2) as pool:  # zlib and PNG decoding release the GIL
        bands = list(pool.map(band, range(rows)))
    adler = 1
    for _, band_adler, length in bands:
        adler = adler32_combine(adler, band_adler, length)
    stream = b"\x78\x01" + b"".join(b[0] for b in bands) + b"\x03\x00" + struct.pack(">I", adler)
    colour = {1: 0, 3: 2, 4: 6}[image.channels]
    header = struct.pack(">IIBBBBB", image.width, image.height, 8, colour, 0, 0, 0)
    return (PNG_SIGNATURE + _chunk(b"IHDR", header) + srgb_chunks(image.channels >= 3) + _chunk(b"IDAT", stream)
            + _chunk(b"IEND", b""))
