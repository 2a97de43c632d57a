"""Shared pieces of the command line: exit codes, the diagnostics reporter, file helpers."""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: `brief --help` loads no part of the language
    from .lang.diagnostics import Diagnostic, DiagnosticError
    from .lang.load import Program

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class Reporter:
    """Where diagnostics go: stderr as text or JSON, collected across files."""

    def __init__(self, fmt: str, color: str):
        self.fmt = fmt
        self.color = color == "always" or (color == "auto" and sys.stderr.isatty() and "NO_COLOR" not in os.environ)
        self.found: list[Diagnostic] = []
        self.sources: dict[str, str] = {}

    def add(self, diagnostics, sources) -> None:
        self.found.extend(diagnostics)
        self.sources.update(sources)

    def flush(self) -> bool:
        """Print everything; True if any error."""
        from .lang.diagnostics import render_json, render_text, sort_key

        found = sorted(self.found, key=sort_key)
        if self.fmt == "json":
            sys.stderr.write(render_json(found))
        elif found:
            sys.stderr.write(render_text(found, self.sources, self.color))
            errors = sum(d.is_error for d in found)
            warnings = len(found) - errors
            sys.stderr.write(f"\nFound {errors} error{'s' * (errors != 1)}"
                             f" and {warnings} warning{'s' * (warnings != 1)}.\n")
        return any(d.is_error for d in found)


def read_stdin() -> str:
    """An editor's buffer piped in, read as a file is: UTF-8 (else E004), a byte-order mark dropped."""
    from .lang.load import decode_source
    from .lang.parser import MAX_SOURCE_BYTES

    stream = getattr(sys.stdin, "buffer", None)
    data = stream.read(MAX_SOURCE_BYTES + 1) if stream is not None else \
        sys.stdin.read().encode("utf-8", "surrogateescape")
    return decode_source(data, "<stdin>")


def load_program(path: str, args, reporter: Reporter) -> Program | None:
    from .lang.diagnostics import DiagnosticError
    from .lang.load import load

    text = None
    try:
        if path == "-":  # an editor piping the buffer: paths resolve from the working directory
            path, text = os.path.join(os.getcwd(), "<stdin>"), read_stdin()
        program = load(path, root=args.root, allow_outside=args.allow_outside_root, text=text)
    except DiagnosticError as exc:
        reporter.add(exc.diagnostics, sources_of(exc))
        return None
    return program


def sources_of(exc: DiagnosticError) -> dict[str, str]:
    sources = {}
    for d in exc.diagnostics:
        if d.span and d.span.file not in sources:
            try:
                sources[d.span.file] = Path(d.span.file).read_text(encoding="utf-8", errors="replace")
            except OSError:
                pass
    return sources


def require_files(paths: list[str]) -> None:
    for p in paths:
        if p != "-" and not os.path.isfile(p):
            what = "is a folder" if os.path.isdir(p) else "does not exist"
            print(f"brief: error: {p} {what}; name .brief files", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)


def atomic_write(path: str, text: str) -> None:
    """Replace the file `path` whole (a temp file beside it, renamed over it). What is not a regular
    file — `/dev/stdout`, a FIFO, a device, a symlink to one — is written to, never replaced."""
    real = os.path.realpath(path)
    if os.path.exists(real) and not stat.S_ISREG(os.stat(real).st_mode):
        if os.path.isdir(real):
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
        with open(real, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        return
    import tempfile

    path = real
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".brief-fmt-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        if os.path.exists(path):
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        else:  # mkstemp makes 0600; a new file gets the usual mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def internal_error(exc: BaseException) -> int:
    """A failure brief did not expect is a bug of brief's, not the user's: say so in a few lines, keep
    the traceback in a file (or print it with BRIEF_DEBUG=1), and exit 3."""
    import platform
    import tempfile
    import time
    import traceback

    from . import __version__

    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    header = f"brief {__version__}, Python {platform.python_version()}, {platform.platform()}\n{' '.join(sys.argv)}\n\n"
    if os.environ.get("BRIEF_DEBUG"):
        sys.stderr.write(details)
        saved = "printed above"
    else:
        try:
            fd, path = tempfile.mkstemp(prefix=f"brief-crash-{time.strftime('%Y%m%d-%H%M%S')}-", suffix=".txt")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(header + details)
            saved = f"saved in {path}"
        except OSError:
            sys.stderr.write(details)
            saved = "printed above"
    first = str(exc).splitlines()[0] if str(exc) else ""
    print(f"brief: internal error: {type(exc).__name__}{': ' + first if first else ''}\n"
          f"  This is a bug in brief, not a problem with your brief or files. Please report it on brief's issue\n"
          f"  tracker (README: Reporting problems) with the command you ran and the details {saved}.",
          file=sys.stderr)
    return EXIT_INTERNAL
