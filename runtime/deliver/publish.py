"""Publishing a variant's output folder all at once: whoever looks at `out/<variant>/` sees the last
export whole or the new one whole, never a mix, whatever happens mid-export (a kill, a full disk).

The new folder is assembled beside the old one (`.<name>.new~<host>~<pid>~<id>`, on the same file
system): files that did not change are hard-linked from the old folder (copied where links are not
possible), new ones written and fsynced, the manifest last. The old folder is read through one
open handle (`Current`), so what is carried over comes from the very folder whose manifest said it
was unchanged, even if another build publishes meanwhile; each file's size and mtime are kept in
the manifest, so a file damaged or replaced by hand is not carried over. Then the two folders are exchanged in
one atomic step (`renameat2(RENAME_EXCHANGE)` on Linux), or, where the file system cannot, by two
renames whose gap the next export (or `recover`) closes. Files of outputs and components that no
longer exist are simply not carried over. Leftovers of a killed export are swept by the next one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import secrets
import shutil
import stat
import sys
import time
from pathlib import Path
from typing import Iterator

from ..store.files import HOST, SWEEP_AGE_S, pid_alive, sync_filesystem

NEW, OLD = "new", "old"


def _sibling(folder: Path, kind: str) -> Path:
    return folder.parent / f".{folder.name}.{kind}~{HOST}~{os.getpid()}~{secrets.token_hex(4)}"


def _siblings(folder: Path) -> Iterator[tuple[Path, str, bool]]:
    """(path, kind, abandoned) of the staging and retired folders beside `folder`."""
    prefix = f".{folder.name}."
    if not folder.parent.is_dir():
        return
    for path in folder.parent.iterdir():
        if not path.name.startswith(prefix):
            continue
        try:
            kind, host, pid, _ = path.name[len(prefix):].split("~")
            old = time.time() - path.lstat().st_mtime > SWEEP_AGE_S
        except (ValueError, FileNotFoundError):
            continue
        if kind in (NEW, OLD):
            yield path, kind, old or (host == HOST and not pid_alive(int(pid)))


def recover(folder: Path) -> None:
    """Close the gap a kill left between two renames, and sweep what killed exports left behind."""
    leftovers = list(_siblings(folder))
    if not folder.exists():  # killed between the two renames: put a whole folder back
        for path, kind, abandoned in sorted(leftovers, key=lambda s: s[1] != NEW):
            if abandoned and (path / "manifest.json").is_file():
                with contextlib.suppress(OSError):
                    os.rename(path, folder)
                    break
    for path, _, abandoned in leftovers:
        if abandoned and path.exists():
            shutil.rmtree(path, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two folders atomically (Linux renameat2); False where the system or file system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV):
        return False  # the two-rename path says what it can
    raise OSError(err, os.strerror(err), str(a))


def fingerprint(st: os.stat_result) -> list[int]:
    """What tells a file written by an export from one changed since: its size and mtime."""
    return [st.st_size, st.st_mtime_ns]


class Current:
    """The folder as it is now, held open: its manifest, and its files as that manifest knew them."""

    def __init__(self, folder: Path):
        self.fd: int | None = None
        with contextlib.suppress(OSError):
            self.fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def read(self, rel: str) -> bytes | None:
        """A regular file's bytes (None when absent or not a regular file: a FIFO never blocks)."""
        if self.fd is None:
            return None
        try:
            fd = os.open(rel, os.O_RDONLY | os.O_NONBLOCK, dir_fd=self.fd)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as fh:
            return fh.read() if stat.S_ISREG(os.fstat(fd).st_mode) else None

    def fingerprint(self, rel: str) -> list[int] | None:
        try:
            st = os.stat(rel, dir_fd=self.fd, follow_symlinks=False) if self.fd is not None else None
        except OSError:
            return None
        return fingerprint(st) if st is not None and stat.S_ISREG(st.st_mode) else None


class Stage:
    """A new version of `folder`, assembled aside; `commit` puts it in place."""

    def __init__(self, folder: Path, current: Current | None = None):
        self.folder = folder
        self.current = current
        folder.parent.mkdir(parents=True, exist_ok=True)
        recover(folder)
        self.path = _sibling(folder, NEW)
        self.path.mkdir()

    def keep(self, rel: str) -> bool:
        """Carry an unchanged file over from the folder as it was read; False if it is not there."""
        dst = self.path / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        src_fd = self.current.fd if self.current is not None else None
        try:
            if src_fd is None:
                return False
            os.link(rel, dst, src_dir_fd=src_fd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        except OSError:  # no hard links here (another file system, FAT): copy
            data = self.current.read(rel)
            if data is None:
                return False
            dst.write_bytes(data)
        return True

    def fingerprints(self, rels) -> dict[str, list[int]]:
        return {rel: fingerprint(os.stat(self.path / rel)) for rel in rels}

    def write(self, rel: str, data: bytes) -> None:
        """A file of the new version (made durable all at once by `commit`)."""
        dst = self.path / rel
        if dst.parent != self.path:
            dst.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(dst)  # never write through a hard link kept from the live folder
        with open(dst, "wb") as fh:
            fh.write(data)

    def commit(self) -> None:
        sync_filesystem(self.path)  # every file of the new version durable before it is swapped in
        for sub in [p for p in self.path.rglob("*") if p.is_dir()] + [self.path]:
            _fsync_dir(sub)
        if not self.folder.exists() and _rename_new(self.path, self.folder):
            pass
        elif _exchange(self.path, self.folder):
            shutil.rmtree(self.path, ignore_errors=True)  # now the old version
        else:
            retired = _sibling(self.folder, OLD)
            os.rename(self.folder, retired)
            os.rename(self.path, self.folder)
            shutil.rmtree(retired, ignore_errors=True)
        _fsync_dir(self.folder.parent)

    def abort(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


@contextlib.contextmanager
def stage(folder: Path, current: Current | None = None) -> Iterator[Stage]:
    """`with stage(folder, current) as s:` write files and keep those of `current` (the folder as it
    was read), and the folder is replaced when the block ends without an error; on an error (or a
    kill) the old folder stays as it was."""
    s = Stage(folder, current)
    try:
        yield s
        s.commit()
    except BaseException:
        s.abort()
        raise


def _rename_new(src: Path, dst: Path) -> bool:
    """Put a first export in place; False when another export got there first (then exchange)."""
    try:
        os.rename(src, dst)
        return True
    except OSError as exc:
        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
            return False
        raise
