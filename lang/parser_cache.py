"""The compiled parser, kept on disk: Lark's LALR tables for `grammar.lark`, built once per grammar,
Lark version and Python version, then loaded in a few milliseconds instead of rebuilt (0.2–0.4 s)
on every start of `brief`.

Lark's own `cache=` option unpickles whatever file it finds before it checks the file's key, so a
damaged or planted file could crash brief or run code. This module keeps its own file instead, in
the user's cache folder (`paths.user_cache_dir()`, created private to the user): a header line
with the format, the key (sha256 of the grammar, the options and the versions) and the sha256 of the
payload, then the payload, the parser as `Lark.save` writes it (plain data: dicts, lists,
strings, numbers). It is read only when the file is the user's own and not writable by others,
the key and the hash match, and then with an unpickler that refuses every global, so nothing but
plain data can come out of it: never code. Anything amiss (no file, another version, damage, an
unwritable folder) means: build afresh and try to save the result for the next start. A cache
never makes brief fail.

The `strict=True` collision check (regular expressions that could match the same text,
shift/reduce conflicts) runs in tests/test_parser.py, not on every start.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import stat
import sys
from pathlib import Path

FORMAT = 1  # bump when what is stored, or how, changes
MAX_BYTES = 16 * 1024 * 1024  # the payload is ~50 KB; anything much larger is not ours
MAGIC = b"brief-parser-cache"


class _PlainData(pickle.Unpickler):
    """Unpickles plain data only: every class or function a pickle names is refused (the Python
    documentation's "Restricting Globals", with nothing allowed)."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"{module}.{name} is not plain data")


def cache_key(grammar: str, options: dict, runtime: dict) -> str:
    """What the stored parser depends on: the grammar text, the options it was built with (the
    post-lexer's always-accepted terminals shape the tables too), Lark's version and Python's (the
    pickled data and Lark's loader are both version-specific)."""
    import lark

    accepts = sorted(getattr(runtime.get("postlex"), "always_accept", ()))
    spec = repr((FORMAT, grammar, sorted((k, repr(v)) for k, v in options.items()), sorted(runtime), accepts,
                 lark.__version__, sys.version_info[:2]))
    return hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()


def cache_file(folder: Path, key: str) -> Path:
    return folder / f"parser-{key[:24]}.bin"


def load_or_build(grammar: str, options: dict, runtime: dict, folder: Path | None):
    """`Lark(grammar, **options, **runtime)`: loaded from `folder` when it holds a sound copy, else
    built and saved there (when it can be). `options` must be plain data (they are keyed);
    `runtime` holds what cannot be stored (post-lexer, lexer callbacks) and is given on loading."""
    from lark import Lark

    key = cache_key(grammar, options, runtime)
    path = cache_file(folder, key) if folder is not None else None
    if path is not None:
        data = _read(path, key)
        if data is not None:
            try:
                return Lark._load_from_dict(data["data"], data["memo"], **runtime)
            except Exception:  # noqa: BLE001 — stored by another Lark, or damaged in a way the hash missed
                pass
    parser = Lark(grammar, **options, **runtime)
    if path is not None:
        _write(path, key, parser, tuple(runtime))
    return parser


def header(key: str, payload: bytes) -> bytes:
    return b"%s %d %s %s\n" % (MAGIC, FORMAT, key.encode(), hashlib.sha256(payload).hexdigest().encode())


def _read(path: Path, key: str) -> dict | None:
    """The stored parser's data, or None when there is no sound, trusted copy."""
    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not _trusted(st):
                return None
            blob = fh.read(MAX_BYTES + 1)
    except OSError:
        return None
    head, _, payload = blob.partition(b"\n")
    if len(blob) > MAX_BYTES or head + b"\n" != header(key, payload):
        return None
    try:
        data = _PlainData(io.BytesIO(payload)).load()
    except Exception:  # noqa: BLE001 — any damage the hash did not catch: build afresh
        return None
    return data if isinstance(data, dict) and {"data", "memo"} <= data.keys() else None


def _trusted(st: os.stat_result) -> bool:
    """A regular file of this user's that no one else may write."""
    if not stat.S_ISREG(st.st_mode):
        return False
    others_may_write = st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
    return not (hasattr(os, "getuid") and (st.st_uid != os.getuid() or others_may_write))


def _write(path: Path, key: str, parser, runtime_names: tuple[str, ...]) -> None:
    """Save the parser for the next start: a temp file beside it, renamed over it (two processes
    saving at once each leave a whole file). A folder that cannot be written is no error."""
    import tempfile

    buffer = io.BytesIO()
    try:
        parser.save(buffer, exclude_options=runtime_names)
    except Exception:  # noqa: BLE001 — not storable by this Lark: go on without a cache
        return
    payload = buffer.getvalue()
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=".parser-", dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(header(key, payload) + payload)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        pass
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
