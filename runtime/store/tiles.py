"""Canvas-sized images stored as content-addressed tiles, and the `Layer` of one component.

A `TiledImage` is a grid of 256 x 256 tiles, each stored once in the cache under the hash of its
pixels. An edit or a re-composite that changes one region replaces only the tiles it touches and
shares the rest, so its cost (compute, PNG encoding, disk) is proportional to the region, not
the canvas; and pixels outside it are the very same bytes as before. Tiles are read lazily.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported by the first pixels handled: a build with nothing to render has none
    import numpy as np

    from .cache import Cache

TILE = 256
Box = tuple[int, int, int, int]


class Unreadable(LookupError):
    """A cached result turned out missing or corrupt while an op was reading it."""


class Layer:
    """One component's pixels: RGBA uint8 covering `box` (canvas coordinates); outside is
    transparent. A layer read from the cache is tiled: an op that reads part of it (the pixels
    under another component's crop) decodes only the tiles it touches."""

    def __init__(self, box: Box, rgba: np.ndarray | None = None, tiles: "TiledImage | None" = None):
        self.box = tuple(box)
        self._rgba = rgba
        self.tiles = tiles

    @property
    def failed(self) -> bool:
        return bool(self.tiles is not None and self.tiles.failed)

    @property
    def rgba(self) -> np.ndarray:
        if self._rgba is None:
            self._rgba = self.tiles.to_array()
        return self._rgba

    @property
    def alpha(self) -> np.ndarray:
        return self.rgba[..., 3]

    def read(self, box: Box) -> np.ndarray:
        """The RGBA pixels of `box`, a box inside this layer's, in canvas coordinates."""
        x0, y0 = self.box[0], self.box[1]
        local = (box[0] - x0, box[1] - y0, box[2] - x0, box[3] - y0)
        if self._rgba is not None or self.tiles is None:
            return self.rgba[local[1]:local[3], local[0]:local[2]]
        return self.tiles.read(local)

    def save(self, cache: Cache) -> dict:
        """Store the layer as tiles; from then on it is read from them (its array is let go: a
        canvas-size layer is not held twice)."""
        tiles = self.tiles if self.tiles is not None else TiledImage.from_array(self.rgba)
        record = tiles.save(cache)
        self.tiles, self._rgba = tiles, None
        return record


# Tiles decoded or made by this process, by key: a key names its pixels, so a remembered tile is
# right for as long as the process lives, whatever happens to the cache's files. Watch mode and
# farm workers, which build again and again, decode a tile once. Held read-only, within a budget.
_remembered: OrderedDict[str, np.ndarray] = OrderedDict()
_remembered_bytes = 0
REMEMBER_BYTES = 128 * 1024 * 1024
_remember_lock = threading.Lock()


def remember(key: str, pixels: np.ndarray) -> np.ndarray:
    global _remembered_bytes
    pixels.flags.writeable = False
    with _remember_lock:
        if key not in _remembered:
            _remembered[key] = pixels
            _remembered_bytes += pixels.nbytes
            while _remembered_bytes > REMEMBER_BYTES and _remembered:
                _remembered_bytes -= _remembered.popitem(last=False)[1].nbytes
        else:
            _remembered.move_to_end(key)
    return pixels


def recall(key: str) -> np.ndarray | None:
    with _remember_lock:
        pixels = _remembered.get(key)
        if pixels is not None:
            _remembered.move_to_end(key)
        return pixels


def tile_key(pixels: np.ndarray) -> str:
    import numpy as np

    h = hashlib.sha256(f"{pixels.shape}:{pixels.dtype}".encode())
    h.update(np.ascontiguousarray(pixels).data)
    return "tile-" + h.hexdigest()


@dataclass
class TiledImage:
    width: int
    height: int
    channels: int  # 3 (RGB) or 4 (RGBA)
    keys: dict[tuple[int, int], str] = field(default_factory=dict)  # tile → its cache key
    pixels: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)  # tiles in memory
    cache: Cache | None = None
    failed: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    def tile_box(self, tx: int, ty: int) -> Box:
        return (tx * TILE, ty * TILE, min(self.width, (tx + 1) * TILE), min(self.height, (ty + 1) * TILE))

    def tiles_in(self, box: Box):
        x0, y0, x1, y1 = box
        for ty in range(max(0, y0) // TILE, (min(self.height, y1) - 1) // TILE + 1):
            for tx in range(max(0, x0) // TILE, (min(self.width, x1) - 1) // TILE + 1):
                yield tx, ty

    @classmethod
    def from_array(cls, array: np.ndarray) -> "TiledImage":
        import numpy as np

        h, w = array.shape[:2]
        img = cls(w, h, array.shape[2])
        for ty in range(-(-h // TILE)):
            for tx in range(-(-w // TILE)):
                x0, y0, x1, y1 = img.tile_box(tx, ty)
                img.pixels[(tx, ty)] = np.ascontiguousarray(array[y0:y1, x0:x1])
        return img

    def tile(self, tx: int, ty: int) -> np.ndarray:
        if (tx, ty) not in self.pixels:
            key = self.keys[(tx, ty)]
            known = recall(key)
            if known is None:
                got = self.cache.get_png(key) if self.cache else None
                if got is None:
                    self.failed = True
                    raise Unreadable(f"tile {tx},{ty} is missing from the cache")
                known = remember(key, got[0])
            self.pixels[(tx, ty)] = known
        return self.pixels[(tx, ty)]

    def prefetch(self, box: Box) -> None:
        """Decode the tiles under `box` that are not in memory, on two threads (file reads, hashing
        and PNG decoding release the GIL)."""
        missing = [t for t in self.tiles_in(box) if t not in self.pixels and recall(self.keys[t]) is None]
        if len(missing) < 8 or self.cache is None:
            return
        with ThreadPoolExecutor(max_workers=2) as pool:
            got = list(pool.map(lambda t: self.cache.get_png(self.keys[t]), missing))
        for t, item in zip(missing, got):
            if item is not None:
                self.pixels[t] = remember(self.keys[t], item[0])

    def read(self, box: Box) -> np.ndarray:
        """A copy of the pixels inside `box` (clipped to the image)."""
        import numpy as np

        self.prefetch(box)
        x0, y0, x1, y1 = max(0, box[0]), max(0, box[1]), min(self.width, box[2]), min(self.height, box[3])
        out = np.empty((max(0, y1 - y0), max(0, x1 - x0), self.channels), np.uint8)
        for tx, ty in self.tiles_in((x0, y0, x1, y1)):
            bx0, by0, bx1, by1 = self.tile_box(tx, ty)
            ix0, iy0, ix1, iy1 = max(x0, bx0), max(y0, by0), min(x1, bx1), min(y1, by1)
            out[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0] = self.tile(tx, ty)[iy0 - by0:iy1 - by0, ix0 - bx0:ix1 - bx0]
        return out

    def to_array(self) -> np.ndarray:
        return self.read((0, 0, self.width, self.height))

    def replaced(self, box: Box, array: np.ndarray) -> "TiledImage":
        """A new image equal to this one except inside `box`, which holds `array`. Tiles outside the
        box are shared, not copied."""
        x0, y0 = box[0], box[1]
        out = TiledImage(self.width, self.height, self.channels, dict(self.keys), dict(self.pixels), self.cache)
        for tx, ty in self.tiles_in(box):
            bx0, by0, bx1, by1 = self.tile_box(tx, ty)
            ix0, iy0 = max(x0, bx0), max(y0, by0)
            ix1, iy1 = min(box[2], bx1), min(box[3], by1)
            tile = self.tile(tx, ty).copy()
            tile[iy0 - by0:iy1 - by0, ix0 - bx0:ix1 - bx0] = array[iy0 - y0:iy1 - y0, ix0 - x0:ix1 - x0]
            out.pixels[(tx, ty)] = tile
            out.keys.pop((tx, ty), None)
        return out

    def save(self, cache: Cache) -> dict:
        """Store new tiles (each only if no identical tile is stored) and return the image's record."""
        for pos, pixels in self.pixels.items():
            if pos not in self.keys:
                key = tile_key(pixels)
                if not cache.touch(key):  # touched: a gc running beside this build keeps it
                    cache.put_png(key, pixels)
                remember(key, pixels)
                self.keys[pos] = key
        self.cache = cache
        rows = -(-self.height // TILE)
        cols = -(-self.width // TILE)
        return {"size": [self.width, self.height], "channels": self.channels, "tile": TILE,
                "tiles": [[self.keys[(tx, ty)] for tx in range(cols)] for ty in range(rows)]}

    @classmethod
    def load(cls, record: dict, cache: Cache) -> "TiledImage":
        w, h = record["size"]
        img = cls(w, h, record["channels"], cache=cache)
        for ty, row in enumerate(record["tiles"]):
            for tx, key in enumerate(row):
                img.keys[(tx, ty)] = key
        return img

    def tile_keys(self) -> list[str]:
        return list(self.keys.values())
