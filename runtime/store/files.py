"""Files written and read safely on any disk, shared or not: atomic writes (a temp file renamed
over the target, so a kill never tears one), reads that refuse a FIFO or device without blocking
on it, one flush of a whole file system instead of an fsync per file, and the names that tell this
machine's processes from another's (temp files and leases carry the host tag and the pid).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import secrets
import socket
import stat
import sys
from pathlib import Path

TEMP_PREFIX = ".tmp-"
SWEEP_AGE_S = 3600  # temp files of live processes older than this are swept too


def host_tag() -> str:
    """This machine in file names, telling its process ids from other machines': its name's letters
    and digits, and a hash of the name, the boot and the pid namespace (two containers with one
    host name and their own pids are two hosts)."""
    name = socket.gethostname() or "localhost"
    parts = [name]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        with contextlib.suppress(OSError):
            parts.append(open(source).read().strip() if source.endswith("boot_id") else str(os.stat(source).st_ino))
    return "".join(ch for ch in name if ch.isalnum())[:24] + "_" + hashlib.sha256("/".join(parts).encode()).hexdigest()[:8]


HOST = host_tag()


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sync_filesystem(path: Path) -> None:
    """Flush everything written to the file system holding `path`, in one call: `syncfs` (Linux),
    else a global sync. One of these instead of an fsync per file."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        if not _syncfs(fd):
            os.sync()
    finally:
        os.close(fd)


def _syncfs(fd: int) -> bool:
    """syncfs(2): flush one file system; False where the system has none. A failure to write (EIO,
    ENOSPC) is raised: what was written may not be on the disk."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        if libc.syncfs(fd) == 0:
            return True
    except (OSError, AttributeError):
        return False
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EBADF):
        return False
    raise OSError(err, os.strerror(err))


class NotRegular(ValueError):
    """A FIFO, device or folder stands where a cache file should be."""


def read_regular(path: Path) -> bytes:
    """A regular file's bytes; a FIFO or device in its place is refused (`NotRegular`) without
    blocking on it."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotRegular(f"{path} is not a regular file")
        return fh.read()


_folders: set[Path] = set()  # folders this process made or found (a mkdir per write is a syscall)


def atomic_write(path: Path, data: bytes, durable: bool = True) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a torn one
    (a temp file renamed over it: a kill cannot tear it). `durable`: fsync before the rename, so a
    power cut cannot either; cache objects skip it (every read verifies them, and a build syncs
    their file system once at its end: `Cache.sync`)."""
    if path.parent not in _folders:
        path.parent.mkdir(parents=True, exist_ok=True)
        _folders.add(path.parent)
    tmp = path.parent / f"{TEMP_PREFIX}{HOST}~{os.getpid()}~{secrets.token_hex(4)}-{path.name}"
    try:
        try:
            fh = open(tmp, "wb")
        except FileNotFoundError:  # the folder went away since (a cache removed by hand): make it again
            _folders.discard(path.parent)
            path.parent.mkdir(parents=True, exist_ok=True)
            fh = open(tmp, "wb")
        with fh:
            fh.write(data)
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
