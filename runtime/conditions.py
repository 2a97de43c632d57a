"""Conditions of the machine a build runs on — a full disk, a read-only or unwritable folder, a
name too long, a file where a folder should be — as diagnostics, the one error type that reaches
the user (DESIGN house style 12). Anything else an operation raises is not expected: it is left to
surface as an internal error.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import os
import re
from pathlib import Path
from typing import Iterator

from brief.lang.diagnostics import Diagnostic, DiagnosticError, error

# what json and tomllib raise for a damaged or hostile file (nested 100,000 deep: RecursionError)
MALFORMED = (ValueError, RecursionError)

# errno → (what happened, how to fix it)
EXPECTED = {
    errno.ENOSPC: ("no space left on the device", "Free some space, or trim the cache: brief cache gc --max-size 2G."),
    errno.EDQUOT: ("the disk quota is exceeded", "Free some space, or trim the cache: brief cache gc --max-size 2G."),
    errno.EACCES: ("permission denied", "Check the permissions of that file or folder (for a build: or choose "
                                        "another with --out or --cache)."),
    errno.EPERM: ("the operation is not permitted", "Check the permissions of that file or folder (for a build: or "
                                                    "choose another with --out or --cache)."),
    errno.EROFS: ("the file system is read-only", "Choose a writable folder with --out or --cache."),
    errno.ENAMETOOLONG: ("the file name is too long", "Shorten the brief's or the variant's name, or the --out path."),
    errno.ENOTDIR: ("a file stands where a folder is needed", "Move the file away, or choose another --out or --cache."),
    errno.EEXIST: ("a file stands where a folder is needed", "Move the file away, or choose another --out or --cache."),
    errno.EISDIR: ("a folder stands where a file is needed", "Move the folder away, or choose another --out."),
    errno.EMFILE: ("too many open files", "Raise the limit (ulimit -n) or render fewer variants at once."),
    errno.EIO: ("an input/output error of the device", "Check the disk; then build again."),
    errno.EFBIG: ("the file is larger than this system allows (ulimit -f?)", "Raise the limit, or render smaller."),
    errno.ELOOP: ("a symbolic link on the way loops", "Fix or remove the symbolic link."),
    errno.ENOENT: ("it does not exist (removed meanwhile, or a folder that cannot hold files)",
                   "Check the path; for a build, choose another --out or --cache."),
    errno.EXDEV: ("the folder cannot be replaced on this file system (an overlay's lower layer?)",
                  "Delete the output folder once, or choose another --out."),
}


class UsageError(DiagnosticError):
    """The command's arguments do not fit what it is asked to do (the CLI exits 2)."""


def os_diagnostic(exc: OSError, code: str = "E440") -> Diagnostic | None:
    """A diagnostic for an expected condition of the operating system, or None for any other."""
    if exc.errno not in EXPECTED:
        return None
    what, fix = EXPECTED[exc.errno]
    where = shown_path(exc.filename) if exc.filename is not None else ""
    return error(code, f"cannot write or read {where}: {what}" if where else f"{what}", fix, None)


_TEMP = re.compile(r"^(?:\.tmp-[^-]*-(?P<file>.+)|\.brief-fmt-.*|\.(?P<folder>.+)\.(?:new|old)~[^/]*)$")


def shown_path(path) -> str:
    """A path as a message should name it: a temp file or staging folder by what it stands for."""
    path = Path(os.fsdecode(path))
    for i, part in enumerate(path.parts):
        m = _TEMP.match(part)
        if m:
            base = Path(*path.parts[:i])
            return str(base / m.group("file")) if m.group("file") else \
                str(base / m.group("folder")) if m.group("folder") else str(base)
    return str(path)


@contextlib.contextmanager
def as_diagnostics() -> Iterator[None]:
    """Turn the expected conditions of the machine raised inside the block into a diagnostic."""
    try:
        yield
    except OSError as exc:
        found = os_diagnostic(exc)
        if found is None:
            raise
        raise DiagnosticError([found]) from None


def writable_folder(path: Path, flag: str) -> None:
    """Refuse, before any work, a folder argument that names a file (`--out report.png`)."""
    path = Path(path)
    for p in (path, *path.parents):
        if os.path.islink(p) and not p.exists():
            raise UsageError([error("E441", f"{flag} {path}: {p} is a symbolic link to nothing (or a loop)",
                                    "Fix the link, or choose another folder.", None)])
        if p.exists():
            if not p.is_dir():
                raise UsageError([error(
                    "E441", f"{flag} {path}: {p} is a file, not a folder",
                    f"Name a folder for {flag} (it is created when missing).", None)])
            if not os.access(p, os.W_OK | os.X_OK):
                raise UsageError([error(
                    "E441", f"{flag} {path}: {p} is not writable",
                    f"Check its permissions, or choose another folder for {flag}.", None)])
            return


def diagnosed(fn):
    """Decorate a public runtime function: the machine's expected conditions become diagnostics."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with as_diagnostics():
            return fn(*args, **kwargs)
    return wrapper
