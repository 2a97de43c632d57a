"""One build, end to end: load → check → compile → plan → execute → export, for a brief file.

The CLI and watch mode call these functions; they hold the sequence of stages and the options,
not the stages themselves.
"""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

from brief.lang.check import check_program
from brief.lang.compile import OpGraph, Variant, compile_program
from brief.runtime.render.text_engine import text_engine
from brief.lang.diagnostics import Diagnostic, DiagnosticError, error
from brief.lang.load import Program, load, read_source
from brief.lang.parser import parse
from brief.lang.paths import user_cache_dir

from .locks import backend_diagnostic, check_lockfile
from .backends import load_backend
from .context import OpError
from .store.cache import Cache, default_cache_dir, parse_size
from .conditions import MALFORMED, UsageError, diagnosed, writable_folder
from .render.execute import Executor, Run
from .store.tiles import Unreadable
from .deliver.export import export_variant
from .render.plan import VariantPlan, plan, plan_variant
from .progress import Progress, Quiet


@dataclass
class Options:
    backend: str | None = None  # override the briefs' backend
    cache: Path | None = None  # default: .brief/cache beside the brief, or $BRIEF_CACHE
    out: Path | None = None  # default: out/ beside the brief
    checks: bool = True
    psd: bool = False
    variants: list[str] = field(default_factory=list)  # names or axis=value filters; empty: all
    root: Path | None = None
    allow_outside: bool = False
    update_lock: bool = False  # accept a changed model or library versions into brief.lock
    verify: bool = False  # hash every model file again instead of trusting the hash memo
    cache_budget: int | None = None  # bytes the cache may take after a build (default: $BRIEF_CACHE_BUDGET or 10 GiB)
    sign: str | None = None  # "test": content credentials from a throwaway chain (runtime/deliver/credentials.py)
    sign_cert: Path | None = None  # the signing certificate chain (PEM); else brief.toml's [c2pa]
    sign_key: Path | None = None
    trust: Path | None = None
    backend_options: dict = field(default_factory=dict)  # device, dtype; filled with model folders
    remote_cache: str | None = None  # s3://bucket/prefix: the shared tier (else $BRIEF_REMOTE_CACHE, brief.toml)
    remote_read_only: bool | None = None  # fetch, never upload (else $BRIEF_REMOTE_READ_ONLY, brief.toml)


@dataclass
class Compiled:
    program: Program
    graph: OpGraph
    warnings: list[Diagnostic]
    variants: list[Variant]


@dataclass
class Built:
    variant: Variant
    plan: VariantPlan
    run: Run
    folder: Path
    manifest: dict
    graph: object  # the compiled networkx graph the keys belong to
    files: list[str] = field(default_factory=list)  # real paths it read: the brief, its uses, assets
    seconds: dict[str, float] = field(default_factory=dict)  # by stage: compile (shared), plan, render, export
    tiers: dict = field(default_factory=dict)  # the run's cache hits, local and remote, and its transfers
    fetched: frozenset[str] = frozenset()  # the keys its cache brought from the remote tier

    def by_op(self) -> dict[str, float]:
        """Seconds spent running nodes, by op."""
        out: dict[str, float] = {}
        for key, s in self.run.seconds.items():
            op = self.graph.nodes[key]["op"]
            out[op] = out.get(op, 0.0) + s
        return out


@diagnosed
def compile_file(path: str | os.PathLike, options: Options, text: str | None = None) -> Compiled:
    """Load, check and compile (`text` in place of the file's, if given); raises `DiagnosticError`.
    Keys include each backend's lock."""
    program = load(path, root=options.root, allow_outside=options.allow_outside, text=text)
    warnings = check_program(program)
    options.backend_options.setdefault("base_dir", str(Path(os.path.abspath(path)).parent))
    if options.verify:
        options.backend_options["verify"] = True
    locks: dict[str, dict] = {}

    def lock_for(declared: dict) -> dict:
        key = repr(sorted(declared.items()))
        if key not in locks:
            try:
                locks[key] = load_backend(declared["backend"]).lock(declared, options.backend_options)
            except OpError as exc:
                raise DiagnosticError([backend_diagnostic(program, declared, str(exc))]) from None
        return locks[key]

    graph = compile_program(program, lock_for=lock_for, backend=options.backend, text_engine=text_engine)
    compiled = Compiled(program, graph, warnings, select_variants(graph.variants, options.variants))
    _check_capabilities(compiled)
    check_lockfile(path, compiled, options)
    return compiled


def _check_capabilities(compiled: Compiled) -> None:
    """What a backend cannot do refuses the brief before any work (and, for a hosted one, before any
    paid call), at the component or edit that asked for it: a backend module's `cannot(op, params, lock)`
    says why."""
    g = compiled.graph.graph
    blocks = {f"{b.keyword} {b.name.value}": b for brief in compiled.program.module.briefs
              for b in brief.components + brief.edits}
    blocks.update({f"output {o.name.value}": o for brief in compiled.program.module.briefs for o in brief.outputs})
    found: dict[tuple[str, str], Diagnostic] = {}
    for key in g:
        a = g.nodes[key]
        backend = load_backend(a["lock"]["backend"])
        why = backend.cannot(a["op"], a["params"], a["lock"]) if hasattr(backend, "cannot") else None
        label = a["label"].split(" (")[0]
        if why and (label, why) not in found:
            block = blocks.get(label)
            found[(label, why)] = error("E402", why, "Use a backend that can (backend diffusers \"…\"), or remove "
                                        "the line.", block.name.span if block is not None else None)
    if found:
        raise DiagnosticError(list(found.values()))


def _check_out_folders(compiled: Compiled, out: Path) -> None:
    """Refuse to export into a folder that is not this brief's last export: one that holds another
    brief's export (two briefs of one name), or anything brief did not write there (an export
    replaces the whole folder, so it would be lost)."""
    found, named = [], set()
    for v in compiled.variants:
        if v.brief in named:
            continue
        folder = out / v.name
        problem = _foreign(folder, v, compiled.program.root)
        if problem:
            code, summary, detail = problem
            brief = next(b for b in compiled.program.module.briefs if b.name.value == v.brief)
            found.append(error(code, summary, detail, brief.name.span))
            named.add(v.brief)
    if found:
        raise DiagnosticError(found)


def _foreign(folder: Path, v: Variant, root: Path) -> tuple[str, str, str] | None:
    """(code, summary, detail) when `folder` may not be replaced by `v`'s export; None when it may."""
    if not os.path.lexists(folder):
        return None
    move = "Move it away, or build with --out to another folder."
    if folder.is_symlink() or not folder.is_dir():
        return "E421", f"{folder} is in the way of the export: it is not a folder", move
    files = {str(p.relative_to(folder).as_posix()) for p in folder.rglob("*") if not p.is_dir()}
    try:
        manifest = json.loads((folder / "manifest.json").read_bytes()) if "manifest.json" in files else {}
    except (OSError, *MALFORMED):
        manifest = {}
    listed = manifest.get("files") if isinstance(manifest, dict) else None
    other = manifest.get("file") if isinstance(manifest, dict) else None
    if isinstance(other, str) and other != v.file and _declares(root, other, v.brief):
        return ("E420", f"{folder} holds the export of {other}, another brief named `{v.brief}`; this one "
                        f"({v.file}) would overwrite it",
                "Rename one of the two briefs, or build this one with --out to another folder.")
    unknown = sorted(f for f in files - {"manifest.json"} - set(listed or {})
                     if not os.path.basename(f).startswith(".tmp-"))  # a killed in-place export's leftovers
    if unknown:
        shown = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
        return ("E421", f"{folder} holds files brief did not write ({shown}); an export replaces the whole "
                        "folder, so they would be lost", move)
    return None


def _declares(root: Path, rel: str, name: str) -> bool:
    """Whether the brief file `rel` (relative to the project root) still exists and declares a brief
    `name` (a renamed or deleted brief no longer owns its old output folder). A file that cannot be
    read or parsed is taken at its word."""
    path = Path(root) / rel
    if not path.is_file():
        return False
    try:
        return any(b.name.value == name for b in parse(read_source(str(path)), str(path)).briefs)
    except DiagnosticError:
        return True


def select_variants(variants: list[Variant], wanted: list[str]) -> list[Variant]:
    if not wanted:
        return variants
    filters = []
    for w in wanted:
        pairs = [part.split("=", 1) for part in w.strip("[]").split(",") if "=" in part]
        axes = dict(pairs)
        if len(axes) < len(pairs):  # season=summer,season=autumn: no variant is both
            raise UsageError([error("E430", f"--variant {w} names an axis twice",
                                    "Repeat --variant to build several: --variant season=summer "
                                    "--variant season=autumn.", None)])
        filters.append((w, axes))
    chosen = []
    for v in variants:
        for w, axes in filters:
            if w == v.name or (axes and all(v.axes.get(k) == val for k, val in axes.items())):
                chosen.append(v)
                break
    if not chosen:
        names = ", ".join(v.name for v in variants)
        raise UsageError([error("E430", f"no variant matches {', '.join(wanted)}",
                                f"Name a variant, or AXIS=VALUE; this brief has: {names}.", None)])
    return chosen


def cache_for(path: str | os.PathLike, options: Options, warn: Callable[[str], None] | None = None,
              write: bool = True) -> Cache:
    root = Path(options.cache or default_cache_dir(path))
    if write:
        writable_folder(root, "--cache")
    return Cache(root, warn=warn, remote=remote_for(path, options, warn))  # plan too: a bad bucket is one line


def remote_for(path: str | os.PathLike, options: Options, warn: Callable[[str], None] | None = None,
               check: bool = True):
    """The shared remote tier the options, the environment or brief.toml name, or None."""
    from brief.lang.paths import find_root

    from .store.remote import Remote, RemoteError, configured

    try:
        url, read_only = configured(options.remote_cache, options.remote_read_only,
                                    options.root or find_root(Path(os.path.abspath(path)).parent))
        if url is None:
            return None
        remote = Remote(url, read_only, warn or (lambda m: print(f"warning: {m}", file=sys.stderr)))
        if check:
            remote.check()
    except RemoteError as exc:
        raise UsageError([error("E444", str(exc), "Fix --remote-cache (or BRIEF_REMOTE_CACHE, or [cache] remote "
                                "in brief.toml), or build without it.", None)]) from None
    return remote


def tiers(cache: Cache) -> dict:
    """What this process's cache found where: local and remote hits, and the remote tier's transfers."""
    found = {"local": len(cache.found), "remote": len(cache.fetched)}
    if cache.remote is not None:
        cache.remote.close()  # every upload done before the build reports
        found.update(url=cache.remote.url, read_only=cache.remote.read_only, **cache.remote.counts)
    return found


def out_root(path: str | os.PathLike, options: Options) -> Path:
    return Path(options.out) if options.out else Path(os.path.abspath(path)).parent / "out"


@diagnosed
def plan_file(path: str | os.PathLike, options: Options, cache: Cache | None = None) -> tuple[Compiled, list[VariantPlan]]:
    compiled = compile_file(path, options)
    cache = cache or cache_for(path, options, write=False)
    return compiled, plan(compiled.graph, cache, compiled.variants, options.checks)  # shared nodes: rendered once


@diagnosed
def build_file(path: str | os.PathLike, options: Options, progress: Progress | None = None,
               should_stop: Callable[[], bool] | None = None, warn: Callable[[str], None] | None = None,
               compiled: Compiled | None = None) -> list[Built]:
    """Build every selected variant; returns what each did. Raises `DiagnosticError` (the brief),
    `BuildError` (a node failed on its input) or `Superseded` (stopped for a newer build)."""
    cache = cache_for(path, options, warn)
    budget = cache_budget(options)  # read first: a bad $BRIEF_CACHE_BUDGET stops the build before it renders
    started = time.perf_counter()
    compiled = compiled or compile_file(path, options)  # a farm worker passes the one it already made
    compile_s = time.perf_counter() - started
    for found in compiled.warnings:
        if found.code == "W403":  # a model about to retire: said on every build
            (warn or cache.warn)(found.summary)
    compiled = replace(compiled, variants=select_variants(compiled.graph.variants, options.variants))
    progress = progress or Quiet()
    built = []
    held = {k for v in compiled.variants for k in compiled.graph.graph.nodes}  # gc keeps what we may read
    root = Path(os.path.realpath(compiled.program.root))
    creds = signing(root, options)
    files = sorted(set(compiled.program.modules) | {str(root / f) for _, a in compiled.graph.graph.nodes(data=True)
                                                     for f in a["files"].values()})
    writable_folder(out_root(path, options), "--out")
    _check_out_folders(compiled, out_root(path, options))
    with cache.lease(held):
        for variant in compiled.variants:
            for attempt in range(VANISHED_RETRIES + 1):
                clock = [time.perf_counter()]
                plan = plan_variant(compiled.graph, variant, cache, options.checks)  # shared nodes hit
                backend = load_backend(variant.backend["backend"])
                executor = Executor(compiled.graph, cache, backend.OPS, compiled.program.root, progress,
                                    options.backend_options, should_stop)
                try:
                    clock.append(time.perf_counter())
                    run = executor.build(plan)
                    clock.append(time.perf_counter())
                    folder, manifest = export_variant(executor, plan, out_root(path, options), psd=options.psd,
                                                      creds=creds)
                    clock.append(time.perf_counter())
                    break
                except Unreadable:
                    if attempt == VANISHED_RETRIES:
                        raise
                    _forget_vanished(executor, cache, warn)
            stages = {"compile": compile_s, "plan": clock[1] - clock[0], "render": clock[2] - clock[1],
                      "export": clock[3] - clock[2]}
            built.append(Built(plan.variant, plan, run, folder, manifest, compiled.graph.graph, files, stages))
    summary, fetched = tiers(cache), frozenset(cache.fetched)
    for b in built:
        b.tiers, b.fetched = summary, fetched
    if cache.remote is not None:
        cache.write_state("tiers", summary)
    if any(b.run.ran for b in built) or cache.fetched:  # rendered, or fetched from the remote tier
        cache.sync()  # one flush for every object the build wrote (each was written without an fsync)
        cache.trim(budget)  # the lease let go: what no last build needs goes first, then the least recent
    return built


def signing(root: Path, options: Options):
    """The content credentials this build signs with, or None (`runtime/deliver/credentials.py`)."""
    from .deliver.credentials import CredentialsError, configured

    try:
        return configured(root, options.sign, options.sign_cert, options.sign_key, options.trust,
                          user_cache_dir() or root / ".brief")
    except CredentialsError as exc:
        raise UsageError([error("E443", f"cannot sign: {exc}",
                                "Give --sign-cert CHAIN.pem and --sign-key KEY.pem, or [c2pa] cert and key in "
                                "brief.toml; --sign test signs with a throwaway test chain.", None)]) from None


DEFAULT_CACHE_BUDGET = "10G"


def cache_budget(options: Options) -> int:
    """The cache's size budget: --cache-budget, else $BRIEF_CACHE_BUDGET, else 10 GiB."""
    if options.cache_budget is not None:
        return options.cache_budget
    text = os.environ.get("BRIEF_CACHE_BUDGET") or DEFAULT_CACHE_BUDGET
    try:
        return parse_size(text)
    except ValueError:
        raise UsageError([error("E442", f"BRIEF_CACHE_BUDGET={text!r} is not a size",
                                "Write it like 500M, 2G or 1.5GiB.", None)]) from None


VANISHED_RETRIES = 3  # a variant is planned again when cached pixels vanish under it (another host's gc)


def _forget_vanished(executor: Executor, cache: Cache, warn: Callable[[str], None] | None) -> None:
    """Evict the results whose pixels vanished mid-build, so the next plan makes them again."""
    gone = [k for k, r in executor.run.results.items() if getattr(r, "failed", False)]
    for key in gone:
        cache.evict(key)
    (warn or cache.warn)(f"{len(gone)} cached result(s) lost pixels during the build (removed by another "
                         "process?); rendering them again")


@diagnosed
def check_render(path: str | os.PathLike, options: Options) -> list[tuple[str, list[dict]]]:
    """Evaluate the brand checks on what the last build rendered: check nodes may run, nothing
    else. A variant that has not been rendered (or whose pixels were evicted) is a diagnostic."""
    cache = cache_for(path, options)
    try:
        return _check_rendered(path, options, cache)
    finally:
        if cache.remote is not None:
            cache.remote.close()  # the checks' results go up, like any build's


def _check_rendered(path: str | os.PathLike, options: Options, cache: Cache) -> list[tuple[str, list[dict]]]:
    compiled = compile_file(path, options)
    out = []
    for variant in compiled.variants:
        plan = plan_variant(compiled.graph, variant, cache, True)
        missing = [s for s in plan.steps if s.op != "check"]
        if missing:
            raise DiagnosticError([error(
                "E431", f"{variant.name} has not been rendered as it is now written ({len(missing)} nodes "
                        f"missing, e.g. {missing[0].op} {missing[0].label})", "Run brief build first.", None)])
        backend = load_backend(variant.backend["backend"])
        executor = Executor(compiled.graph, cache, backend.OPS, compiled.program.root, Quiet(),
                           options.backend_options, None)
        executor.build(plan)
        results = [executor.result(k, plan) for k in variant.checks]
        out.append((variant.name, [{k: v for k, v in r.items() if k != "heatmap"} for r in results]))
    return out


def shared_nodes(compiled: Compiled) -> list[str]:
    """Nodes that two or more of the selected variants need, in topological order: a farm renders
    them once (runtime/farm.py), each as soon as the shared nodes it reads exist."""
    import networkx as nx

    g = compiled.graph.graph
    counts: dict[str, int] = {}
    for v in compiled.variants:
        for key in nx.ancestors(g, v.export):
            counts[key] = counts.get(key, 0) + 1
    shared = {k for k, n in counts.items() if n > 1}
    return [k for k in nx.topological_sort(g.subgraph(shared))]


@diagnosed
def build_shared(path: str | os.PathLike, options: Options, progress: Progress | None = None,
                 keys: list[str] | None = None, compiled: Compiled | None = None,
                 report: dict | None = None) -> tuple[int, int]:
    """Render the nodes shared by several variants (or the given ones) into the cache; exports
    nothing. Returns (nodes asked for, how many of them were rendered now); `report` receives the
    cache's hits and the remote tier's transfers (`tiers`)."""
    cache = cache_for(path, options)
    compiled = compiled or compile_file(path, options)
    keys = shared_nodes(compiled) if keys is None else keys
    if not keys:
        return 0, 0
    variant = compiled.variants[0]
    backend = load_backend(variant.backend["backend"])
    plan = plan_variant(compiled.graph, variant, cache, options.checks)
    executor = Executor(compiled.graph, cache, backend.OPS, compiled.program.root, progress or Quiet(),
                        options.backend_options, None)
    with cache.lease(keys):
        executor.ensure_all(keys, plan)
        if executor.run.ran:
            cache.sync()
    (report if report is not None else {}).update(tiers(cache), fetched=frozenset(cache.fetched))  # uploads done
    return len(keys), len(executor.run.ran)
