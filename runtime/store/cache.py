"""The content-addressed cache: immutable objects named by key, safe under concurrency and crashes.

Layout under the cache root (default `.brief/cache/` beside the brief):

    objects/ab/<key>.<ext>          the data: .png (pixels), .safetensors (tensors), .json (records)
    objects/ab/<key>.meta           JSON: the key, sha256 and size of the data, its extension, the
                                    keys of the objects it refers to (a record's tiles, latents), and
                                    caller metadata
    leases/<host>~<pid>~<id>.json   keys a running build holds, renewed while it runs
    state/<name>.json               small mutable records (the last build of each variant)

Every write goes to a temp file in the destination folder (named with host and pid) and is
`os.replace`d (`files.atomic_write`): data first, then `.meta`, which is the commit marker, so a
reader sees a whole object or none; a build makes what it wrote durable with one `syncfs`. Every
read checks that the `.meta` belongs to the key asked for (an object swapped
with another, `.meta` and all, is foreign), that the data matches its sha256, that it is of the kind
asked for, and that every object it refers to is there; otherwise the object is reported, evicted,
and the caller recomputes. Several processes may write the same key at once: objects are
deterministic, and whichever replace lands last leaves a consistent pair. Temp files left by a
killed process are swept when the cache is opened. Never pickle.

Leases, the sweep of temp files, `stats` and `gc` (which never evicts what a running build holds,
nor an object something kept refers to) are its upkeep: upkeep.py.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator

from ..conditions import MALFORMED
from .files import (
    NotRegular,
    atomic_write,
    host_tag,
    read_regular,
    sync_filesystem,
)
from .png import png_array, png_bytes
from .upkeep import Upkeep

if TYPE_CHECKING:  # numpy, Pillow and OpenCV come with the first pixels: a no-op build reads none
    import numpy as np


_KEY = re.compile(r"[0-9A-Za-z_-]{8,200}")  # what a key looks like (a ref that is not one is corrupt)


def default_cache_dir(brief_path: str | os.PathLike) -> Path:
    env = os.environ.get("BRIEF_CACHE")
    if env:
        return Path(env)
    return Path(os.path.abspath(brief_path)).parent / ".brief" / "cache"


def parse_size(text: str) -> int:
    """'500M', '2G', '1.5GiB', '4096' → bytes (exactly, however many digits)."""
    m = re.fullmatch(r"\s*(\d{1,30}(?:\.\d{1,30})?)\s*([kmgt]?)(i?b)?\s*", text.lower())
    if not m:
        raise ValueError(f"not a size: {text!r} (use e.g. 500M, 2G, 1.5GiB)")
    whole, _, frac = m.group(1).partition(".")
    unit = 1024 ** " kmgt".index(m.group(2) or " ")
    return int(whole) * unit + int(frac or "0") * unit // 10 ** len(frac)


class Cache(Upkeep):
    host_tag = staticmethod(host_tag)

    def __init__(self, root: str | os.PathLike, warn: Callable[[str], None] | None = None, remote=None):
        self.root = Path(root)
        self.remote = remote  # the shared tier (store/remote.py): uploads after each commit, fetches on a miss
        if remote is not None:
            remote.source = self._stored  # an upload holds what it refers to, some of it made before
        self.found: set[str] = set()  # keys this process found here (local hits) …
        self.fetched: set[str] = set()  # … and brought from the remote tier, with what they refer to (remote hits)
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
        """`key` is here: committed locally, or fetched now from the remote tier (a local miss)."""
        return self._meta_path(key).exists() or (self.remote is not None and self._fetch(key))

    def _fetch(self, key: str) -> bool:
        """Bring `key`, and what it refers to, from the remote tier into this cache (verified there and
        again when read here); False when the tier has none whole and trustworthy, or this cache cannot
        store it (read-only, full: the tier is then off for this build, with a warning)."""
        try:
            return self.remote.fetch(key, self._store_fetched, lambda k: self._meta_path(k).exists())
        except OSError as exc:
            self.remote.off(exc, f"holds objects this cache cannot store ({self.root})")
            return False

    def touch(self, key: str) -> bool:
        """Mark `key` as used now (for LRU and for gc beside running builds); False when absent."""
        try:
            os.utime(self._meta_path(key))
            return True
        except FileNotFoundError:
            return False
        except OSError:  # a read-only cache (a reviewer's copy): readable all the same
            return self.has(key)

    def put(self, key: str, data: bytes, ext: str, meta: dict | None = None, refs: Iterable[str] = ()) -> None:
        """Store `data` under `key`. `refs`: the keys of the objects it refers to (gc keeps them while
        it is kept, and a read of it fails when one of them is gone)."""
        data_path, meta_path = self._paths(key, ext)
        atomic_write(data_path, data, durable=False)
        record = {"key": key, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "ext": ext,
                  "refs": sorted(set(refs)), "meta": meta or {}}
        encoded = json.dumps(record, sort_keys=True).encode()
        atomic_write(meta_path, encoded, durable=False)
        if self.remote is not None:
            self.remote.upload(key, ext, data, encoded)

    def _stored(self, key: str) -> tuple[bytes, bytes] | None:
        """The data and .meta bytes of `key` as stored here (unverified: a reader verifies), or None."""
        try:
            meta = read_regular(self._meta_path(key))
            return read_regular(self._paths(key, json.loads(meta)["ext"])[0]), meta
        except (OSError, *MALFORMED, KeyError, TypeError):
            return None

    def _store_fetched(self, key: str, data: bytes, meta: bytes) -> None:
        """An object the remote tier fetched (its hash already checked), committed locally as `put`
        commits: data first, then its .meta; reads verify it again like any local object."""
        data_path, meta_path = self._paths(key, json.loads(meta)["ext"])
        atomic_write(data_path, data, durable=False)
        atomic_write(meta_path, meta, durable=False)
        self.fetched.add(key)  # read later, it is still a remote hit, never a local one

    def _record(self, key: str) -> dict | None:
        """The .meta record of `key`, checked to belong to it; None when absent, foreign or unreadable
        (the last two evicted, with a warning for a foreign one)."""
        try:
            record = json.loads(read_regular(self._meta_path(key)))
        except FileNotFoundError:
            if self.remote is None or not self._fetch(key):
                return None
            try:  # fetched from the shared tier: now checked as a local object
                record = json.loads(read_regular(self._meta_path(key)))
            except (OSError, *MALFORMED):
                return None
        except (OSError, *MALFORMED):
            self._corrupt(key, "its metadata is unreadable")
            return None
        refs = record.get("refs", []) if isinstance(record, dict) else None
        if not isinstance(record, dict) or not isinstance(record.get("ext"), str) or not isinstance(refs, list) \
                or not all(isinstance(r, str) and _KEY.fullmatch(r) for r in refs) \
                or not isinstance(record.get("meta", {}), dict):
            self._corrupt(key, "its metadata is malformed")
            return None
        if record.get("key") != key:
            if "key" not in record:  # written before objects were bound to keys: just a miss
                self.evict(key)
                self.evicted.append(key)
            else:
                self._corrupt(key, f"it belongs to another key ({str(record['key'])[:12]})")
            return None
        if key not in self.fetched:
            self.found.add(key)
        return record

    def complete(self, key: str) -> bool:
        """`key` is stored, its record is its own, and everything it refers to is there (its data is
        not read: `get` verifies that)."""
        record = self._record(key)
        if record is None or not all(self.has(r) for r in record.get("refs", [])):
            return False
        self.touch(key)  # found by a plan: in use, for LRU, even when nothing needs to read it
        return True

    def get(self, key: str, ext: str | None = None) -> tuple[bytes, dict] | None:
        """The data and caller metadata of `key`, verified (its own record, its hash, the kind `ext` if
        given, everything it refers to present); None when absent or not whole (evicted)."""
        record = self._record(key)
        if record is None:
            return None
        if ext is not None and record["ext"] != ext:
            self._corrupt(key, f"it is a .{record['ext']} object, not the .{ext} asked for")
            return None
        try:
            data = read_regular(self._paths(key, record["ext"])[0])
        except FileNotFoundError:
            self.evict(key)
            return None
        except NotRegular:
            self._corrupt(key, "its data is not a regular file")
            return None
        if hashlib.sha256(data).hexdigest() != record.get("sha256"):
            self._corrupt(key, f"its data does not match its hash ({len(data)} bytes, expected {record.get('size')})")
            return None
        missing = [r for r in record.get("refs", []) if not self.touch(r)]
        if missing:  # vanished (a manual delete, another host's gc): the record is not whole
            self.evict(key)
            self.evicted.append(key)
            return None
        self.touch(key)  # last use, for LRU eviction
        return data, record.get("meta", {})

    def get_meta(self, key: str) -> dict | None:
        """The caller metadata of `key` without reading (or verifying) its data."""
        record = self._record(key)
        return None if record is None else record.get("meta", {})

    def _corrupt(self, key: str, why: str) -> None:
        self.warn(f"cache object {key[:12]} is corrupt ({why}); evicted, it will be recomputed")
        self.evict(key)
        self.evicted.append(key)

    def evict(self, key: str) -> None:
        """Remove an object: its .meta (the commit marker) first, so a kill mid-way leaves no record
        whose data is gone."""
        folder = self.objects / key[:2]
        for path in sorted(folder.glob(f"{key}.*"), key=lambda p: p.suffix != ".meta") if folder.exists() else []:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)

    # typed helpers
    def put_json(self, key: str, obj, meta: dict | None = None, refs: Iterable[str] = ()) -> None:
        self.put(key, json.dumps(obj, sort_keys=True, separators=(",", ":")).encode(), "json", meta, refs)

    def get_json(self, key: str):
        got = self.get(key, "json")
        if got is None:
            return None
        try:
            return json.loads(got[0])
        except MALFORMED:
            self._corrupt(key, "it is not valid JSON")
            return None

    def put_png(self, key: str, array: np.ndarray, meta: dict | None = None) -> None:
        self.put(key, png_bytes(array), "png", meta)

    def get_png(self, key: str) -> tuple[np.ndarray, dict] | None:
        got = self.get(key, "png")
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

        got = self.get(key, "safetensors")
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
            record = json.loads(read_regular(self.root / "state" / f"{name}.json"))
            return record if isinstance(record, dict) else None
        except (OSError, *MALFORMED):
            return None

    def sync(self) -> None:
        """Make what this process wrote to the cache durable, in one go (objects are written
        without an fsync each)."""
        sync_filesystem(self.root)

    def write_state(self, name: str, record: dict) -> None:
        atomic_write(self.root / "state" / f"{name}.json", json.dumps(record, sort_keys=True).encode())

    def _states(self) -> Iterator[dict]:
        for path in (self.root / "state").glob("*.json"):
            record = self.read_state(path.stem)
            if record:
                yield record
