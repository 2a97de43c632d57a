"""The remote tier of the cache: an S3-compatible bucket that several machines share, through fsspec's
`s3fs` (`--remote-cache s3://bucket/prefix`, `BRIEF_REMOTE_CACHE`, or `[cache] remote` in brief.toml).

An object is committed to the local cache first and queued for upload after: the queue goes up in
one batch when the build ends (sooner, in the build's own time, when it holds more than BATCH_BYTES).
A local miss fetches the object, and everything it refers to, into the local cache, which verifies it
as it verifies its own — its `.meta` must be its key's, its refs must be keys, its data must match the
hash, the kind must be the one asked for — so a corrupt or foreign remote object is ignored and
recomputed, never trusted. Read-only mode (CI, reviewers: `--remote-read-only`,
`BRIEF_REMOTE_READ_ONLY=1`, `read_only = true`) fetches and never uploads.

The tier never makes a build fail that would succeed without it: a bad URL, a missing bucket or
refused credentials are one line before any work (the configuration is wrong), but a store that is
unreachable, at the start or midway, is one warning and the build goes on with the local cache
alone, without asking the store again (a request to a dead store costs seconds of retries), nor do
the next builds of the same process for a minute (a farm worker's next tasks); a key that may not
write, or may not read, is one warning and nothing more is uploaded, or asked for. Credentials come from the usual AWS
environment and profiles through botocore, and are never stored or echoed; an S3-compatible store's
endpoint from the standard `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_S3`); botocore's `standard`
retries, three attempts, unless AWS_MAX_ATTEMPTS or AWS_RETRY_MODE say otherwise. What the tier did
(hits, misses, rejected objects, bytes and seconds each way) is counted, for the build summary and
`brief cache stats`.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .cache import _KEY

BATCH_BYTES = 256 * 2**20  # queued uploads sent at once when they pass this
CHUNK_BYTES = 64 * 2**20  # objects packed and sent at a time
WAIT_BYTES = 64 * 2**20  # at most so much of what nothing queued refers to yet waits for the record that will

_FILESYSTEMS: dict = {}  # (endpoint, credentials' digest) → s3fs file system: one per process (a session costs ~0.3 s)
_CHECKED: set[tuple] = set()  # (URL, file system) pairs whose bucket this process has seen
_DOWN: dict[tuple, tuple[float, str]] = {}  # (URL, file system) → when and why the store last failed here
RECHECK_S = 60.0  # for so long after, a build in this process (a farm worker's next task) does not ask it
_MADE = threading.Lock()
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE")


def _filesystem_key() -> tuple[str | None, str]:
    """The endpoint, and a digest of the credentials the environment names (other keys: another session)."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    names = "\0".join(os.environ.get(n, "") for n in _CREDENTIALS)
    return endpoint, hashlib.sha256(names.encode()).hexdigest()


def _filesystem(key: tuple[str | None, str]):
    with _MADE:
        if key not in _FILESYSTEMS:
            import s3fs

            config: dict = {"connect_timeout": 5, "read_timeout": 60}
            if not (os.environ.get("AWS_MAX_ATTEMPTS") or os.environ.get("AWS_RETRY_MODE")):
                config["retries"] = {"mode": "standard", "max_attempts": 3}  # botocore's legacy default: 5, slower
            fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": key[0]} if key[0] else {},
                                   config_kwargs=config, skip_instance_cache=True)
            fs.retries = 2  # s3fs's own rounds (5 by default) around botocore's attempts: a dead store, 6 tries
            _FILESYSTEMS[key] = fs
        return _FILESYSTEMS[key]


_URL = re.compile(r"s3://(?P<bucket>[A-Za-z0-9][A-Za-z0-9._-]{1,253}[A-Za-z0-9])(?P<prefix>(?:/[A-Za-z0-9._=+@,!-]+)*)/?")


def _shown(url: str) -> str:
    """`url` for a message: any user:password@ before the bucket dropped, and not too long."""
    return re.sub(r"^(s3://)[^/]*@", r"\1", url)[:200]


def _cause(exc: BaseException) -> str:
    """What went wrong, in a few words (any user:password@ in a URL dropped)."""
    text = re.sub(r"//[^/@\s\"']*@", "//", (str(exc).splitlines() or [""])[0])[:160]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


_CONFIGURATION = ("NoCredentialsError", "PartialCredentialsError", "ProfileNotFound", "CredentialRetrievalError")


MAGIC = b"BRF2"  # a remote object: MAGIC, its entries' count, each one's .meta and data lengths, each .meta, data
FORMER = (b"BRF1",)  # the formats of earlier releases (one object each): a plain miss, made again and replaced


def pack(entries: list[tuple[bytes, bytes]]) -> bytes:
    """One remote object from (data, .meta) pairs: an object of the cache, then everything it refers
    to (a record's tiles and latents), so that a machine fetches it whole in one request."""
    head = b"".join(len(meta).to_bytes(4, "big") + len(data).to_bytes(8, "big") for data, meta in entries)
    return MAGIC + len(entries).to_bytes(4, "big") + head + b"".join(meta + data for data, meta in entries)


def unpack(blob: bytes) -> list[tuple[bytes, bytes]]:
    """The (data, .meta) pairs of a remote object, its own first; ValueError when it is not one."""
    if blob[:4] != MAGIC or len(blob) < 8:
        raise ValueError("not a brief cache object")
    count, at = int.from_bytes(blob[4:8], "big"), 8
    if count < 1 or len(blob) < at + 12 * count:
        raise ValueError("truncated")
    sizes = [(int.from_bytes(blob[i:i + 4], "big"), int.from_bytes(blob[i + 4:i + 12], "big"))
             for i in range(at, at + 12 * count, 12)]
    at += 12 * count
    entries = []
    for meta_size, data_size in sizes:
        meta, data = blob[at:at + meta_size], blob[at + meta_size:at + meta_size + data_size]
        at += meta_size + data_size
        if len(meta) != meta_size or len(data) != data_size:
            raise ValueError("truncated")
        entries.append((data, meta))
    return entries


def _refs(meta: bytes) -> list[str]:
    return json.loads(meta).get("refs", [])


def _closure(key: str, found: dict[str, tuple[bytes, bytes]], has: Callable[[str], bool]) -> tuple[set[str], list[str]]:
    """What of `key`'s closure (it, and what it refers to, at any depth) `found` holds and this cache
    lacks, and which keys of it are neither here nor found (to fetch next)."""
    wanted, local, lacking, todo = set(), set(), set(), [key]
    while todo:
        k = todo.pop()
        if k in wanted or k in local or k in lacking:
            continue
        if k != key and has(k):
            local.add(k)  # here already: not stored again, nor counted as fetched
        elif k in found:
            wanted.add(k)
            todo.extend(_refs(found[k][1]))
        else:
            lacking.add(k)
    return wanted, sorted(lacking)


def _untrusted(key: str | None, data: bytes, meta: bytes) -> str:
    """Why the (data, .meta) of a remote object cannot be taken for `key` (for an object it holds,
    key None: for its own key, which must be a key), or "" when it can."""
    try:
        record = json.loads(meta)
        ext, sha, refs, own = record["ext"], record["sha256"], record.get("refs", []), record.get("key")
    except (ValueError, KeyError, TypeError):
        return "it is not a whole object"
    if not isinstance(own, str) or not _KEY.fullmatch(own) or (key is not None and own != key):
        return f"it belongs to another key ({str(own)[:12]})"
    if not isinstance(ext, str) or not re.fullmatch(r"[a-z0-9]{1,16}", ext) or ext == "meta" \
            or not isinstance(refs, list) or not all(isinstance(r, str) and _KEY.fullmatch(r) for r in refs):
        # a ref is a key, never a path; the data never goes where its .meta (the commit marker) does
        return "its metadata is malformed"
    if hashlib.sha256(data).hexdigest() != sha:
        return "its data does not match its hash"
    return ""


class RemoteError(Exception):
    """The remote tier cannot be used as configured (a bad URL, a missing bucket, refused credentials)."""


def configured(url: str | None, read_only: bool | None, root: Path | None) -> tuple[str | None, bool]:
    """The remote URL and mode: the flag, else the environment, else brief.toml's `[cache]`."""
    from ..settings import SettingsError, table

    try:
        section = table(root, "cache") or {}
    except SettingsError as exc:
        raise RemoteError(str(exc)) from None
    url = url or os.environ.get("BRIEF_REMOTE_CACHE") or section.get("remote") or None
    if url is None and read_only:  # the flag (or the caller) asked for it: the environment's is not read yet
        raise RemoteError("--remote-read-only needs a remote cache: give --remote-cache s3://BUCKET[/PREFIX] "
                          "(or BRIEF_REMOTE_CACHE, or [cache] remote in brief.toml)")
    if read_only is None:
        env = os.environ.get("BRIEF_REMOTE_READ_ONLY", "").strip().lower()
        read_only = env in ("1", "true", "yes") if env else bool(section.get("read_only", False))
    return (str(url) if url else None), bool(read_only)


class Remote:
    def __init__(self, url: str, read_only: bool = False, warn: Callable[[str], None] | None = None):
        found = _URL.fullmatch(url)
        if not found or any(part in (".", "..") for part in found["prefix"].split("/")):
            raise RemoteError(f"`{_shown(url)}` is not a remote cache URL: write s3://BUCKET[/PREFIX] (a bucket "
                              "name of letters, digits, dots and hyphens; a prefix of letters, digits and . _ - = + "
                              "@ , ! between slashes); an S3-compatible store's endpoint comes from AWS_ENDPOINT_URL")
        self.url = url.rstrip("/")
        self.base = self.url[len("s3://"):]
        self.read_only = read_only
        self.warn = warn or (lambda msg: None)
        self.counts = {"hits": 0, "misses": 0, "asked": 0, "rejected": 0, "uploaded": 0, "failed": 0,
                       "down_bytes": 0, "up_bytes": 0, "down_s": 0.0, "up_s": 0.0}
        self._lock = threading.Lock()
        self._queue: list[tuple[str, bytes, bytes]] = []  # (key, data, .meta) not sent yet
        self._queued = 0  # their bytes
        self._fs_key = _filesystem_key()
        self.untrusted: set[str] = set()  # keys whose remote object failed verification: not read again,
        # and replaced by the object this machine computes
        self.absent: set[str] = set()  # keys this build found no whole object for: not asked for again (what
        # the build then makes goes up under its own key too: looked up by it here, it will be elsewhere)
        self.down = ""  # why the store cannot be used: then this build goes on without it
        self.refused = ""  # why the store refuses uploads: then nothing more is uploaded
        self.unreadable = ""  # why the store refuses reads: then nothing more is asked for
        self.source: Callable[[str], tuple[bytes, bytes] | None] = lambda key: None  # the local cache's
        # (data, .meta) of a key, for what an uploaded record refers to that this build did not make

    @property
    def fs(self):
        return _filesystem(self._fs_key)

    def _path(self, key: str) -> str:
        return f"{self.base}/objects/{key[:2]}/{key}.brf"

    def _count(self, **add) -> None:
        with self._lock:
            for name, value in add.items():
                self.counts[name] += value

    def check(self) -> None:
        """Fail early, with one line, when the bucket is missing or the credentials are refused; a store
        that does not answer is a warning, and the build goes on without it. Once per process, URL and
        credentials when it works: a farm worker builds many tasks."""
        bucket = self.base.split("/", 1)[0]
        failed = _DOWN.get((self.url, self._fs_key))  # at the first check, or midway after a check that passed
        if failed and time.monotonic() - failed[0] < RECHECK_S:
            self.down = failed[1]
            self.warn(f"remote cache {self.url} failed {time.monotonic() - failed[0]:.0f} s ago in this process "
                      f"({failed[1]}); carrying on with the local cache alone")
            return
        if (self.url, self._fs_key) in _CHECKED:
            return
        try:
            self.fs.call_s3("head_bucket", Bucket=bucket)
        except FileNotFoundError:
            raise RemoteError(f"the remote cache's bucket `{bucket}` does not exist (create it, or fix "
                              f"{self.url})") from None
        except PermissionError:
            raise RemoteError(f"access to the remote cache {self.url} is denied: check the credentials "
                              "(AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE) and that they may "
                              "list the bucket (s3:ListBucket)") from None
        except ValueError as exc:  # botocore's: an endpoint that is not a URL, and the like
            raise RemoteError(f"cannot use the remote cache {self.url} ({_cause(exc)}); check AWS_ENDPOINT_URL")\
                from None
        except Exception as exc:  # botocore's and aiohttp's own errors
            if type(exc).__name__ in _CONFIGURATION:
                raise RemoteError(f"no usable credentials for the remote cache {self.url} ({_cause(exc)}): set "
                                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE") from None
            self.off(exc)
            return
        _CHECKED.add((self.url, self._fs_key))
        _DOWN.pop((self.url, self._fs_key), None)

    def off(self, exc: BaseException, what: str = "") -> None:
        """The tier failed (the store is unreachable or refuses this machine, or `what` else went wrong):
        said once, and the tier is off for the rest of this build: no request to the store waits out
        its retries again."""
        with self._lock:
            if self.down:
                return
            self.down = _cause(exc)
        if not what:  # the store's own failure, not this machine's: remembered for the next builds here
            _DOWN[(self.url, self._fs_key)] = (time.monotonic(), self.down)
        what = what or ("refuses this machine's credentials" if isinstance(exc, PermissionError) else "is unreachable")
        self.warn(f"remote cache {self.url} {what} ({self.down}); carrying on with the local cache alone")

    # ── reading: a local miss ──
    def fetch(self, key: str, store: Callable[[str, bytes, bytes], None], has: Callable[[str], bool]) -> bool:
        """Bring `key` and what it refers to (a record's tiles) into the local cache through
        `store(key, data, meta)`, the objects of each level fetched at once; False when the remote has
        no whole, verifiable object under that key (then nothing of it is stored). A key missed once is
        not asked for again by this build: the build makes it, and then it is local."""
        if key in self.untrusted or key in self.absent or self.down or self.unreadable:
            self._count(misses=1)
            return False
        started = time.perf_counter()
        found: dict[str, tuple[bytes, bytes]] = {}
        level, ok = [key], True
        for _ in range(8):  # an object holds what it refers to: one level, unless its maker lacked some
            got = self._level(level)
            if got is None:
                ok = False
                break
            for k, entry in got.items():
                found.setdefault(k, entry)  # a key met again (held by another object) keeps what came first
            wanted, level = _closure(key, found, has)
            if not level:
                break
        else:
            ok = False
        if not ok:
            with self._lock:
                self.absent.add(key)
            self._count(misses=1)
            return False
        for k in sorted(wanted, key=lambda k: k == key):  # what it refers to first, itself last
            store(k, *found[k])
        size = sum(len(d) + len(m) for d, m in found.values())
        self._count(hits=1, down_bytes=size, down_s=time.perf_counter() - started)
        return True

    def _level(self, keys: list[str]) -> dict[str, tuple[bytes, bytes]] | None:
        """The verified (data, .meta) of each of `keys`, and of what each one's remote object holds
        with it, fetched concurrently; None if any is missing, unreadable or untrusted (a store that
        fails is off for the rest of the build: `off`)."""
        if any(k in self.untrusted for k in keys) or self.down or self.unreadable:
            return None
        self._count(asked=len(keys))
        try:
            got = self.fs.cat([self._path(k) for k in keys], on_error="return")
        except Exception as exc:
            self.off(exc)
            return None
        out: dict[str, tuple[bytes, bytes]] = {}
        held: dict[str, tuple[bytes, bytes]] = {}
        for k in keys:
            blob = got.get(self._path(k))
            if isinstance(blob, PermissionError):
                self._unreadable(blob)
            elif isinstance(blob, BaseException) and not isinstance(blob, FileNotFoundError):
                self.off(blob)  # the store failed: off for the build
            if not isinstance(blob, bytes) or blob[:4] in FORMER:
                return None  # absent (or made by an earlier release): a miss
            try:
                entries = unpack(blob)
            except ValueError:
                self._reject(k, "it is not a whole object")
                return None
            names: set[str] = set()
            for i, (data, meta) in enumerate(entries):
                why = _untrusted(k if i == 0 else None, data, meta)
                name = json.loads(meta)["key"] if not why else ""
                if not why and name in names:
                    why = "it holds one object twice"  # `pack` is given each once: this one was tampered with
                if why:
                    self._reject(k, why if i == 0 else f"an object it holds is not trusted: {why}")
                    return None
                names.add(name)
                if i == 0:
                    out[name] = (data, meta)  # a key's own object, over a copy another one holds
                else:
                    held.setdefault(name, (data, meta))
        return {**held, **out}

    def _unreadable(self, exc: BaseException) -> None:
        """The store refuses this key's reads (403): said once, and nothing more is asked for in this
        build (each ask would be refused too); uploads go on, for the machines that may read."""
        with self._lock:
            if self.unreadable:
                return
            self.unreadable = _cause(exc)
        self.warn(f"remote cache {self.url} refuses to let this key read its objects ({self.unreadable}); "
                  "this build renders what it lacks (the key needs s3:GetObject)")

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
        if self.down or self.refused:
            self._count(failed=1)
            return
        with self._lock:
            self._queue.append((key, data, meta))
            self._queued += len(data) + len(meta)
            full = self._queued > BATCH_BYTES
        if full:
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        """Send what is queued, CHUNK_BYTES at a time (s3fs puts a chunk's objects concurrently). Each
        object that refers to others (a record: its tiles, its latents) goes up in one PUT holding them
        too, taken from the queue or the local cache, so a reader finds it whole or not at all and
        fetches it in one GET; what it holds is not sent alone, unless this build looked it up by its
        own key (latents: another machine will too). What nothing queued refers to yet waits for the
        next flush, the newest WAIT_BYTES of it (a node's tiles, queued just before its record); the
        rest, and everything at the `final` flush, goes up alone."""
        with self._lock:
            queue, self._queue, self._queued = self._queue, [], 0
        if not queue:
            return
        if self.down or self.refused:
            self._count(failed=len(queue))
            return
        queued = {k: (data, meta) for k, data, meta in queue}
        sent: set[str] = set()  # the queued keys the bucket has
        waiting: set[str] = set()  # the queued keys put back for the next flush

        def unsent() -> int:
            return len(queued.keys() - sent - waiting)

        chunk: dict[str, bytes] = {}
        chunk_keys: set[str] = set()
        size = 0
        for path, blob, keys in self._objects(queued, final, waiting):
            chunk[path], size = blob, size + len(blob)
            chunk_keys.update(keys)
            if size > CHUNK_BYTES:  # memory: a chunk packed at a time, not the queue
                if not self._send(chunk, unsent):
                    return
                sent.update(chunk_keys)
                chunk, chunk_keys, size = {}, set(), 0
        if chunk:
            self._send(chunk, unsent)

    def _objects(self, queued: dict[str, tuple[bytes, bytes]], final: bool, waiting: set[str]):
        """The remote objects of `queued`, one at a time: (path, packed bytes, the queued keys it
        holds). Records first, then what is sent alone; what waits is put back in the queue (`waiting`)."""
        refs = {k: _refs(meta) for k, (_, meta) in queued.items()}  # each .meta parsed once
        held: set[str] = set()
        for key, (data, meta) in queued.items():
            if not refs[key]:
                continue
            entries, seen, todo = [(data, meta)], {key}, list(refs[key])
            while todo:
                ref = todo.pop()
                if ref in seen:
                    continue
                seen.add(ref)
                got = queued.get(ref) or self.source(ref)
                if got is not None:  # else a reader fetches it on its own, or makes it
                    entries.append(got)
                    held.add(ref)
                    todo.extend(refs[ref] if ref in queued else _refs(got[1]))
            yield self._path(key), pack(entries), seen & queued.keys()
        alone = [k for k in queued if not refs[k] and (k not in held or k in self.absent)]
        if not final:
            room = WAIT_BYTES
            for k in reversed(alone):  # the newest first
                if k not in held:
                    room -= sum(map(len, queued[k]))
                    if room < 0:
                        break
                    waiting.add(k)
            with self._lock:
                self._queue[:0] = [(k, *queued[k]) for k in queued if k in waiting]
                self._queued += sum(len(d) + len(m) for k in waiting for d, m in [queued[k]])
        for k in alone:
            if k not in waiting:
                yield self._path(k), pack([queued[k]]), {k}

    def _send(self, objects: dict[str, bytes], unsent: Callable[[], int]) -> bool:
        """PUT `objects` concurrently; False when the store refused or failed (then the `unsent()`
        queued objects stay local, and the tier stops uploading or is off)."""
        started = time.perf_counter()
        try:
            self.fs.pipe(objects)
        except PermissionError as exc:  # a key that may read and not write
            failed = unsent()
            self._count(failed=failed)
            self.refused = _cause(exc)
            self.warn(f"remote cache {self.url} refuses uploads from this key ({self.refused}): "
                      f"{failed} object(s) stay local; with a key that may only read, use "
                      "--remote-read-only (or BRIEF_REMOTE_READ_ONLY=1)")
            return False
        except Exception as exc:
            self._count(failed=unsent())
            self.off(exc)
            return False
        self._count(uploaded=len(objects), up_bytes=sum(map(len, objects.values())),
                    up_s=time.perf_counter() - started)
        return True

    def close(self) -> None:
        self.flush()
