"""The review commands: `brief approve` records a person's decision on an output, `brief status`
lists what nobody has approved (the CI gate). Wiring only: the logic is runtime/live/approvals.py's.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .cli_runtime import diagnostics_or, runtime_options
from .cli_support import EXIT_DIAGNOSTICS, EXIT_OK, EXIT_USAGE, Reporter, require_files


def add_commands(sub, common, project, path_type) -> None:
    p = sub.add_parser("approve", parents=[common, project], help="approve (or reject) a delivered output",
                       description="Record a decision on one output of one variant of the last build in "
                                   "brief.approvals beside the brief: the image's pixel hash, its node key, who "
                                   "(git config user.name/email), when, and a note. `brief status` reads it.")
    p.add_argument("file", type=path_type, metavar="FILE", help="the .brief file")
    p.add_argument("--variant", required=True, metavar="NAME",
                   help="the variant: its full name or axis=value,… (one variant)")
    p.add_argument("--output", required=True, metavar="NAME", help="the output (main for a brief without outputs)")
    p.add_argument("--note", help="why, for the record")
    p.add_argument("--reject", action="store_true", help="record a rejection instead")
    p.add_argument("--out", type=path_type, help="where the build wrote (default: out/ beside the brief)")
    p.add_argument("--cache", type=path_type, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_approve)

    p = sub.add_parser("explore", parents=[common, project], help="candidates: several seeds of one component",
                       description="Render N seeds of one generated component, alone in its crop (its cost, not N "
                                   "builds), and write each over the variant's last canvas to "
                                   "out/@candidates/<variant>/<component>/seed-N.png. --pick N writes `seed N` into "
                                   "the brief, keeping its comments and layout; the next build reuses that "
                                   "candidate's pixels.")
    p.add_argument("file", type=path_type, metavar="FILE", help="the .brief file")
    p.add_argument("component", metavar="COMPONENT", help="a generated component")
    p.add_argument("--seeds", type=int, default=4, metavar="N", help="how many candidates (default 4)")
    p.add_argument("--from", dest="first", type=int, default=1, metavar="SEED", help="the first seed (default 1)")
    p.add_argument("--variant", metavar="NAME", help="the variant (default: the first)")
    p.add_argument("--pick", type=int, metavar="SEED", help="write `seed SEED` into the brief for COMPONENT")
    p.add_argument("--out", type=path_type, help="where the build writes (default: out/ beside the brief)")
    p.add_argument("--cache", type=path_type, help="cache folder")
    p.set_defaults(func=cmd_explore)

    p = sub.add_parser("review", parents=[common, project], help="a local web app to review and approve outputs",
                       description="Serve, on 127.0.0.1 only, every variant × output of the last build as a grid of "
                                   "thumbnails with its approval state, filters, a detail view and approve/reject "
                                   "buttons that write brief.approvals (as `brief approve` does).")
    p.add_argument("file", type=path_type, metavar="FILE", help="the .brief file")
    p.add_argument("--port", type=int, default=8378, help="port on 127.0.0.1 (default 8378; 0: any free one)")
    p.add_argument("--out", type=path_type, help="where the build wrote (default: out/ beside the brief)")
    p.add_argument("--cache", type=path_type, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_review)

    p = sub.add_parser("status", parents=[common, project], help="what has not been approved",
                       description="Every output of every variant against its last build and brief.approvals: "
                                   "approved, or unapproved, rejected, changed since approval, unbuilt or failing "
                                   "its brand rules. Exit 0 when all are approved, 1 otherwise (a CI gate).")
    p.add_argument("files", nargs="+", type=path_type, metavar="FILE", help=".brief files")
    p.add_argument("--out", type=path_type, help="where the build wrote (default: out/ beside each brief)")
    p.add_argument("--json", action="store_true", help="print the table as JSON")
    p.add_argument("--cache", type=path_type, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_status)


def _compiled(path: Path, args):
    from dataclasses import replace

    from .runtime.build import compile_file, out_root

    options = replace(runtime_options(args), variants=[])  # every variant: `approve` picks its one itself
    return compile_file(path, options), out_root(path, options)


def cmd_approve(args) -> int:
    from .runtime.build import select_variants
    from .runtime.live import approvals

    require_files([args.file])

    def run(reporter: Reporter) -> int:
        compiled, out = _compiled(args.file, args)
        chosen = select_variants(compiled.variants, [args.variant])
        if len(chosen) != 1:
            names = ", ".join(v.name for v in chosen)
            print(f"brief approve: error: --variant {args.variant} names {len(chosen)} variants ({names}): "
                  "name one", file=sys.stderr)
            return EXIT_USAGE
        (v,) = chosen
        if args.output not in v.outputs:
            print(f"brief approve: error: {v.name} has no output {args.output!r} (its outputs: "
                  f"{', '.join(v.outputs)})", file=sys.stderr)
            return EXIT_USAGE
        built = approvals.built_outputs(out / v.name).get(args.output)
        node = v.outputs[args.output]
        if built is None or built.get("node") != node or not (out / v.name / built["file"]).is_file():
            print(f"brief approve: error: {v.name} / {args.output} is not built from the brief as it is now: "
                  f"build it and look at it first ({out / v.name})", file=sys.stderr)
            return EXIT_DIAGNOSTICS
        try:
            entry = approvals.decide(approvals.approvals_path(args.file), v, args.output,
                                     out / v.name / built["file"], node, "reject" if args.reject else "approve",
                                     args.note, out)
        except ValueError as exc:  # a damaged brief.approvals: said, never overwritten
            print(f"brief approve: error: {exc}", file=sys.stderr)
            return EXIT_DIAGNOSTICS
        done = "rejected" if entry["decision"] == "reject" else "approved"
        print(f"{v.name} / {args.output}: {done} by {entry['by']} ({entry['sha256'][:12]}) "
              f"→ {approvals.approvals_path(args.file)}")
        return EXIT_OK

    return diagnostics_or(args, run)


def cmd_status(args) -> int:
    from .runtime.live import approvals

    require_files(args.files)

    def run(reporter: Reporter) -> int:
        rows = []
        for path in args.files:
            compiled, out = _compiled(path, args)
            try:
                decided = approvals.load(approvals.approvals_path(path))
            except ValueError as exc:
                print(f"brief status: error: {exc}", file=sys.stderr)
                return EXIT_DIAGNOSTICS
            rows += [(str(path), r) for r in approvals.status(compiled.variants, out, decided)]
        if args.json:
            print(json.dumps([{"file": f, "variant": r.variant, "output": r.output, "state": r.state, "node": r.node,
                               "image": r.image, "why": r.why} for f, r in rows], indent=2))
        else:
            width = max((len(f"{r.variant} / {r.output}") for _, r in rows), default=0)
            for _, r in rows:
                print(f"{r.state:<10} {f'{r.variant} / {r.output}':<{width}}  {r.why}")
            pending = [r for _, r in rows if r.state != "approved"]
            print(f"{len(rows) - len(pending)} of {len(rows)} outputs approved"
                  + (f"; {len(pending)} not: brief approve FILE --variant V --output O after looking at them"
                     if pending else ""))
        return EXIT_OK if all(r.state == "approved" for _, r in rows) else EXIT_DIAGNOSTICS

    return diagnostics_or(args, run)


def cmd_explore(args) -> int:
    require_files([args.file])

    def run(reporter: Reporter) -> int:
        from dataclasses import replace

        from .lang.edit import set_seed
        from .lang.load import read_source
        from .runtime.build import compile_file
        from .runtime.live.explore import explore

        options = replace(runtime_options(args), variants=[])
        if args.pick is not None:
            if not 0 <= args.pick <= 2**32 - 1:
                print("brief explore: error: a seed runs from 0 to 4294967295", file=sys.stderr)
                return EXIT_USAGE
            compiled = compile_file(args.file, options)
            brief = next((v.brief for v in compiled.variants if args.component in v.layers), None)
            if brief is None:
                print(f"brief explore: error: no component {args.component!r} in {args.file}", file=sys.stderr)
                return EXIT_USAGE
            from .cli_support import atomic_write

            atomic_write(args.file, set_seed(read_source(str(args.file)), str(args.file), brief, args.component,
                                             args.pick))
            print(f"{args.file}: component {args.component} now has seed {args.pick}; build to use it")
            return EXIT_OK
        if not 1 <= args.seeds <= 64 or not 0 <= args.first <= 2**32 - 1 - args.seeds:
            print("brief explore: error: --seeds takes 1 to 64, and seeds run from 0 to 4294967295", file=sys.stderr)
            return EXIT_USAGE
        found = explore(args.file, options, args.component, list(range(args.first, args.first + args.seeds)),
                        args.variant)
        for c in found:
            print(f"seed {c.seed}: {c.file}" + ("" if c.rendered else " (cached)"))
        print(f"pick one: brief explore {args.file} {args.component} --pick SEED")
        return EXIT_OK

    return diagnostics_or(args, run)


def cmd_review(args) -> int:
    require_files([args.file])

    def run(reporter: Reporter) -> int:
        from .runtime.live.review import ReviewServer
        from .runtime.live.serve import ServeError

        _, out = _compiled(args.file, args)  # a brief that does not check stops here, with its diagnostics
        try:
            app = ReviewServer(args.file, lambda: _compiled(args.file, args)[0].variants, out, args.port)
        except ServeError as exc:
            print(f"brief review: error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        print(f"reviewing {args.file} at http://127.0.0.1:{app.port}/ (Ctrl-C to stop)", flush=True)
        try:
            app.serve_forever()
        except KeyboardInterrupt:
            pass
        return EXIT_OK

    return diagnostics_or(args, run)
