"""Memos in the user's cache folder (`lang.paths.user_cache_dir()`, `~/.cache/brief`): small JSON
objects that spare a later run work an earlier one did — the sha256 of model files, whether torch
can use CUDA on this machine, which image files decoded cleanly.

A memo only ever saves work: one that cannot be read (missing, damaged, not an object) is empty,
one that cannot be written (a read-only home, no home) is not written, and the work is done again.
Writes go to a temp file renamed over the memo, so two processes saving at once each leave a
whole one; entries beyond a memo's limit are forgotten oldest first. Facts about a file are keyed
by `stat_identity`, which any write to the file changes and `touch` cannot set back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from brief.lang.paths import user_cache_dir

from ..conditions import MALFORMED


def memo_path(name: str) -> Path | None:
    """Where the memo `name` lives; None when there is no user cache folder."""
    folder = user_cache_dir()
    return folder / name if folder else None


def stat_identity(st: os.stat_result) -> str:
    """What a fact about a file's content is remembered under: its device, inode, size, and
    modification and change times in nanoseconds. Any write moves the change time, which cannot
    be set back, so a file changed in place (even with its mtime restored) is a new identity."""
    return f"{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}"


def read_memo(path: Path | None) -> dict:
    if path is None:
        return {}
    try:
        memo = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, *MALFORMED):
        return {}
    return memo if isinstance(memo, dict) else {}


def save_memo(path: Path | None, fresh: dict, limit: int) -> None:
    """Add `fresh` to the memo, keeping its `limit` newest entries."""
    if path is None or not fresh:
        return
    memo = read_memo(path)
    for key in fresh:
        memo.pop(key, None)  # re-added last: the newest
    memo.update(fresh)
    for key in list(memo)[:max(0, len(memo) - limit)]:
        del memo[key]
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(memo), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a read-only home: the work is done again next time
        try:
            tmp.unlink()
        except OSError:
            pass


def forget_memo(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except OSError:
            pass
