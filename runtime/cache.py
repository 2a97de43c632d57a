"""The content-addressed cache: immutable objects named by key, safe under concurrency and crashes.

Layout under the cache root (default `.brief/cache/` beside the brief):

    objects/ab/<key>.<ext>    the data: .png (pixels), .safetensors (tensors), .json (metadata)
    objects/ab/<key>.meta     JSON: sha256 and size of the data, its extension, caller metadata
    leases/<pid>-<id>.json    keys a running build holds (gc never evicts them)
    state/<name>.json         small mutable records (the last build of each variant)

Every write goes to a temp file in the destination folder, is fsynced and `os.replace`d: data
first, then `.meta`, which is the commit marker, so a reader sees a whole object or none. Every
read checks the data against the sha256 in `.meta`; a mismatch is reported, the object evicted,
and the caller recomputes. Several processes may write the same key at once: objects are
deterministic, and whichever replace lands last leaves a consistent pair. Temp files left by a
killed process are swept when the cache is opened. Never pickle.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
from PIL import Image

TEMP_PREFIX = ".tmp-"
SWEEP_AGE_S = 3600  # temp files of live processes older than this are swept too
PNG_LEVEL = 1  # fast zlib: cache objects are written often and read locally


def default_cache_dir(brief_path: str | os.PathLike) -> Path:
    env = os.environ.get("BRIEF_CACHE")
    if env:
        return Path(env)
    return Path(os.path.abspath(brief_path)).parent / ".brief" / "cache"


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GiB', '4096' → bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 500M, 2G, 1.5GiB)")
    return int(float(m.group(1)) * 1024 ** " kmgt".index(m.group(2) or " "))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{TEMP_PREFIX}{os.getpid()}-{secrets.token_hex(4)}-{path.name}"
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def png_bytes(array: np.ndarray, level: int = PNG_LEVEL) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG", compress_level=level)
    return buf.getvalue()


def png_array(data: bytes) -> np.ndarray:
    """Decode a PNG this cache wrote (8-bit grey, RGB or RGBA) — with OpenCV, the faster decoder."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        raise OSError("not a readable PNG")
    if array.ndim == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA if array.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    return array


@dataclass
class CacheStats:
    objects: int
    bytes: int
    by_kind: dict[str, tuple[int, int]]
    leases: int


class Cache:
    def __init__(self, root: str | os.PathLike, warn: Callable[[str], None] | None = None):
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.objects.mkdir(parents=True, exist_ok=True)
        (self.root / "leases").mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        self.warn = warn or (lambda msg: print(f"warning: {msg}", file=sys.stderr))
        self.evicted: list[str] = []
        self.sweep()

    # ── objects ──
    def _paths(self, key: str, ext: str) -> tuple[Path, Path]:
        folder = self.objects / key[:2]
        return folder / f"{key}.{ext}", folder / f"{key}.meta"

    def _meta_path(self, key: str) -> Path:
        return self.objects / key[:2] / f"{key}.meta"

    def has(self, key: str) -> bool:
        return self._meta_path(key).exists()

    def put(self, key: str, data: bytes, ext: str, meta: dict | None = None) -> None:
        data_path, meta_path = self._paths(key, ext)
        atomic_write(data_path, data)
        record = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "ext": ext, "meta": meta or {}}
        atomic_write(meta_path, json.dumps(record, sort_keys=True).encode())

    def get(self, key: str) -> tuple[bytes, dict] | None:
        """The data and caller metadata of `key`, verified; None when absent or corrupt (evicted)."""
        meta_path = self._meta_path(key)
        try:
            record = json.loads(meta_path.read_bytes())
            data_path = self._paths(key, record["ext"])[0]
            data = data_path.read_bytes()
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError):
            self._corrupt(key, "its metadata is unreadable")
            return None
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            self._corrupt(key, f"its data does not match its hash ({len(data)} bytes, expected {record.get('size')})")
            return None
        with contextlib.suppress(OSError):
            os.utime(meta_path)  # last use, for LRU eviction
        return data, record.get("meta", {})

    def get_meta(self, key: str) -> dict | None:
        """The caller metadata of `key` without reading (or verifying) its data."""
        try:
            return json.loads(self._meta_path(key).read_bytes()).get("meta", {})
        except (FileNotFoundError, ValueError, AttributeError):
            return None

    def _corrupt(self, key: str, why: str) -> None:
        self.warn(f"cache object {key[:12]} is corrupt ({why}); evicted, it will be recomputed")
        self.evict(key)
        self.evicted.append(key)

    def evict(self, key: str) -> None:
        folder = self.objects / key[:2]
        for path in list(folder.glob(f"{key}.*")) if folder.exists() else []:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # typed helpers
    def put_json(self, key: str, obj, meta: dict | None = None) -> None:
        self.put(key, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(), "json", meta)

    def get_json(self, key: str):
        got = self.get(key)
        if got is None:
            return None
        try:
            return json.loads(got[0])
        except ValueError:
            self._corrupt(key, "it is not valid JSON")
            return None

    def put_png(self, key: str, array: np.ndarray, meta: dict | None = None) -> None:
        self.put(key, png_bytes(array), "png", meta)

    def get_png(self, key: str) -> tuple[np.ndarray, dict] | None:
        got = self.get(key)
        if got is None:
            return None
        try:
            return png_array(got[0]), got[1]
        except OSError:
            self._corrupt(key, "it is not a readable PNG")
            return None

    def put_tensors(self, key: str, tensors: dict[str, np.ndarray], meta: dict | None = None) -> None:
        from safetensors.numpy import save

        self.put(key, save(tensors), "safetensors", meta)

    def get_tensors(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        from safetensors.numpy import load

        got = self.get(key)
        if got is None:
            return None
        try:
            return load(got[0]), got[1]
        except Exception:  # safetensors raises its own error types for bad headers
            self._corrupt(key, "it is not a readable safetensors file")
            return None

    # ── small mutable records ──
    def read_state(self, name: str) -> dict | None:
        try:
            return json.loads((self.root / "state" / f"{name}.json").read_bytes())
        except (FileNotFoundError, ValueError):
            return None

    def write_state(self, name: str, record: dict) -> None:
        atomic_write(self.root / "state" / f"{name}.json", json.dumps(record, sort_keys=True).encode())

    # ── leases: what running builds hold ──
    @contextlib.contextmanager
    def lease(self, keys: Iterable[str]) -> Iterator[None]:
        path = self.root / "leases" / f"{os.getpid()}-{secrets.token_hex(4)}.json"
        atomic_write(path, json.dumps({"pid": os.getpid(), "keys": sorted(set(keys))}).encode())
        try:
            yield
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    def leased(self) -> set[str]:
        held: set[str] = set()
        for path in (self.root / "leases").glob("*.json"):
            try:
                record = json.loads(path.read_bytes())
            except (FileNotFoundError, ValueError):
                continue
            if _pid_alive(int(record.get("pid", 0))):
                held.update(record.get("keys", []))
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        return held

    # ── maintenance ──
    def sweep(self) -> int:
        """Remove temp files of dead processes (a `kill -9` mid-write) and very old ones."""
        removed = 0
        now = time.time()
        for path in self.root.rglob(f"{TEMP_PREFIX}*"):
            try:
                pid = int(path.name[len(TEMP_PREFIX):].split("-", 1)[0])
                stale = not _pid_alive(pid) or now - path.stat().st_mtime > SWEEP_AGE_S
            except (ValueError, FileNotFoundError):
                stale = True
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
        return removed

    def _entries(self) -> list[tuple[float, int, str, str]]:
        """(last use, bytes, key, ext) of every committed object."""
        out = []
        for meta_path in self.objects.glob("*/*.meta"):
            key = meta_path.stem
            try:
                record = json.loads(meta_path.read_bytes())
                used = meta_path.stat().st_mtime
            except (FileNotFoundError, ValueError):
                continue
            out.append((used, int(record.get("size", 0)) + meta_path.stat().st_size, key, record.get("ext", "?")))
        return out

    def stats(self) -> CacheStats:
        entries = self._entries()
        kinds: dict[str, tuple[int, int]] = {}
        for _, size, _, ext in entries:
            n, b = kinds.get(ext, (0, 0))
            kinds[ext] = (n + 1, b + size)
        return CacheStats(len(entries), sum(e[1] for e in entries), kinds, len(list((self.root / "leases").glob("*.json"))))

    def gc(self, max_size: int) -> tuple[int, int]:
        """Evict least-recently-used objects until the cache fits `max_size` bytes; objects held by a
        running build are kept. Returns (objects evicted, bytes freed)."""
        self.sweep()
        held = self.leased()
        entries = sorted(self._entries())
        total = sum(e[1] for e in entries)
        evicted = freed = 0
        for _, size, key, _ in entries:
            if total <= max_size:
                break
            if key in held:
                continue
            self.evict(key)
            total -= size
            freed += size
            evicted += 1
        return evicted, freed
