"""The upkeep of a cache (`Cache`, cache.py, inherits it): the leases running builds hold, renewed
so that other hosts see them alive; the sweep of temp files a killed process left; the stats; and
gc, which marks before it sweeps. What live leases hold, everything used since the oldest of them
began (by the file system's clock), and what those refer to, is never evicted; objects no state
record reaches go first, least recently used first; and an object is evicted only with nothing left
that refers to it, so a record is never left without its tiles. A lease of another host counts
while it is renewed; a temp file of another host is swept only when old.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from ..conditions import MALFORMED
from .files import HOST, SWEEP_AGE_S, TEMP_PREFIX, atomic_write, pid_alive, read_regular

LEASE_RENEW_S = 30  # a running build touches its lease this often
LEASE_TTL_S = 300  # a lease not renewed for this long is stale (its holder died, on any host)


@dataclass
class CacheStats:
    objects: int
    bytes: int
    by_kind: dict[str, tuple[int, int]]
    leases: int


@dataclass
class _Entry:
    key: str
    used: float  # last use (the .meta's mtime)
    size: int  # data and .meta
    ext: str
    refs: list[str]


class Upkeep:
    """Leases, sweep, stats and gc over the cache's folders (`root`, `objects`)."""

    root: Path
    objects: Path
    remote: object

    def size(self) -> int:
        """Bytes the objects take (their files' sizes; nothing is parsed: cheap enough per build)."""
        total = 0
        for folder in os.scandir(self.objects):
            if folder.is_dir(follow_symlinks=False):
                for entry in os.scandir(folder.path):
                    with contextlib.suppress(OSError):
                        total += entry.stat(follow_symlinks=False).st_size
        return total

    def trim(self, budget: int) -> tuple[int, int]:
        """Keep the cache within `budget` bytes: gc down to 90% of it when it is over."""
        return self.gc(int(budget * 0.9)) if self.size() > budget else (0, 0)

    # ── leases: what running builds hold ──
    def _fs_now(self) -> float:
        """The file system's clock (on a shared disk, the server's): what object mtimes are set by."""
        probe = self.root / "leases" / f"{TEMP_PREFIX}{HOST}~{os.getpid()}~{secrets.token_hex(4)}-now"
        try:
            probe.write_bytes(b"")
            return probe.stat().st_mtime
        except OSError:
            return time.time()
        finally:
            with contextlib.suppress(OSError):
                probe.unlink()

    @contextlib.contextmanager
    def lease(self, keys: Iterable[str]) -> Iterator[None]:
        """Hold `keys` (and what they refer to, and everything used meanwhile) against gc while the
        block runs; the lease is renewed every LEASE_RENEW_S so other hosts see it is alive. However
        it ends, what the block made goes up to the remote tier (a later build would find it here)."""
        path = self.root / "leases" / f"{HOST}~{os.getpid()}~{secrets.token_hex(4)}.json"
        record = {"host": HOST, "pid": os.getpid(), "started": self._fs_now(), "keys": sorted(set(keys))}
        atomic_write(path, json.dumps(record).encode())
        stop = threading.Event()

        def renew() -> None:
            while not stop.wait(LEASE_RENEW_S):
                with contextlib.suppress(OSError):
                    os.utime(path)

        threading.Thread(target=renew, daemon=True, name="brief-lease").start()
        try:
            yield
        finally:
            stop.set()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            if self.remote is not None:
                self.remote.close()

    def _live_leases(self) -> list[dict]:
        live, now = [], self._fs_now()
        for path in (self.root / "leases").glob("*.json"):
            try:
                record = json.loads(read_regular(path))
                fresh = now - path.stat().st_mtime < LEASE_TTL_S
                ours = record.get("host") == HOST
                alive = fresh and (not ours or pid_alive(int(record.get("pid", 0))))
                keys, started = record.get("keys", []), record.get("started", 0)
                if not (isinstance(keys, list) and all(isinstance(k, str) for k in keys)
                        and isinstance(started, (int, float))):
                    raise ValueError("not a lease")
            except (OSError, TypeError, AttributeError, OverflowError, *MALFORMED):
                continue
            if alive:
                live.append(record)
            elif not fresh or ours:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
        return live

    def leased(self) -> set[str]:
        return {k for record in self._live_leases() for k in record.get("keys", [])}

    # ── maintenance ──
    def sweep(self) -> int:
        """Remove temp files of dead processes of this host (a `kill -9` mid-write), and any older
        than SWEEP_AGE_S (another host's, or a live process's that is stuck)."""
        removed = 0
        now = time.time()
        for path in self.root.rglob(f"{TEMP_PREFIX}*"):
            try:
                host, pid = path.name[len(TEMP_PREFIX):].split("-", 1)[0].split("~")[:2]
                stale = (host == HOST and not pid_alive(int(pid))) or now - path.stat().st_mtime > SWEEP_AGE_S
            except (ValueError, FileNotFoundError):
                stale = True
            if stale:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
                    removed += 1
        return removed

    def _entries(self) -> dict[str, _Entry]:
        """Every committed object (whose record is its own), by key."""
        out = {}
        for meta_path in self.objects.glob("*/*.meta"):
            key = meta_path.stem
            try:
                record = json.loads(read_regular(meta_path))
                st = meta_path.stat()
                refs = [r for r in record.get("refs", []) if isinstance(r, str)]
                out[key] = _Entry(key, st.st_mtime, int(record.get("size", 0)) + st.st_size,
                                  str(record.get("ext", "?")), refs)
            except (OSError, TypeError, AttributeError, OverflowError, *MALFORMED):
                continue
        return out

    def stats(self) -> CacheStats:
        entries = self._entries().values()
        kinds: dict[str, tuple[int, int]] = {}
        for e in entries:
            n, b = kinds.get(e.ext, (0, 0))
            kinds[e.ext] = (n + 1, b + e.size)
        return CacheStats(len(entries), sum(e.size for e in entries), kinds, len(self._live_leases()))

    def gc(self, max_size: int) -> tuple[int, int]:
        """Evict objects until the cache fits `max_size` bytes; never what a running build holds or
        has used, never an object something kept refers to. Returns (objects evicted, bytes freed)."""
        self.sweep()
        since = self._fs_now()
        leases = self._live_leases()
        since = min([since] + [float(r.get("started", since)) for r in leases])
        entries = self._entries()

        def closure(roots: Iterable[str]) -> set[str]:
            seen, stack = set(), [k for k in roots if k in entries]
            while stack:
                k = stack.pop()
                if k not in seen:
                    seen.add(k)
                    stack.extend(r for r in entries[k].refs if r in entries and r not in seen)
            return seen

        held = closure([k for r in leases for k in r.get("keys", [])]
                       + [k for k, e in entries.items() if e.used >= since])
        wanted = closure(n.get("key") for record in self._states() if isinstance(record.get("nodes"), dict)
                         for n in record["nodes"].values() if isinstance(n, dict) and isinstance(n.get("key"), str))
        referrers: dict[str, int] = {}
        for e in entries.values():
            for r in e.refs:
                referrers[r] = referrers.get(r, 0) + 1
        total = sum(e.size for e in entries.values())
        evicted = freed = 0
        # the roots of what may go: unreachable from the last builds first, least recently used first
        queue = sorted((e for e in entries.values() if not referrers.get(e.key) and e.key not in held),
                       key=lambda e: (e.key in wanted, e.used))
        while queue and total > max_size:
            stack = [queue.pop(0)]
            while stack:
                e = stack.pop()
                if not self._still_unused(e, since):
                    continue
                self.evict(e.key)
                total, freed, evicted = total - e.size, freed + e.size, evicted + 1
                for r in e.refs:  # what only it referred to goes with it
                    referrers[r] = referrers.get(r, 1) - 1
                    if referrers[r] == 0 and r in entries and r not in held:
                        stack.append(entries[r])
        return evicted, freed

    def _still_unused(self, entry: _Entry, since: float) -> bool:
        """Checked again just before evicting: a build may have started using it meanwhile."""
        try:
            return self._meta_path(entry.key).stat().st_mtime < since
        except FileNotFoundError:
            return False
