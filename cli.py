"""The `brief` command line: argument parsing and the wiring of stages, nothing more.

Exit codes: 0 ok, 1 diagnostics (or failed checks, or `fmt --check` found changes), 2 usage.
Diagnostics go to stderr, as text (ruff-style) or, with `--format json`, as one JSON document.
"""

from __future__ import annotations

import argparse
import difflib
import os
import sys
import tempfile
from pathlib import Path

from . import __version__
from .lang.check import check_program, diagnose
from .lang.compile import compile_program
from .lang.diagnostics import Diagnostic, DiagnosticError, render_json, render_text, sort_key
from .lang.emit import json_schema, relative_root, to_dot, to_json
from .lang.fmt import format_module
from .lang.load import Program, load, read_source
from .lang.parser import parse

EXIT_OK, EXIT_DIAGNOSTICS, EXIT_USAGE = 0, 1, 2


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


def _load(path: str, args, reporter: Reporter) -> Program | None:
    try:
        program = load(path, root=args.root, allow_outside=args.allow_outside_root)
    except DiagnosticError as exc:
        reporter.add(exc.diagnostics, _sources_of(exc))
        return None
    return program


def _sources_of(exc: DiagnosticError) -> dict[str, str]:
    sources = {}
    for d in exc.diagnostics:
        if d.span and d.span.file not in sources:
            try:
                sources[d.span.file] = Path(d.span.file).read_text(encoding="utf-8", errors="replace")
            except OSError:
                pass
    return sources


def _require_files(paths: list[str]) -> None:
    for p in paths:
        if p != "-" and not os.path.isfile(p):
            what = "is a folder" if os.path.isdir(p) else "does not exist"
            print(f"brief: error: {p} {what}; name .brief files", file=sys.stderr)
            raise SystemExit(EXIT_USAGE)


def cmd_check(args) -> int:
    _require_files(args.files)
    reporter = Reporter(args.format, args.color)
    checked = 0
    for path in args.files:
        program = _load(path, args, reporter)
        if program is None:
            continue
        reporter.add(diagnose(program), program.sources)
        checked += 1
    failed = reporter.flush()
    if not failed and args.format == "text":
        n = len(args.files)
        print(f"All checks passed ({n} file{'s' * (n != 1)}).")
    return EXIT_DIAGNOSTICS if failed else EXIT_OK


def cmd_fmt(args) -> int:
    _require_files(args.files)
    reporter = Reporter(args.format, args.color)
    changed = 0
    for path in args.files:
        try:
            source = sys.stdin.read() if path == "-" else read_source(path)
            shown = "<stdin>" if path == "-" else path
            formatted = format_module(parse(source, shown), source)
        except DiagnosticError as exc:
            reporter.add(exc.diagnostics, {path: source} if path != "-" else {"<stdin>": source})
            continue
        if args.stdout or path == "-":
            sys.stdout.write(formatted)
        elif formatted != source:
            changed += 1
            if args.check:
                sys.stdout.writelines(difflib.unified_diff(
                    source.splitlines(True), formatted.splitlines(True), f"{path} (original)", f"{path} (formatted)"))
            else:
                _atomic_write(path, formatted)
                print(f"reformatted {path}", file=sys.stderr)
    failed = reporter.flush()
    if args.check and changed:
        print(f"{changed} file{'s' * (changed != 1)} would be reformatted.", file=sys.stderr)
        return EXIT_DIAGNOSTICS
    return EXIT_DIAGNOSTICS if failed else EXIT_OK


def _atomic_write(path: str, text: str) -> None:
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


def cmd_compile(args) -> int:
    if args.schema:
        sys.stdout.write(json_schema())
        return EXIT_OK
    if not args.file:
        print("brief compile: error: name a FILE (or pass --schema)", file=sys.stderr)
        return EXIT_USAGE
    _require_files([args.file])
    reporter = Reporter(args.format, args.color)
    program = _load(args.file, args, reporter)
    if program is not None:
        try:
            reporter.add(check_program(program), program.sources)
        except DiagnosticError as exc:
            reporter.add(exc.diagnostics, program.sources)
    if reporter.flush():
        return EXIT_DIAGNOSTICS
    graph = compile_program(program, backend=args.backend)
    text = to_json(graph, relative_root(program.root, program.entry)) if args.emit == "json" else to_dot(graph)
    if args.output and args.output != "-":
        _atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--format", choices=("text", "json"), default="text",
                        help="how diagnostics are printed on stderr (default: text)")
    common.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour diagnostics (default: auto, off when NO_COLOR is set)")
    project = argparse.ArgumentParser(add_help=False)
    project.add_argument("--root", type=Path, default=None,
                         help="project folder that file paths may not leave "
                              "(default: nearest folder up with brief.toml or .git)")
    project.add_argument("--allow-outside-root", action="store_true",
                         help="allow assets and `use` files outside the project folder")

    parser = argparse.ArgumentParser(
        prog="brief", description="Compile and render .brief image specifications.",
        epilog="Exit codes: 0 ok, 1 diagnostics or failed checks, 2 usage. "
               "Run `brief COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"brief {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", parents=[common, project], help="parse and check briefs, print diagnostics",
                       description="Parse and check briefs (and the files they use); print every problem found.")
    p.add_argument("files", nargs="+", metavar="FILE", help=".brief files")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", parents=[common], help="rewrite briefs in canonical layout",
                       description="Rewrite briefs in the canonical layout, keeping comments. "
                                   "With --check, change nothing: show a diff and exit 1 if any file would change.")
    p.add_argument("files", nargs="+", metavar="FILE", help=".brief files, or - for standard input")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")
    mode.add_argument("--stdout", action="store_true", help="print the formatted text instead of rewriting")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("compile", parents=[common, project], help="compile a brief to its operation graph",
                       description="Compile a brief to its operation graph: JSON (the contract for farms and "
                                   "`brief diff`) or Graphviz DOT. Output is deterministic.")
    p.add_argument("file", nargs="?", metavar="FILE", help="the .brief file")
    p.add_argument("--emit", choices=("json", "dot"), default="json", help="output format (default: json)")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.add_argument("--backend", choices=("draft", "diffusers"), help="override the briefs' backend")
    p.add_argument("--schema", action="store_true", help="print the JSON Schema of the --emit json document")
    p.set_defaults(func=cmd_compile)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
