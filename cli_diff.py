"""`brief diff`: two versions of a brief (files, or REV:path through git) compared in meaning —
changed settings with their old and new values, files whose bytes changed — and what a build of the
new one would re-render. The logic is lang/diff.py's; this module reads the two sides (a side at a
git revision with the files it reads as they were then).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .cli_support import EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Reporter, require_files


def _diff_usage(message: str):
    print(f"brief diff: error: {message}", file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def _git(*args: str, failure: str) -> bytes:
    """stdout of `git ARGS`; on failure one line on stderr (`failure`, then what git said), exit 2."""
    import subprocess

    try:
        return subprocess.run(["git", *args], capture_output=True, check=True).stdout
    except FileNotFoundError:
        _diff_usage("git is not installed")
    except subprocess.CalledProcessError as exc:
        said = " ".join(exc.stderr.decode("utf-8", "replace").split())
        _diff_usage(failure + (f" (git: {said})" if said else ""))


def _read_side(spec: str, other: str | None) -> tuple[str, str, str | None]:
    """(path to load it as, text) of one side of `brief diff`: a file, or REV:path through git.

    User text never reaches git as an option: REV is resolved to a commit id first (refused when
    it starts with `-`; `--end-of-options` besides), and only that id is given to `git show`;
    an empty REV (`:path`) reads the index."""
    from .lang.load import decode_source, read_source

    if os.path.isfile(spec) or ":" not in spec:
        require_files([spec])
        return spec, read_source(spec), None
    rev, path = spec.split(":", 1)
    not_rev = f"`{rev}` is not a revision (a commit, branch or tag) of this git repository"
    if rev.startswith("-"):
        _diff_usage(not_rev)
    commit = _git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}",
                  failure=not_rev).decode().strip() if rev else ""
    rel = path if path.startswith("./") else f"./{path}"
    missing = f"cannot read `{path}` at `{rev or 'the index'}`"
    kind = _git("cat-file", "-t", f"{commit}:{rel}", failure=missing).decode().strip()
    if kind != "blob":
        _diff_usage(f"`{path}` at `{rev or 'the index'}` is a {'folder' if kind == 'tree' else kind}, not a brief")
    data = _git("cat-file", "blob", f"{commit}:{rel}", failure=missing)
    text = decode_source(data, spec)  # a binary file or another encoding is E004, as from a file
    # where the file lives now: its `use`s and assets are then read as they were at REV (`_at_revision`)
    return (path if os.path.exists(path) else (other or path)), text, commit or None


def cmd_diff(args) -> int:
    import json

    from .lang.check import check_program
    from .lang.compile import compile_program
    from .lang.diagnostics import DiagnosticError
    from .lang.diff import diff
    from .lang.load import load
    from .runtime.render.text_engine import text_engine

    reporter = Reporter(args.format, args.color)
    try:
        old_path, old_text, old_rev = _read_side(args.old, None)
        new_path, new_text, new_rev = _read_side(args.new, old_path)
    except DiagnosticError as exc:  # not a brief's text (binary, another encoding, too large)
        reporter.add(exc.diagnostics, {})
        reporter.flush()
        return EXIT_USAGE
    sides = []
    scratch = tempfile.TemporaryDirectory(prefix="brief-diff-")
    for path, text, rev in ((old_path, old_text, old_rev), (new_path, new_text, new_rev)):
        try:
            program = load(path, root=args.root, allow_outside=args.allow_outside_root, text=text)
            if rev is not None:  # the files it reads, as they were at REV: a replaced photo is a change
                program = _at_revision(program, path, text, rev, Path(scratch.name) / rev, args)
            reporter.add(check_program(program), program.sources)
            sides.append((program, compile_program(program, text_engine=text_engine)))
        except DiagnosticError as exc:
            reporter.add(exc.diagnostics, {path: text})
    if reporter.flush() or len(sides) < 2:
        scratch.cleanup()
        print("brief diff: error: both sides must check cleanly to be compared", file=sys.stderr)
        return EXIT_USAGE
    (old_prog, old_graph), (new_prog, new_graph) = sides
    result = diff(old_prog.module, new_prog.module, old_graph, new_graph)
    if args.images is not None:
        from .runtime.live.compare import write_images

        try:
            made = write_images(old_prog, old_graph, new_prog, new_graph, args.images, Path(scratch.name))
        except OSError as exc:
            scratch.cleanup()
            print(f"brief diff: error: --images {args.images}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_USAGE
        for line in made:
            print(f"images: {line}", file=sys.stderr)
    scratch.cleanup()
    if args.json:
        print(json.dumps({"equal": result.equal,
                          "changes": [{"kind": c.kind, "what": c.what, "settings": c.settings} for c in result.changes],
                          "rerender": [{"variant": r.variant, "share": round(r.share, 4),
                                        "nodes": [{"op": o, "label": lab, "share": round(sh, 4)}
                                                  for o, lab, sh in r.nodes]}
                                       for r in result.rerenders]}, indent=2))
    else:
        for change in result.changes:
            print(change.text())
        for r in result.rerenders:
            if r.nodes:
                print(f"{r.variant}: {len(r.nodes)} node{'s' * (len(r.nodes) != 1)} to re-render, "
                      f"{r.share * 100:.1f}% of pixels")
                for op, label, share in r.nodes:
                    print(f"    {op:<13} {label:<30} {share * 100:5.1f}%" if share else f"    {op:<13} {label}")
        if result.equal:
            print("no difference in meaning")
    return EXIT_OK if result.equal else EXIT_DIAGNOSTICS




def _at_revision(program, path: str, text: str, commit: str, folder: Path, args):
    """`program` loaded again from a copy of its project holding the files it reads (the briefs it
    uses, assets, masks, fonts) as they were at `commit`; a file git did not have then is copied
    from the working tree."""
    from .lang.check_files import named_files
    from .lang.load import load
    from .lang.paths import resolve

    root = Path(os.path.realpath(program.root))
    wanted = set()
    for key, module in program.modules.items():  # the briefs it uses, and every file each of them names
        wanted.add(os.path.relpath(os.path.realpath(key), root))
        for _, written, _, _ in named_files(module):
            found = resolve(program.dir_of(module), written, program.root, program.allow_outside)
            if found.path is not None:
                wanted.add(os.path.relpath(os.path.realpath(found.path), root))
    top = Path(_git("rev-parse", "--show-toplevel", failure="not in a git repository").decode().strip())
    for rel in sorted(wanted | {"brief.toml"}):
        source, dest = root / rel, folder / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        inside = os.path.relpath(source, top)
        found = subprocess.run(["git", "cat-file", "blob", f"{commit}:{inside}"], capture_output=True, cwd=top)
        if found.returncode == 0:
            dest.write_bytes(found.stdout)
        elif source.is_file():
            shutil.copyfile(source, dest)
    brief = folder / os.path.relpath(os.path.realpath(path), root)
    brief.parent.mkdir(parents=True, exist_ok=True)
    brief.write_text(text, encoding="utf-8")
    return load(str(brief), root=folder, allow_outside=args.allow_outside_root, text=text)
