"""The `brief` command line: argument parsing and the wiring of stages, nothing more.

Exit codes: 0 ok, 1 diagnostics (or failed checks, or `fmt --check` found changes, or a condition of
the machine such as a full disk), 2 usage, 3 internal error (a bug of brief's: never the user's).
Diagnostics go to stderr, as text (ruff-style) or, with `--format json`, as one JSON document.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import __version__
from .cli_diff import cmd_diff
from .cli_runtime import (cmd_build, cmd_cache, cmd_lock, cmd_verify, cmd_verify_layers, cmd_check_render, cmd_plan, cmd_render, cmd_watch,
                          compile_openjd)
from .cli_support import (EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Reporter, atomic_write, internal_error,
                          load_program, read_stdin, require_files, sources_of)

# Each command imports what it uses when it runs (`brief --help` needs none of it, `check` and
# `fmt` no graph library); tests/test_startup.py holds them to it.


def cmd_check(args) -> int:
    if args.render:
        return cmd_check_render(args)
    from .lang.check import diagnose
    from .runtime.render.images import diagnose as decode_problems

    args.files = briefs_in(args.files)  # a folder: every .brief under it (the pre-commit hook's `brief check .`)
    require_files(args.files)
    reporter = Reporter(args.format, args.color)
    checked = 0
    for path in args.files:
        program = load_program(path, args, reporter)
        if program is None:
            continue
        reporter.add(diagnose(program), program.sources)
        reporter.add(decode_problems(program), program.sources)  # asset bodies: truncated, bombs
        checked += 1
    failed = reporter.flush()
    if not failed and args.format == "text":
        n = len(args.files)
        print(f"All checks passed ({n} file{'s' * (n != 1)}).")
    return EXIT_DIAGNOSTICS if failed else EXIT_OK


SKIPPED_FOLDERS = {"out", ".brief", ".git", "node_modules", ".venv"}  # builds, caches, tools: no briefs of yours


def briefs_in(paths: list[str]) -> list[str]:
    """The paths given, a folder replaced by the .brief files under it (outputs and caches left out)."""
    found = []
    for p in paths:
        if not os.path.isdir(p):
            found.append(p)
            continue
        for folder, subfolders, files in os.walk(p):
            subfolders[:] = sorted(d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith("@"))
            found += sorted(os.path.join(folder, f) for f in files if f.endswith(".brief"))
    return found


def cmd_fmt(args) -> int:
    import difflib

    from .lang.diagnostics import DiagnosticError
    from .lang.fmt import format_module
    from .lang.load import read_source
    from .lang.parser import parse

    require_files(args.files)
    reporter = Reporter(args.format, args.color)
    changed = 0
    for path in args.files:
        shown = "<stdin>" if path == "-" else path
        if args.textconv:
            _textconv(path)
            continue
        source = ""
        try:
            source = read_stdin() if path == "-" else read_source(path)
            formatted = format_module(parse(source, shown), source)
        except DiagnosticError as exc:
            reporter.add(exc.diagnostics, {shown: source})
            continue
        if formatted == source:
            if args.stdout or (path == "-" and not args.check):
                sys.stdout.write(formatted)
            continue
        if args.check:
            changed += 1
            sys.stdout.writelines(difflib.unified_diff(
                source.splitlines(True), formatted.splitlines(True), f"{shown} (original)", f"{shown} (formatted)"))
        elif args.stdout or path == "-":
            sys.stdout.write(formatted)
        else:
            changed += 1
            atomic_write(os.path.realpath(path), formatted)  # through a symlink: rewrite its target
            print(f"reformatted {path}", file=sys.stderr)
    failed = reporter.flush()
    if args.check and changed:
        print(f"{changed} file{'s' * (changed != 1)} would be reformatted.", file=sys.stderr)
        return EXIT_DIAGNOSTICS
    return EXIT_DIAGNOSTICS if failed else EXIT_OK


def _textconv(path: str) -> None:
    """For git's diff.brief.textconv: the canonical text of a brief; a file that does not read or
    parse as one (binary, another encoding, too large, broken) is shown exactly as it is."""
    from .lang.diagnostics import DiagnosticError
    from .lang.fmt import format_module
    from .lang.load import decode_source
    from .lang.parser import parse

    if path == "-":
        data = sys.stdin.buffer.read() if hasattr(sys.stdin, "buffer") else sys.stdin.read().encode()
    else:
        with open(path, "rb") as fh:
            data = fh.read()
    try:
        source = decode_source(data, path)
        text = format_module(parse(source, path), source)
    except DiagnosticError:
        sys.stdout.flush()
        sys.stdout.buffer.write(data) if hasattr(sys.stdout, "buffer") else sys.stdout.write(data.decode("utf-8", "replace"))
        return
    sys.stdout.write(text)


def cmd_compile(args) -> int:
    from .lang.emit import json_schema

    if args.schema:
        sys.stdout.write(json_schema())
        return EXIT_OK
    if not args.files:
        print("brief compile: error: name a FILE (or pass --schema)", file=sys.stderr)
        return EXIT_USAGE
    require_files(args.files)
    if args.emit == "openjd":
        return compile_openjd(args)
    if len(args.files) > 1:
        print("brief compile: error: --emit json and dot take one FILE (openjd takes several)", file=sys.stderr)
        return EXIT_USAGE
    from .lang.check import check_program
    from .lang.compile import compile_program
    from .runtime.render.text_engine import text_engine
    from .lang.diagnostics import DiagnosticError
    from .lang.emit import relative_root, to_dot, to_json

    args.file = args.files[0]
    reporter = Reporter(args.format, args.color)
    program = load_program(args.file, args, reporter)
    if program is not None:
        try:
            reporter.add(check_program(program), program.sources)
        except DiagnosticError as exc:
            reporter.add(exc.diagnostics, program.sources)
    if reporter.flush():
        return EXIT_DIAGNOSTICS
    graph = compile_program(program, backend=args.backend, text_engine=text_engine)
    text = to_json(graph, relative_root(program.root, program.entry)) if args.emit == "json" else to_dot(graph)
    if args.output and args.output != "-":
        try:
            atomic_write(args.output, text)
        except OSError as exc:
            print(f"brief compile: error: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return EXIT_USAGE
    else:
        sys.stdout.write(text)
    return EXIT_OK


def _path(text: str) -> Path:
    """A path argument; an empty one (`--out ''`) is a usage error, not the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path")
    return Path(text)


def _size(text: str) -> int:
    from .runtime.store.cache import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port (0 to 65535; 0 picks a free one)")
    return port


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
        epilog="Exit codes: 0 ok, 1 diagnostics or failed checks, 2 usage, 3 internal error (a bug in brief). "
               "Run `brief COMMAND --help` for a command's options.")
    parser.add_argument("--version", action="version", version=f"brief {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("check", parents=[common, project], help="parse and check briefs, print diagnostics",
                       description="Parse and check briefs (and the files they use); print every problem found.")
    p.add_argument("files", nargs="+", metavar="FILE", help=".brief files, or - for standard input")
    p.add_argument("--render", action="store_true",
                   help="evaluate the brand checks on the last render (nothing is rendered)")
    p.add_argument("--cache", type=_path, help="with --render: the cache folder")
    p.add_argument("--variant", action="append", metavar="NAME", help="with --render: only this variant")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("fmt", parents=[common], help="rewrite briefs in canonical layout",
                       description="Rewrite briefs in the canonical layout, keeping comments. "
                                   "With --check, change nothing: show a diff and exit 1 if any file would change.")
    p.add_argument("files", nargs="+", metavar="FILE", help=".brief files, or - for standard input")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")
    mode.add_argument("--stdout", action="store_true", help="print the formatted text instead of rewriting")
    mode.add_argument("--textconv", action="store_true",
                      help="for git's diff.brief.textconv: like --stdout, and a file that does not parse "
                           "is printed unchanged (exit 0)")
    p.set_defaults(func=cmd_fmt)

    p = sub.add_parser("compile", parents=[common, project], help="compile a brief to its operation graph",
                       description="Compile a brief to its operation graph: JSON (the contract for farms and "
                                   "`brief diff`) or Graphviz DOT. Output is deterministic.")
    p.add_argument("files", nargs="*", metavar="FILE", help="the .brief file (several with --emit openjd)")
    p.add_argument("--emit", choices=("json", "dot", "openjd"), default="json",
                   help="output format (default: json); openjd: an Open Job Description job template")
    p.add_argument("--cache", type=_path, help="openjd: the shared cache folder (default: .brief/cache beside the first brief)")
    p.add_argument("--out", type=_path, help="openjd: the output folder (default: out/ beside the first brief)")
    p.add_argument("--remote-cache", metavar="URL", default="",
                   help="openjd: the RemoteCache job parameter's default, s3://BUCKET[/PREFIX], the cache tier the "
                        "workers share (default: none; the workers' BRIEF_REMOTE_CACHE or brief.toml apply)")
    p.add_argument("--brief-command", metavar="CMD", default="brief",
                   help="openjd: the BriefCommand job parameter's default (default: brief, on the workers' PATH)")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.add_argument("--backend", choices=("draft", "diffusers"), help="override the briefs' backend")
    p.add_argument("--schema", action="store_true", help="print the JSON Schema of the --emit json document")
    p.set_defaults(func=cmd_compile)

    runtime = argparse.ArgumentParser(add_help=False)
    runtime.add_argument("--backend", choices=("draft", "diffusers"), help="override the briefs' backend")
    runtime.add_argument("--cache", type=_path, help="cache folder (default: .brief/cache beside the brief, "
                                                    "or $BRIEF_CACHE)")
    runtime.add_argument("--variant", action="append", metavar="NAME",
                         help="only this variant: its full name or axis=value (repeatable)")
    runtime.add_argument("--device", help="diffusers: cpu, cuda or cuda:N (default: cuda when available)")
    runtime.add_argument("--update-lock", action="store_true",
                         help="accept a changed model or library versions into brief.lock")
    runtime.add_argument("--remote-cache", metavar="URL",
                         help="a shared cache tier in an S3-compatible bucket, s3://BUCKET[/PREFIX] (else "
                              "$BRIEF_REMOTE_CACHE or brief.toml [cache] remote); endpoint from AWS_ENDPOINT_URL")
    runtime.add_argument("--remote-read-only", action="store_true", default=None,
                         help="fetch from the remote cache, never upload (CI, reviewers)")
    runtime.add_argument("--max-calls", type=int, metavar="N",
                         help="hosted backends: stop before making more than N API calls in this command "
                              "(a build, or a render's whole batch)")
    runtime.add_argument("--allow-floating", action="store_true",
                         help="hosted backends: accept a floating model alias (…-latest), whose model changes")
    runtime.add_argument("--verify", action="store_true",
                         help="hash every model file again instead of trusting the hash memo "
                              "(~/.cache/brief), and repair the memo")
    runtime.add_argument("--sign", choices=("test", "off"),
                         help="test: content credentials signed with a throwaway test chain (not for delivery); "
                              "off: sign nothing, whatever brief.toml says")
    runtime.add_argument("--sign-cert", type=_path, metavar="PEM",
                         help="sign delivered images (C2PA) with this certificate chain (else brief.toml [c2pa])")
    runtime.add_argument("--sign-key", type=_path, metavar="PEM", help="the signing certificate's private key")
    runtime.add_argument("--cache-budget", type=_size, metavar="SIZE",
                         help="keep the cache within SIZE after a build (default: $BRIEF_CACHE_BUDGET or 10G); "
                              "what no recent build uses goes first")

    p = sub.add_parser("plan", parents=[common, project, runtime], help="show what a build would render, and why",
                       description="Show, for each node a build would run, why (new, changed, upstream "
                                   "changed, evicted) and the share of the canvas it touches.")
    p.add_argument("file", metavar="FILE", help="the .brief file")
    p.add_argument("--json", action="store_true", help="print the plan as JSON")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("build", parents=[common, project, runtime], help="render a brief incrementally",
                       description="Render every variant of a brief, re-rendering only what changed since "
                                   "the last build, and write out/<brief>[<variant>]/.")
    p.add_argument("file", metavar="FILE", help="the .brief file")
    p.add_argument("--out", type=_path, help="output folder (default: out/ beside the brief)")
    p.add_argument("--no-checks", action="store_true", help="do not let brand checks fail the build")
    p.add_argument("--psd", action="store_true", help="also write a layered PSD")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser("render", parents=[common, project, runtime], help="render every variant of several briefs",
                       description="Render every variant of every brief given: the nodes several variants share "
                                   "once, then the variants, here (local) or on a Ray cluster.")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--address", help="ray: a running cluster's address ('auto' joins one); default: start a local one")
    p.add_argument("--workers", type=int, help="ray: worker processes (default: one per CPU)")
    p.add_argument("--split", action="store_true",
                   help="ray: also run each variant's generated layers, model edits and out-paints as tasks of "
                        "their own, so that one very heavy variant spreads over every free worker")
    p.add_argument("--out", type=_path, help="output folder (default: out/ beside each brief)")
    p.add_argument("--no-checks", action="store_true", help="build without the brand checks")
    p.add_argument("--shared-only", action="store_true",
                   help="only render the nodes several variants share, into the cache (a farm's first step)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_render)

    p = sub.add_parser("watch", parents=[common, project, runtime], help="rebuild on every save",
                       description="Watch a brief (or every brief under a folder) and the files it uses; "
                                   "rebuild what changed on each save. --serve shows a live preview.")
    p.add_argument("target", metavar="FILE|DIR")
    p.add_argument("--out", type=_path, help="output folder (default: out/ beside each brief)")
    p.add_argument("--no-checks", action="store_true", help="build without the brand checks")
    p.add_argument("--serve", type=_port, nargs="?", const=8377, metavar="PORT",
                   help="serve a live preview on 127.0.0.1 (default port 8377; 0 picks a free one)")
    p.set_defaults(func=cmd_watch)

    p = sub.add_parser("diff", parents=[common, project], help="what changed in meaning between two briefs",
                       description="Compare two versions of a brief (files, or REV:path read through git): "
                                   "blocks and settings added, removed or changed, and the graph nodes that "
                                   "would re-render with their share of the canvas. Exit 0 when equal, 1 when "
                                   "different, 2 when a side cannot be read or checked.")
    p.add_argument("old", metavar="OLD", help="a .brief file or REV:path")
    p.add_argument("new", metavar="NEW", help="a .brief file or REV:path")
    p.add_argument("--json", action="store_true", help="print the difference as JSON")
    p.add_argument("--images", type=_path, metavar="DIR",
                   help="build both versions and write before/after/difference thumbnails of every output "
                        "that changed to DIR (for a pull-request comment)")
    p.set_defaults(func=cmd_diff)

    from .cli_review import add_commands as add_review_commands

    add_review_commands(sub, common, project, _path)

    p = sub.add_parser("verify-layers", help="check that exported layers flatten to the delivered images",
                       description="For each variant folder (one holding manifest.json; a folder of them is "
                                   "searched one level down), flatten every image's layers in manifest order and "
                                   "compare with the delivered image, byte for byte (for JPEG and WebP, the PNG "
                                   "master beside the layers). Exit 0 when every image matches, 1 otherwise.")
    p.add_argument("folders", nargs="+", type=_path, metavar="OUT_DIR", help="a variant folder or a folder of them")
    p.set_defaults(func=cmd_verify_layers)

    p = sub.add_parser("verify", help="read the content credentials of delivered images",
                       description="For each image: who signed its C2PA manifest, what made it (generator, "
                                   "digital source type, model, variant and output), what it placed, and whether "
                                   "it was altered since. Exit 0 when every file's credentials hold, 1 otherwise.")
    p.add_argument("files", nargs="+", type=_path, metavar="FILE", help="a delivered PNG, JPEG or WebP")
    p.add_argument("--trust", type=_path, metavar="PEM",
                   help="the root certificate the signer must chain to; `test`: the throwaway test chain's "
                        "(default: the root its export signed against, as its folder's manifest.json says)")
    p.add_argument("--json", action="store_true", help="print what was found as JSON")
    p.set_defaults(func=cmd_verify)

    p = sub.add_parser("lsp", help="run the language server (for editors), over stdio",
                       description="The brief language server: diagnostics as you type, completion, hover, go to "
                                   "definition, references, rename, outline, formatting, code actions and semantic "
                                   "highlighting. It speaks LSP on standard input and output; point your editor's "
                                   "LSP client at `brief lsp` (see the README's Editor section).")
    p.set_defaults(func=cmd_lsp)

    p = sub.add_parser("lock", parents=[common, project], help="check brief.lock: drift and retiring models",
                       description="check: each model the briefs render with against brief.lock, without "
                                   "rendering or calling anything (no API key needed): a model that drifted or is "
                                   "not pinned yet is an error (exit 1); a hosted model that retires within 30 "
                                   "days, or has retired (`retires \"YYYY-MM-DD\"` on the backend line), a warning.")
    p.add_argument("action", choices=("check",))
    p.add_argument("files", nargs="+", metavar="FILE", help=".brief files")
    p.set_defaults(func=cmd_lock)

    p = sub.add_parser("cache", help="inspect or trim the cache",
                       description="stats: size of the cache. gc --max-size SIZE: evict least-recently-used "
                                   "objects (never those a running build holds) until it fits.")
    p.add_argument("action", choices=("stats", "gc"))
    p.add_argument("--cache", type=_path, help="cache folder (default: $BRIEF_CACHE or ./.brief/cache)")
    p.add_argument("--max-size", default="2G", help="gc: the size to trim to, e.g. 500M, 2G (default: 2G)")
    p.set_defaults(func=cmd_cache)
    return parser


def cmd_lsp(args) -> int:
    from .lsp.server import main as serve

    return serve()


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .lang.diagnostics import DiagnosticError  # after --help and usage errors, which need none of brief

    root = getattr(args, "root", None)
    if root is not None and not root.is_dir():
        parser.error(f"--root {root}: not a folder")
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except DiagnosticError as exc:  # a command that did not render its own
        reporter = Reporter(args.format if hasattr(args, "format") else "text", getattr(args, "color", "auto"))
        reporter.add(exc.diagnostics, sources_of(exc))
        reporter.flush()
        return EXIT_DIAGNOSTICS
    except OSError as exc:  # the machine's expected conditions outside a build (fmt on a read-only file)
        from .runtime.conditions import os_diagnostic

        found = os_diagnostic(exc)
        if found is None:
            return internal_error(exc)
        print(f"brief: error: {found.summary}. {found.detail}", file=sys.stderr)
        return EXIT_DIAGNOSTICS
    except Exception as exc:  # not expected: a bug of brief's, never disguised as the user's mistake
        return internal_error(exc)


if __name__ == "__main__":
    raise SystemExit(main())
