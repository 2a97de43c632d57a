"""The remote tier of the cache: an S3-compatible bucket that several machines share, through fsspec's
`s3fs` (`--remote-cache s3://bucket/prefix`, `BRIEF_REMOTE_CACHE`, or `[cache] remote` in brief.toml).

An object is committed to the local cache first and uploaded after, in the background (its data,
then its `.meta`, the commit marker): a build never waits
on the network to go on, and it waits for its uploads once, at its end. A local miss fetches the
object, and everything it refers to, into the local cache, which verifies it as it verifies its own —
its `.meta` must be its key's, its data must match the hash, the kind must be the one asked for — so a
corrupt or foreign remote object is ignored and recomputed, never trusted. Read-only mode (CI,
reviewers: `--remote-read-only`, `BRIEF_REMOTE_READ_ONLY=1`, `read_only = true`) fetches and never
uploads. Credentials come from the usual AWS environment and profiles through botocore, and are never
stored; an S3-compatible store's endpoint from the standard `AWS_ENDPOINT_URL` (or
`AWS_ENDPOINT_URL_S3`). What the tier did (hits, misses, rejected objects, bytes and seconds each
way) is counted, for the build summary and `brief cache stats`.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

BATCH_BYTES = 256 * 2**20  # queued uploads sent at once when they pass this


_FILESYSTEMS: dict = {}  # endpoint → s3fs file system: made once per process (a session costs ~0.3 s)
_CHECKED: set[str] = set()  # URLs whose bucket this process has seen


def _filesystem(endpoint: str | None):
    with _MADE:
        if endpoint not in _FILESYSTEMS:
            import s3fs

            _FILESYSTEMS[endpoint] = s3fs.S3FileSystem(client_kwargs={"endpoint_url": endpoint} if endpoint else {},
                                                       skip_instance_cache=True)
        return _FILESYSTEMS[endpoint]


_MADE = threading.Lock()


MAGIC = b"BRF1"  # a remote object: MAGIC, the .meta's length (4 bytes, big-endian), the .meta, the data


def pack(data: bytes, meta: bytes) -> bytes:
    return MAGIC + len(meta).to_bytes(4, "big") + meta + data


def unpack(blob: bytes) -> tuple[bytes, bytes]:
    """(data, .meta) of a remote object; ValueError when it is not one."""
    if blob[:4] != MAGIC or len(blob) < 8:
        raise ValueError("not a brief cache object")
    size = int.from_bytes(blob[4:8], "big")
    if len(blob) < 8 + size:
        raise ValueError("truncated")
    return blob[8 + size:], blob[8:8 + size]


class RemoteError(Exception):
    """The remote tier cannot be used as configured (a bad URL, an unreachable or missing bucket)."""


def configured(url: str | None, read_only: bool | None, root: Path | None) -> tuple[str | None, bool]:
    """The remote URL and mode: the flag, else the environment, else brief.toml's `[cache]`."""
    from ..settings import SettingsError, table

    try:
        section = table(root, "cache") or {}
    except SettingsError as exc:
        raise RemoteError(str(exc)) from None
    url = url or os.environ.get("BRIEF_REMOTE_CACHE") or section.get("remote") or None
    if read_only is None:
        env = os.environ.get("BRIEF_REMOTE_READ_ONLY", "").strip().lower()
        read_only = env in ("1", "true", "yes") if env else bool(section.get("read_only", False))
    return (str(url) if url else None), bool(read_only)


class Remote:
    def __init__(self, url: str, read_only: bool = False, warn: Callable[[str], None] | None = None):
        if not url.startswith("s3://") or len(url) <= len("s3://") or url[5] == "/":
            raise RemoteError(f"`{url}` is not a remote cache URL: write s3://BUCKET[/PREFIX] (an S3-compatible "
                              "store's endpoint comes from AWS_ENDPOINT_URL)")
        self.url = url.rstrip("/")
        self.base = self.url[len("s3://"):]
        self.read_only = read_only
        self.warn = warn or (lambda msg: None)
        self.counts = {"hits": 0, "misses": 0, "rejected": 0, "uploaded": 0, "failed": 0,
                       "down_bytes": 0, "up_bytes": 0, "down_s": 0.0, "up_s": 0.0}
        self._lock = threading.Lock()
        self._queue: list[tuple[str, str, bytes, bytes]] = []  # (key, ext, data, .meta) not sent yet
        self._queued = 0  # their bytes
        self._fs = None
        self.untrusted: set[str] = set()  # keys whose remote object failed verification: not read again,
        # and replaced by the object this machine computes

    @property
    def fs(self):
        if self._fs is None:
            self._fs = _filesystem(os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL"))
        return self._fs

    def _path(self, key: str) -> str:
        return f"{self.base}/objects/{key[:2]}/{key}.brf"

    def _count(self, **add) -> None:
        with self._lock:
            for name, value in add.items():
                self.counts[name] += value

    def check(self) -> None:
        """Fail early, with one line, when the bucket cannot be reached (once per process and URL:
        a farm worker builds many tasks)."""
        bucket = self.base.split("/", 1)[0]
        if self.url in _CHECKED:
            return
        try:
            if not self.fs.exists(bucket):
                raise RemoteError(f"the remote cache's bucket `{bucket}` does not exist (create it, or fix "
                                  f"{self.url})")
        except RemoteError:
            raise
        except Exception as exc:  # botocore's and aiohttp's own errors: one line, the cause named
            raise RemoteError(f"cannot reach the remote cache {self.url} ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); check AWS_ENDPOINT_URL and the credentials") from None
        _CHECKED.add(self.url)

    # ── reading: a local miss ──
    def fetch(self, key: str, store: Callable[[str, bytes, bytes], None], has: Callable[[str], bool]) -> bool:
        """Bring `key` and what it refers to (a record's tiles) into the local cache through
        `store(key, data, meta)`, the objects of each level fetched at once; False when the remote has
        no whole, verifiable object under that key (then nothing of it is stored)."""
        if key in self.untrusted:
            return False
        started = time.perf_counter()
        found: dict[str, tuple[bytes, bytes]] = {}
        level, ok = [key], True
        for _ in range(8):  # records refer to tiles and latents, which refer to nothing: two levels
            got = self._level(level)
            if got is None:
                ok = False
                break
            found.update(got)
            level = sorted({r for _, meta in got.values() for r in json.loads(meta).get("refs", [])
                            if r not in found and not has(r)})
            if not level:
                break
        else:
            ok = False
        if not ok:
            self._count(misses=1)
            return False
        for k in sorted(found, key=lambda k: k == key):  # what it refers to first, the object itself last
            store(k, *found[k])
        size = sum(len(d) + len(m) for d, m in found.values())
        self._count(hits=1, down_bytes=size, down_s=time.perf_counter() - started)
        return True

    def _level(self, keys: list[str]) -> dict[str, tuple[bytes, bytes]] | None:
        """The verified (data, .meta) of each of `keys`, fetched concurrently; None if any is missing,
        unreadable or untrusted."""
        if any(k in self.untrusted for k in keys):
            return None
        try:
            got = self.fs.cat([self._path(k) for k in keys], on_error="return")
        except Exception as exc:  # the store unreachable mid-build: a miss, said once
            self.warn(f"remote cache: cannot read {keys[0][:12]} ({type(exc).__name__}); it will be computed here")
            return None
        out = {}
        for k in keys:
            blob = got.get(self._path(k))
            if not isinstance(blob, bytes):
                return None  # absent (or a transport error): a miss
            try:
                data, meta = unpack(blob)
                record = json.loads(meta)
                ext, sha, refs = record["ext"], record["sha256"], record.get("refs", [])
            except (ValueError, KeyError, TypeError):
                self._reject(k, "it is not a whole object")
                return None
            if record.get("key") != k:
                self._reject(k, f"it belongs to another key ({str(record.get('key'))[:12]})")
                return None
            if not isinstance(ext, str) or not ext.isalnum() or not isinstance(refs, list):
                self._reject(k, "its metadata is malformed")
                return None
            if hashlib.sha256(data).hexdigest() != sha:
                self._reject(k, "its data does not match its hash")
                return None
            out[k] = (data, meta)
        return out

    def _reject(self, key: str, why: str) -> bool:
        self.warn(f"remote cache object {key[:12]} is not trusted ({why}); it will be recomputed")
        with self._lock:
            self.untrusted.add(key)
        self._count(rejected=1)
        return False

    # ── writing: after the local commit ──
    def upload(self, key: str, ext: str, data: bytes, meta: bytes) -> None:
        """Queue `key` for the bucket; the queue goes up in batches (`flush`), at the latest when the
        build ends, or sooner when it holds more than BATCH_BYTES."""
        if self.read_only:
            return
        with self._lock:
            self._queue.append((key, ext, data, meta))
            self._queued += len(data) + len(meta)
            full = self._queued > BATCH_BYTES
        if full:
            self.flush()

    def flush(self) -> None:
        """Send what is queued, each object in one PUT (its `.meta` and its data together: a reader
        finds it whole or not at all), all of them at once (s3fs puts them concurrently)."""
        with self._lock:
            queue, self._queue, self._queued = self._queue, [], 0
        if not queue:
            return
        started = time.perf_counter()
        try:
            self.fs.pipe({self._path(k): pack(data, meta) for k, _, data, meta in queue})
        except Exception as exc:
            self._count(failed=len(queue))
            self.warn(f"remote cache: could not upload {len(queue)} object(s) ({type(exc).__name__}: "
                      f"{str(exc)[:120]}); they stay local")
            return
        self._count(uploaded=len(queue), up_bytes=sum(len(d) + len(m) for _, _, d, m in queue),
                    up_s=time.perf_counter() - started)

    def close(self) -> None:
        self.flush()
