"""Loading: an entry `.brief` file and every file it `use`s, into a `Program`.

Owns reading files (size limit before reading, UTF-8), following `use` relative to the importing
file, keeping those paths inside the project root, and detecting `use` cycles. Loading is a
breadth-first walk with an explicit queue and a depth limit, so a chain of thousands of files is a
diagnostic, never a RecursionError. Its work is linear in the `use` lines: a path written many
times is resolved once, and each file is listed once among the files another uses. All problems
are collected and raised once.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from . import ast
from .cycles import cycles
from .diagnostics import Diagnostic, DiagnosticError, Related, error
from .parser import MAX_SOURCE_BYTES, parse
from .paths import find_root, resolve

MAX_USE_DEPTH = 32
MAX_FILES = 512


@dataclass
class Program:
    """An entry module and the modules it uses, with their texts for rendering diagnostics."""

    entry: str  # key of the entry module
    root: Path  # project root: paths may not leave it
    allow_outside: bool = False
    modules: dict[str, ast.Module] = field(default_factory=dict)  # key: real path
    sources: dict[str, str] = field(default_factory=dict)  # display path → text
    uses: dict[str, list[str]] = field(default_factory=dict)  # key → keys it uses directly, each once
    use_spans: dict[tuple[str, str], ast.Span] = field(default_factory=dict)  # (key, used key) → its first `use`
    diagnostics: list[Diagnostic] = field(default_factory=list)  # problems with used files

    @property
    def module(self) -> ast.Module:
        return self.modules[self.entry]

    def dir_of(self, module: ast.Module) -> Path:
        return Path(os.path.realpath(module.path)).parent


def read_source(path: str) -> str:
    """Read a brief's text, refusing huge or non-UTF-8 files with a diagnostic."""
    span = ast.Span(path, 1, 1, 1, 2, 0, 1)
    try:
        size = os.stat(path).st_size
        if size > MAX_SOURCE_BYTES:
            raise DiagnosticError([error(
                "E001", f"file is too large ({size / 2**20:.1f} MiB; the limit is {MAX_SOURCE_BYTES // 2**20} MiB)",
                "Split it into several briefs that `use` a shared brand file.", span)])
        with open(path, "rb") as fh:
            data = fh.read(MAX_SOURCE_BYTES + 1)
    except FileNotFoundError:
        raise DiagnosticError([error("E003", f"no such file: {path}", "Check the path.", None)]) from None
    except IsADirectoryError:
        raise DiagnosticError([error("E003", f"{path} is a folder", "Name a .brief file.", None)]) from None
    except OSError as exc:
        raise DiagnosticError([error("E003", f"cannot read {path}: {exc.strerror}", "Check the file's permissions.", None)]) from None
    return decode_source(data, path)


def decode_source(data: bytes, path: str) -> str:
    """A brief's bytes (a file's, standard input's, a git revision's) as text: UTF-8, a byte-order
    mark dropped; anything else, or more than the size limit, is a diagnostic."""
    if len(data) > MAX_SOURCE_BYTES:
        raise DiagnosticError([error(
            "E001", f"text is too large (over {MAX_SOURCE_BYTES // 2**20} MiB)",
            "Split it into several briefs that `use` a shared brand file.", ast.Span(path, 1, 1, 1, 2, 0, 1))])
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad = ast.Span(path, line, 1, line, 2, exc.start, exc.start + 1)
        raise DiagnosticError([error("E004", "file is not valid UTF-8 text",
                                     "Save the brief as UTF-8; is this the right file?", bad)]) from None


def load(path: str | os.PathLike, *, root: Path | None = None, allow_outside: bool = False,
         text: str | None = None, overlays: Mapping[str, str] | None = None) -> Program:
    """Load `path` (or `text` under that name) and the files it uses. `overlays` maps a file's real
    path to the text to read instead of its bytes (an editor's unsaved buffers).

    Raises `DiagnosticError` when the entry file itself cannot be read or parsed; problems with the
    files it uses are kept in `program.diagnostics` so the checker can still report the rest.
    """
    entry_path = os.fspath(path)
    entry_key = os.path.realpath(entry_path)
    root = Path(root) if root else find_root(Path(entry_key).parent)
    program = Program(entry=entry_key, root=root, allow_outside=allow_outside)
    diagnostics: list[Diagnostic] = []
    queue = deque([(entry_key, entry_path, 0, text)])
    parents: dict[str, str | None] = {entry_key: None}
    use_spans = program.use_spans
    while queue:
        key, shown, depth, given = queue.popleft()
        try:
            if given is None and overlays and key in overlays:
                given = overlays[key]
            source = given if given is not None else read_source(shown)
            program.sources[shown] = source
            module = parse(source, shown)
        except DiagnosticError as exc:
            diagnostics.extend(exc.diagnostics)
            continue
        program.modules[key] = module
        program.uses[key] = []
        resolved = {}  # written path → where it leads, for this file
        for use in module.uses:
            if use.path.value not in resolved:
                resolved[use.path.value] = resolve(Path(key).parent, use.path.value, root, allow_outside)
            found = resolved[use.path.value]
            if found.path is None:
                diagnostics.append(error("E010", f"cannot use this file: {found.problem}", found.fix, use.path.span))
                continue
            target = str(found.path)
            if (key, target) in use_spans:
                continue  # the same file again: nothing more to load or to see
            program.uses[key].append(target)
            use_spans[(key, target)] = use.span
            if target in parents:
                continue  # already loaded or queued through another path
            if depth + 1 > MAX_USE_DEPTH or len(parents) >= MAX_FILES:
                diagnostics.append(error("E012", "`use` chain is too deep or too wide "
                                         f"(limits: {MAX_USE_DEPTH} levels, {MAX_FILES} files)",
                                         "Flatten the chain: use the brand files directly.", use.span))
                continue
            parents[target] = key
            queue.append((target, os.path.normpath(os.path.join(os.path.dirname(shown), use.path.value))
                          if not os.path.isabs(use.path.value) else use.path.value, depth + 1, None))
    diagnostics.extend(_use_cycles(use_spans, root))
    if entry_key not in program.modules:
        raise DiagnosticError(diagnostics)
    program.diagnostics = diagnostics
    return program


def _use_cycles(use_spans: dict[tuple[str, str], ast.Span], root: Path) -> list[Diagnostic]:
    """One diagnostic per `use` cycle, at the `use` line that closes it."""
    found = []
    for cycle in cycles(use_spans, limit=8):
        names = " → ".join(os.path.relpath(p, root) for p in cycle + [cycle[0]])
        others = tuple(Related(use_spans[(a, b)], f"the cycle goes on: this file uses {os.path.relpath(b, root)}")
                       for a, b in zip(cycle, cycle[1:]))  # every other `use` of the cycle (in the other files)
        found.append(error("E011", f"`use` cycle: {names}",
                           "Remove one of these `use` lines; keep shared brands in a file that uses nothing.",
                           use_spans[(cycle[-1], cycle[0])], related=others))
    return found
