"""Watch mode: rebuild a brief when it, a file it `use`s or an asset it places is saved.

Directories are watched, not files (editors replace files on save). Created, modified and moved
events count, the destination of a move too; editor temp files are ignored. Events are debounced
(about 150 ms of quiet) and the content of the brief and everything it depends on is hashed, so a
save that changes nothing does nothing and every editor's save dance (vim's backup-rename,
JetBrains' safe write, gedit's temp-rename) gives exactly one rebuild. A newer save stops the
build in flight at the next node boundary and the new text is built. A brief that does not check
prints its diagnostics and the watcher keeps going; a file missing mid-save is retried. When the
system runs out of inotify watches, it falls back to polling and says so.
"""

from __future__ import annotations

import errno
import fnmatch
import hashlib
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from watchdog.events import FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.polling import PollingObserver

from brief.lang.diagnostics import DiagnosticError

from ..build import Built, Options, build_file
from ..render.execute import BuildError, Superseded

IGNORED = (".*.sw?", "*~", "*___jb_tmp___", "*___jb_old___", ".goutputstream-*", "4913", ".#*", "*.tmp",
           ".tmp-*", ".brief-fmt-*")
DEBOUNCE_S = 0.15


def ignored(path: str) -> bool:
    name = os.path.basename(path)
    return any(fnmatch.fnmatch(name, pattern) for pattern in IGNORED) or f"{os.sep}.brief{os.sep}" in path


@dataclass
class Rebuild:
    """What one rebuild did (or why it did not finish)."""

    brief: Path
    built: list[Built] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""  # diagnostics or a node's failure, as text
    diagnostics: list = field(default_factory=list)
    superseded: bool = False
    internal: BaseException | None = None  # a failure brief did not expect: a bug, reported, survived


class _Events(FileSystemEventHandler):
    def __init__(self, watcher: "Watcher"):
        self.watcher = watcher

    def on_any_event(self, event) -> None:
        if event.is_directory or event.event_type not in ("created", "modified", "moved", "deleted", "closed"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path and not ignored(os.fsdecode(path)):
                self.watcher.touched(os.path.realpath(os.fsdecode(path)))


class Watcher:
    def __init__(self, target: Path, options: Options, report: Callable[[Rebuild], None] | None = None,
                 warn: Callable[[str], None] | None = None, debounce: float = DEBOUNCE_S):
        self.target = Path(target).resolve()
        self.options = options
        self.report = report or (lambda r: None)
        self.warn = warn or (lambda msg: None)
        self.debounce = debounce
        self.lock = threading.Condition()
        self.pending: set[Path] = set()  # briefs to rebuild once quiet
        self.last_event = 0.0
        self.deps: dict[Path, set[str]] = {}  # brief → the files it depends on (real paths)
        self.hashes: dict[Path, str] = {}  # brief → content hash of it and its dependencies, last built
        self.stop_build = threading.Event()
        self.building: Path | None = None
        self.closed = False
        self.rebuilds: list[Rebuild] = []
        self.observer = None
        self.watched: set[str] = set()

    # ── files ──
    def briefs(self) -> list[Path]:
        if self.target.is_file() or self.target.suffix == ".brief":
            return [self.target]
        return sorted(p.resolve() for p in self.target.rglob("*.brief")
                      if ".brief" not in p.parent.parts and "out" not in p.relative_to(self.target).parts)

    def _digest(self, brief: Path, seen: dict[str, bytes] | None = None) -> str | None:
        """Hash of the brief and its dependencies; None while a file is missing (mid-save).
        `seen` holds contents already read (and receives those read now)."""
        seen = {} if seen is None else seen
        h = hashlib.sha256()
        for path in [str(brief), *sorted(self.deps.get(brief, set()) - {str(brief)})]:
            if path not in seen:
                try:
                    seen[path] = Path(path).read_bytes()
                except FileNotFoundError:
                    if path == str(brief):
                        return None
                    seen[path] = b"\0missing"
                except OSError:
                    return None
            h.update(path.encode() + b"\0" + seen[path])
        return h.hexdigest()

    def touched(self, path: str) -> None:
        with self.lock:
            hit = [b for b in self.briefs() if str(b) == path or path in self.deps.get(b, ())]
            if not hit and path.endswith(".brief") and not self.target.is_file():
                hit = [Path(path)]
            if hit:
                self.pending.update(hit)
                self.last_event = time.monotonic()
                if self.building in hit:
                    self.stop_build.set()  # a newer save: stop at the next node boundary
                self.lock.notify_all()

    # ── observing ──
    def _watch_dirs(self) -> set[str]:
        dirs = {str(b.parent) for b in self.briefs()} | {str(self.target if self.target.is_dir() else self.target.parent)}
        for deps in self.deps.values():
            dirs |= {os.path.dirname(d) for d in deps}
        return {d for d in dirs if os.path.isdir(d)}

    def _schedule(self) -> None:
        for folder in sorted(self._watch_dirs() - self.watched):
            try:
                self.observer.schedule(_Events(self), folder, recursive=False)
            except OSError as exc:
                if exc.errno not in (errno.ENOSPC, errno.EMFILE) or isinstance(self.observer, PollingObserver):
                    raise
                self.warn("out of inotify watches (fs.inotify.max_user_watches); falling back to polling")
                self.observer.stop()
                self.observer = PollingObserver(timeout=0.25)
                self.observer.start()
                self.watched.clear()
                return self._schedule()
            self.watched.add(folder)

    def start(self) -> None:
        self.observer = Observer()
        self.observer.start()
        with self.lock:
            self.pending.update(self.briefs())
            self.last_event = time.monotonic() - self.debounce
        self._schedule()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self.stop_build.set()
            self.lock.notify_all()
        if self.observer:
            self.observer.stop()
            self.observer.join(timeout=5)

    # ── building ──
    def run(self, until: Callable[[], bool] | None = None) -> None:
        """Rebuild on changes until closed (or `until()` says so). Call `start()` first."""
        while True:
            with self.lock:
                while not self.closed and (not self.pending or time.monotonic() - self.last_event < self.debounce):
                    wait = self.debounce - (time.monotonic() - self.last_event) if self.pending else 0.5
                    self.lock.wait(timeout=max(wait, 0.01))
                    if until and until():
                        return
                if self.closed:
                    return
                brief = min(self.pending)
                self.pending.discard(brief)
                self.stop_build.clear()
                self.building = brief
            try:
                self._build(brief)
            finally:
                with self.lock:
                    self.building = None

    def _build(self, brief: Path) -> None:
        seen: dict[str, bytes] = {}
        digest = self._digest(brief, seen)
        if digest is None:  # missing for a moment, mid-save: look again after the next quiet spell
            with self.lock:
                self.pending.add(brief)
                self.last_event = time.monotonic()
            return
        if self.hashes.get(brief) == digest:
            return  # saved without a change
        started = time.perf_counter()
        result = Rebuild(brief)
        try:
            result.built = build_file(brief, self.options, should_stop=self.stop_build.is_set, warn=self.warn)
            self.hashes[brief] = digest
        except Superseded:
            result.superseded = True
        except DiagnosticError as exc:
            self.hashes[brief] = digest  # the same broken text is not rebuilt again
            result.error = "\n".join((str(d.span) + ": " + d.summary if d.span else d.summary)
                                     + (f"\n  help: {d.detail}" if d.detail else "") for d in exc.diagnostics)
            result.diagnostics = exc.diagnostics
        except BuildError as exc:
            self.hashes[brief] = digest
            result.error = str(exc)
        except Exception as exc:  # a bug of brief's: reported as one (never as the user's mistake), and survived
            self.hashes[brief] = digest
            result.error, result.internal = f"internal error: {type(exc).__name__}: {exc}", exc
        result.seconds = time.perf_counter() - started
        self._update_deps(brief, result)
        if brief in self.hashes:  # with the dependencies now known, over the contents this build saw
            self.hashes[brief] = self._digest(brief, seen) or self.hashes[brief]
        self.rebuilds.append(result)
        self.report(result)
        self._schedule()

    def _update_deps(self, brief: Path, result: Rebuild) -> None:
        """What to watch for this brief: what the last good build read; a broken one keeps the old."""
        if result.built:
            self.deps[brief] = set(result.built[0].files) | {str(brief)}
        else:
            self.deps.setdefault(brief, {str(brief)})
