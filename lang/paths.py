"""File paths named in briefs: resolving them relative to the file, and keeping them inside the
project.

The project root is the nearest folder, from the entry brief upwards, that holds `brief.toml` or
`.git`; failing that, the entry brief's own folder. A path that leaves it (`../../etc/passwd`, an
absolute path elsewhere, a symlink pointing out) is refused unless the caller allows it.

Also where brief keeps its per-user files (the compiled parser, the model hash memo):
`user_cache_dir()`.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

ROOT_MARKERS = ("brief.toml", ".git")


def user_cache_dir() -> Path | None:
    """brief's folder in the user's cache: `$XDG_CACHE_HOME/brief` (an absolute path, as the XDG
    spec asks), else `~/.cache/brief`; None when there is no home to put it in."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        try:
            base = os.path.join(Path.home(), ".cache")
        except RuntimeError:  # no HOME and no passwd entry
            return None
    return Path(base) / "brief"


def find_root(start: Path) -> Path:
    start = start.resolve()
    for folder in (start, *start.parents):
        if any((folder / marker).exists() for marker in ROOT_MARKERS):
            return folder
    return start


@dataclass(frozen=True)
class Resolved:
    path: Path | None  # the real path, None when refused
    problem: str = ""  # why it was refused
    fix: str = ""


def resolve(base_dir: Path, written: str, root: Path, allow_outside: bool = False) -> Resolved:
    """Resolve `written` (as in the brief) against the folder of the file that names it."""
    if not written:
        return Resolved(None, "the path is empty", "Write the file's path relative to this brief.")
    if "\x00" in written:
        return Resolved(None, "the path contains a NUL character", "Remove it.")
    candidate = Path(written) if os.path.isabs(written) else base_dir / written
    real = Path(os.path.realpath(candidate))
    real_root = Path(os.path.realpath(root))
    if not allow_outside and real != real_root and real_root not in real.parents:
        how = "through a symlink " if os.path.realpath(os.path.abspath(candidate)) != os.path.abspath(candidate) and \
            Path(os.path.abspath(candidate)).is_relative_to(real_root) else ""
        return Resolved(
            None,
            f"`{written}` leads {how}outside the project folder {real_root}",
            "Keep files inside the project (the folder with brief.toml or .git), "
            "or pass --allow-outside-root to allow it on purpose.",
        )
    try:
        exists, is_file = real.exists(), real.is_file()
    except OSError as exc:  # a name too long for the system, a folder we may not enter
        return Resolved(None, f"`{_short(written)}` cannot be looked up: {exc.strerror}",
                        "Check the path; paths are relative to the brief that names them.")
    if not exists:
        return Resolved(None, f"`{written}` does not exist (looked for {real})",
                        "Check the spelling; paths are relative to the brief that names them.")
    if not is_file:
        return Resolved(None, f"`{written}` is not a file", "Name a file, not a folder.")
    return Resolved(real)


def _short(written: str) -> str:
    return written if len(written) <= 60 else f"{written[:28]}…{written[-28:]}"


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file's bytes, read in 1 MiB chunks: how a file a brief names is identified."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
