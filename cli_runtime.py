"""The `brief` commands that render: plan, build, check --render, watch, render, cache, and the
OpenJD emitter of compile. Argument handling and wiring only; the work is in `brief.runtime`."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .cli_support import (EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Reporter, atomic_write, internal_error,
                          require_files, sources_of)

# Every command imports the language and the runtime when it runs: `brief --help` loads neither.


def runtime_options(args):
    from .runtime.build import Options

    backend_options = {"device": args.device} if getattr(args, "device", None) else {}
    if getattr(args, "max_calls", None) is not None:
        backend_options["max_calls"] = args.max_calls
    if getattr(args, "allow_floating", False):
        backend_options["allow_floating"] = True
    return Options(backend=getattr(args, "backend", None), cache=args.cache, out=getattr(args, "out", None),
                   checks=not getattr(args, "no_checks", False), psd=getattr(args, "psd", False),
                   variants=getattr(args, "variant", None) or [], root=args.root,
                   allow_outside=args.allow_outside_root, update_lock=getattr(args, "update_lock", False),
                   verify=getattr(args, "verify", False), cache_budget=getattr(args, "cache_budget", None),
                   backend_options=backend_options, sign=getattr(args, "sign", None),
                   sign_cert=getattr(args, "sign_cert", None), sign_key=getattr(args, "sign_key", None),
                   remote_cache=getattr(args, "remote_cache", None),
                   remote_read_only=getattr(args, "remote_read_only", None))


def diagnostics_or(args, fn):
    """Run `fn`; render the diagnostics of a brief that does not check and of conditions the build
    met (exit 1; 2 when the command's arguments do not fit the brief), and failed nodes (exit 1).
    Anything else is not expected: it reaches `main` as an internal error."""
    from .lang.diagnostics import DiagnosticError
    from .runtime.conditions import UsageError
    from .runtime.render.execute import BuildError

    reporter = Reporter(args.format, args.color)
    try:
        return fn(reporter)
    except DiagnosticError as exc:
        reporter.add(exc.diagnostics, sources_of(exc))
        reporter.flush()
        return EXIT_USAGE if isinstance(exc, UsageError) else EXIT_DIAGNOSTICS
    except BuildError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_DIAGNOSTICS


def cmd_plan(args) -> int:
    from .runtime.build import plan_file

    require_files([args.file])

    def run(reporter: Reporter) -> int:
        compiled, plans = plan_file(args.file, runtime_options(args))
        reporter.add(compiled.warnings, compiled.program.sources)
        reporter.flush()
        if args.json:
            doc = [{"variant": p.variant.name, "summary": p.summary(), "pixel_share": round(p.pixel_share, 4),
                    "cached": len(p.cached), "calls": p.calls, "steps": [{"node": s.key, "op": s.op, "label": s.label,
                                                        "reason": s.reason, "share": round(s.share, 4)}
                                                       for s in p.steps]} for p in plans]
            print(json.dumps(doc, indent=2))
            return EXIT_OK
        for p in plans:
            print(f"{p.variant.name}: {p.summary()}")
            for s in p.steps:
                mark = "+" if s.reason == "new" else "!" if s.reason.startswith("evicted") else "~"
                share = f"{s.share * 100:5.1f}%" if s.share else "      "
                print(f"  {mark} {s.op:<13} {s.label:<28} {share}  {s.reason}")
        return EXIT_OK

    return diagnostics_or(args, run)


def cmd_build(args) -> int:
    from .runtime.build import build_file
    from .runtime.progress import for_stream

    require_files([args.file])

    def run(reporter: Reporter) -> int:
        built = build_file(args.file, runtime_options(args), progress=for_stream(sys.stderr, args.quiet))
        failed = []
        for b in built:
            ran = len(b.run.ran)
            seconds = sum(b.run.seconds.values())
            print(f"{b.variant.name}: rendered {ran} node{'s' * (ran != 1)} in {seconds:.2f} s, "
                  f"{len(b.plan.cached)} cached, {b.plan.pixel_share * 100:.1f}% of pixels → {b.folder}")
            results = [c["result"] for c in b.manifest["checks"]]
            if results:
                _check_table(b.variant.name, results)
                if any(r["status"] == "fail" for r in results):
                    failed.append(b.variant.name)
        if built and built[0].tiers.get("url"):
            print(_tiers_line(built[0].tiers, "cache"))
        if failed:
            print(f"brief build: brand checks failed in {', '.join(failed)} (see report.html there; "
                  "--no-checks builds without them)", file=sys.stderr)
            return EXIT_DIAGNOSTICS
        return EXIT_OK

    return diagnostics_or(args, run)


def _check_table(variant: str, results: list[dict]) -> None:
    from rich.console import Console

    from .runtime.brand.report import table

    from rich.markup import escape

    table(escape(variant), results, Console(file=sys.stderr, no_color=not sys.stderr.isatty() or "NO_COLOR" in os.environ))


def cmd_watch(args) -> int:
    from .lang.diagnostics import render_text
    from .lang.impact import PIXEL_OPS
    from .runtime.live.watch import Watcher

    if not os.path.exists(args.target):
        print(f"brief watch: error: {args.target} does not exist", file=sys.stderr)
        return EXIT_USAGE
    color = args.color == "always" or (args.color == "auto" and sys.stderr.isatty() and "NO_COLOR" not in os.environ)
    server = None

    def report(r) -> None:
        stamp = time.strftime("%H:%M:%S")
        if r.superseded:
            print(f"[{stamp}] {r.brief.name}: superseded by a newer save", file=sys.stderr, flush=True)
        elif r.internal is not None:
            print(f"[{stamp}] {r.brief.name}: not built", file=sys.stderr, flush=True)
            internal_error(r.internal)
        elif r.error:
            text = render_text(r.diagnostics, {d.span.file: Path(d.span.file).read_text(errors="replace")
                                               for d in r.diagnostics if d.span and os.path.exists(d.span.file)},
                               color) if r.diagnostics else r.error + "\n"
            print(f"[{stamp}] {r.brief.name}: not built\n{text}", file=sys.stderr, flush=True)
        else:
            for b in r.built:
                ran = [f"{s.op} {s.label}" for s in b.plan.steps if s.op in PIXEL_OPS and not s.reuse]
                print(f"[{stamp}] {b.variant.name}: {len(b.run.ran)} nodes in {r.seconds:.2f} s, "
                      f"{b.plan.pixel_share * 100:.1f}% of pixels" + (f" ({', '.join(ran)})" if ran else ""),
                      file=sys.stderr, flush=True)
        if server:
            server.publish(r)

    if args.serve is not None:  # before watching anything: a port in use is one line, exit 2
        from .runtime.live.serve import PreviewServer, ServeError

        try:
            server = PreviewServer(args.serve)
        except ServeError as exc:
            print(f"brief watch: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
    watcher = Watcher(Path(args.target), runtime_options(args), report=report,
                      warn=lambda m: print(f"warning: {m}", file=sys.stderr, flush=True))
    if server:
        server.start()
        print(f"preview: http://127.0.0.1:{server.port}/", file=sys.stderr, flush=True)
    watcher.start()
    print(f"watching {args.target} (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        watcher.run()
    finally:
        watcher.close()
        if server:
            server.stop()
    return EXIT_OK


def cmd_render(args) -> int:
    """Every variant of every brief given: shared nodes once, then the variants (local or Ray)."""
    from .runtime import farm
    from .runtime.build import build_shared

    require_files(args.files)
    options = runtime_options(args)
    if args.shared_only:
        return diagnostics_or(args, lambda r: [build_shared(f, options) for f in args.files] and EXIT_OK)
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    console = Console(file=sys.stderr)
    total = 0

    def run(reporter: Reporter) -> int:
        nonlocal total
        total = sum(len(farm.variants_of(f, options)) for f in args.files)
        hits = failures = 0
        with Progress(TextColumn("variants"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[note]}"),
                      TimeElapsedColumn(), console=console, disable=args.quiet or not sys.stderr.isatty()) as bar:
            task = bar.add_task("render", total=total, note="")

            def done(o) -> None:
                nonlocal hits, failures
                hits += o.cached
                failures += bool(o.error)
                bar.update(task, advance=1, note=f"cache hits {hits}, failures {failures}")
                if not sys.stderr.isatty():
                    print(f"  {o.variant}: " + (f"FAILED: {o.error}" if o.error else
                          f"{o.rendered} rendered, {o.cached} cached, {o.seconds:.2f} s"), file=sys.stderr, flush=True)

            if args.executor == "ray":
                batch = farm.render_ray(args.files, options, address=args.address, workers=args.workers, on_done=done,
                                        split=args.split)
            else:
                batch = farm.render_local(args.files, options, on_done=done)
        lost = f" ({batch.shared_failed} left to the variants: their workers died)" if batch.shared_failed else ""
        overhead = f", Ray start-up {batch.startup:.1f} s and teardown {batch.teardown:.1f} s" \
            if args.executor == "ray" else ""
        table = Table(title=f"{len(batch.outcomes)} variants in {batch.seconds:.1f} s ({args.executor}{overhead}); "
                            f"{batch.shared} shared nodes rendered once{lost}", title_justify="left")
        for col in ("variant", "rendered", "cached", "seconds", "result"):
            table.add_column(col)
        for o in batch.outcomes:
            result = f"[red]failed: {escape(o.error)}[/]" if o.error else ("[yellow]checks failed[/]" if o.checks_failed
                                                                           else "[green]ok[/]")
            table.add_row(escape(o.variant), str(o.rendered), str(o.cached), f"{o.seconds:.2f}", result)
        console.print(table)
        return EXIT_DIAGNOSTICS if batch.failures or any(o.checks_failed for o in batch.outcomes) else EXIT_OK

    return diagnostics_or(args, run)


def cmd_verify(args) -> int:
    """What each delivered image's content credentials say, and whether they hold."""
    import json

    from .runtime.deliver.credentials import read

    trust = None
    if args.trust is None and args.files:  # the root its export signed against (its manifest.json says)
        from .runtime.deliver.credentials import project_trust

        found_trust = project_trust(args.files[0])
        if found_trust is not None and found_trust.is_file():
            args.trust = found_trust
    if args.trust is not None:
        if str(args.trust) == "test":  # the throwaway chain `--sign test` (or [c2pa] sign = "test") made
            from .lang.paths import user_cache_dir
            from .runtime.deliver.credentials import TEST_CHAIN

            args.trust = (user_cache_dir() or Path(".brief")) / TEST_CHAIN / "root.pem"
        try:
            trust = args.trust.read_bytes()
            from cryptography import x509

            x509.load_pem_x509_certificates(trust)
        except OSError as exc:
            hint = " (build with --sign test first: it makes the test chain)" if str(args.trust).endswith(
                "root.pem") and not args.trust.exists() else ""
            print(f"brief verify: error: --trust {args.trust}: {exc.strerror}{hint}", file=sys.stderr)
            return EXIT_USAGE
        except ValueError:
            print(f"brief verify: error: --trust {args.trust}: not a PEM certificate (the root the signer "
                  "chains to)", file=sys.stderr)
            return EXIT_USAGE
    bad, found = 0, {}
    for path in args.files:
        if not path.is_file():
            print(f"{path}: {'a folder, not an image' if path.is_dir() else 'no such file'}")
            bad += 1
            continue
        r = found[str(path)] = read(path, trust)
        ok = r["state"] in ("valid", "trusted") and not r["problems"] and not (trust and r.get("untrusted"))
        bad += not ok
        if args.json:
            continue
        if r["state"] == "none":
            print(f"{path}: no content credentials ({'; '.join(r['problems']) or 'none embedded'})")
            continue
        signer = r["signer"]
        verdict = ("altered since it was signed: " + ", ".join(r["problems"]) if r["problems"] else
                   "unaltered; signer trusted" if r["state"] == "trusted" else
                   f"unaltered; but the signer does not chain to {args.trust}" if trust else
                   "unaltered; signer not checked against a trust root (give --trust ROOT.pem)")
        build = r["build"]
        backend = build.get("backend", {})
        print(f"{path}: {verdict}")
        print(f"  signed by {signer.get('common_name', '?')} ({signer.get('issuer', '?')}), {signer.get('alg', '?')}")
        print(f"  made by {r['generator'].get('name', '?')} {r['generator'].get('version', '')}: {r['source']}")
        print(f"  variant {build.get('variant', '?')}, output {build.get('output', '?')}, "
              f"node {str(build.get('node', '?'))[:12]}; backend {backend.get('backend', '?')}"
              + (f", model {backend['model']}" if backend.get("model") else "")
              + (f" revision {backend['revision']}" if backend.get("revision") else ""))
        for i in r["ingredients"]:
            print(f"  placed {i.get('title')} (sha256 {str(i.get('sha256', '?'))[:12]})")
    if args.json:
        print(json.dumps(found, indent=2, sort_keys=True))
    return EXIT_DIAGNOSTICS if bad else EXIT_OK


def cmd_verify_layers(args) -> int:
    """Each delivered image of each variant folder against its exported layers, flattened."""
    from .runtime.deliver.layers import verify_folder

    folders = []
    for path in args.folders:
        if (path / "manifest.json").is_file():
            folders.append(path)
        elif path.is_dir():
            folders += sorted(p.parent for p in path.glob("*/manifest.json"))
        if not path.exists():
            print(f"brief verify-layers: error: {path}: no such folder", file=sys.stderr)
            return EXIT_USAGE
    if not folders:
        print("brief verify-layers: error: no variant folder (one holding manifest.json) in "
              + ", ".join(str(p) for p in args.folders), file=sys.stderr)
        return EXIT_USAGE
    bad = 0
    for folder in folders:
        try:
            found = verify_folder(folder)
        except (OSError, ValueError, KeyError) as exc:  # a damaged folder: unreadable or malformed files
            print(f"{folder}: cannot verify: {exc}")
            bad += 1
            continue
        if not found:
            print(f"{folder}: no layer stacks in its manifest (exported before layers were stacks?)")
            bad += 1
        for image, verdict in found:
            print(f"{folder}: {image}: {verdict if verdict != 'ok' else 'flattens to the delivered image, byte for byte'}")
            bad += verdict != "ok"
    return EXIT_DIAGNOSTICS if bad else EXIT_OK


def cmd_cache(args) -> int:
    from .runtime.store.cache import Cache, parse_size

    root = args.cache or Path(os.environ.get("BRIEF_CACHE") or Path(".brief") / "cache")
    if not (root / "objects").is_dir():  # never turn some other folder into a cache
        print(f"brief cache: no cache at {root} (a cache folder holds objects/; builds make it)", file=sys.stderr)
        return EXIT_USAGE
    cache = Cache(root)
    if args.action == "stats":
        st = cache.stats()
        print(f"{root}: {st.objects} objects, {st.bytes / 1e6:.1f} MB, {st.leases} running build(s)")
        for ext, (n, size) in sorted(st.by_kind.items()):
            print(f"  {ext:<12} {n:>7} objects {size / 1e6:>10.1f} MB")
        last = cache.read_state("tiers")
        if isinstance(last, dict) and last.get("url"):
            print(_tiers_line(last, "last build with the remote tier"))
        return EXIT_OK
    try:
        limit = parse_size(args.max_size)
    except ValueError as exc:
        print(f"brief cache gc: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    evicted, freed = cache.gc(limit)
    print(f"evicted {evicted} objects, freed {freed / 1e6:.1f} MB; cache is now {cache.stats().bytes / 1e6:.1f} MB")
    return EXIT_OK


def cmd_lock(args) -> int:
    """`brief lock check`: drift and retiring models, per brief, without rendering."""
    from .lang.diagnostics import ERROR
    from .runtime.build import Options
    from .runtime.locks import lock_check

    require_files(args.files)

    def run(reporter: Reporter) -> int:
        failed = False
        for path in args.files:
            program, found = lock_check(path, Options(root=args.root, allow_outside=args.allow_outside_root))
            reporter.add(found, program.sources)
            failed = failed or any(d.severity == ERROR for d in found)
            if not found:
                print(f"{path}: brief.lock holds, and no model retires within 30 days")
        reporter.flush()
        return EXIT_DIAGNOSTICS if failed else EXIT_OK

    return diagnostics_or(args, run)


def _tiers_line(t: dict, what: str) -> str:
    """One line on where a build's cached results came from (hits count results and their tiles), and
    what it moved to and from the remote tier (objects there: a record holds its tiles)."""
    line = f"{what}: {t.get('local', 0)} local hits, {t.get('remote', 0)} remote hits"
    if t.get("url"):
        line += (f" ({t['url']}{', read-only' if t.get('read_only') else ''}: {t.get('uploaded', 0)} objects "
                 f"up, {t.get('up_bytes', 0) / 1e6:.1f} MB in {t.get('up_s', 0):.2f} s, {t.get('down_bytes', 0) / 1e6:.1f}"
                 f" MB down in {t.get('down_s', 0):.2f} s, {t.get('rejected', 0)} rejected, {t.get('failed', 0)} failed)")
    return line


def cmd_check_render(args) -> int:
    """The brand rules on the last render, without rendering anything."""
    from .runtime.build import check_render

    def run(reporter: Reporter) -> int:
        failed = False
        for path in args.files:
            for name, results in check_render(path, runtime_options(args)):
                _check_table(name, results)
                failed = failed or any(r["status"] == "fail" for r in results)
        return EXIT_DIAGNOSTICS if failed else EXIT_OK

    return diagnostics_or(args, run)


def compile_openjd(args) -> int:
    """One job template for the given briefs (JSON, which OpenJD reads as well as YAML)."""
    from .lang.diagnostics import DiagnosticError
    from .lang.emit import to_openjd
    from .runtime.build import Options, compile_file, shared_nodes

    briefs, root = [], None
    reporter = Reporter(args.format, args.color)
    for path in args.files:
        try:
            compiled = compile_file(path, Options(backend=args.backend, root=args.root,
                                                  allow_outside=args.allow_outside_root))
        except DiagnosticError as exc:
            reporter.add(exc.diagnostics, sources_of(exc))
            continue
        root = root or Path(os.path.realpath(compiled.program.root))
        rel = os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")
        briefs.append((rel, compiled.graph, len(shared_nodes(compiled))))
    if reporter.flush():
        return EXIT_DIAGNOSTICS
    first = Path(os.path.abspath(args.files[0])).parent
    # OpenJD joins default paths to the template's folder, so they are written relative to it
    here = os.path.dirname(os.path.abspath(args.output)) if args.output and args.output != "-" else os.getcwd()

    def rel(path: Path) -> str:
        return os.path.relpath(os.path.abspath(path), here).replace(os.sep, "/")

    template = to_openjd(briefs, rel(root), args.brief_command, rel(args.cache or first / ".brief" / "cache"),
                         rel(args.out or first / "out"), remote_cache=args.remote_cache)
    text = json.dumps(template, indent=2) + "\n"
    if args.output and args.output != "-":
        atomic_write(args.output, text)
    else:
        sys.stdout.write(text)
    return EXIT_OK
