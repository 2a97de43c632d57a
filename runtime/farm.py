"""Batches: every variant of every brief given, on this machine or on a Ray cluster.

Both executors first render the nodes that several variants share (once), then the variants —
one after the other locally; on Ray, the shared nodes in waves whose nodes run in parallel, then
the variants in parallel. A task is keyed by what it builds and is
idempotent (the cache is content-addressed), so Ray retries a task whose worker died and the
batch completes with the same bytes. Ray work runs in actors, so a model is loaded once per
worker rather than once per task; on CUDA backends each actor asks for a GPU.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace

from .build import Options, build_file, build_shared, compile_file, shared_waves


@dataclass
class Outcome:
    brief: str
    variant: str
    seconds: float = 0.0
    rendered: int = 0
    cached: int = 0
    folder: str = ""
    error: str = ""
    checks_failed: bool = False


@dataclass
class Batch:
    outcomes: list[Outcome] = field(default_factory=list)
    shared: int = 0  # nodes needed by several variants
    shared_rendered: int = 0  # of those, rendered by this batch (once each)
    seconds: float = 0.0  # rendering, from warm workers
    startup: float = 0.0  # starting the workers: processes, imports, each brief compiled once

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]


def build_one(path: str, options: Options, variant: str, compiled=None) -> Outcome:
    """Build one variant (a farm task). Never raises for the brief's own problems: reports them."""
    from brief.lang.diagnostics import DiagnosticError

    from .execute import BuildError

    started = time.perf_counter()
    out = Outcome(os.path.basename(path), variant)
    try:
        (built,) = build_file(path, replace(options, variants=[variant]), compiled=compiled)
        out.rendered, out.cached = len(built.run.ran), len(built.plan.cached)
        out.folder = str(built.folder)
        out.checks_failed = any(c["result"]["status"] == "fail" for c in built.manifest["checks"])
    except DiagnosticError as exc:
        out.error = "; ".join(d.summary for d in exc.diagnostics)
    except BuildError as exc:
        out.error = str(exc)
    out.seconds = time.perf_counter() - started
    return out


def variants_of(path: str, options: Options) -> list[str]:
    return [v.name for v in compile_file(path, options).variants]


def render_local(paths: list[str], options: Options, on_done=None) -> Batch:
    batch = Batch()
    started = time.perf_counter()
    for path in paths:
        compiled = compile_file(path, options)  # once per brief, like a farm worker
        shared, rendered = build_shared(path, options, compiled=compiled)
        batch.shared += shared
        batch.shared_rendered += rendered
        for variant in [v.name for v in compiled.variants]:
            outcome = build_one(path, options, variant, compiled)
            batch.outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    batch.seconds = time.perf_counter() - started
    return batch


def render_ray(paths: list[str], options: Options, address: str | None = None, workers: int | None = None,
               on_done=None, max_retries: int = 3) -> Batch:
    import ray

    if not ray.is_initialized():
        env = {"runtime_env": {"env_vars": {CHAOS: os.environ[CHAOS]}}} if os.environ.get(CHAOS) else {}
        if address:
            ray.init(address=address, log_to_driver=False, **env)
        else:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False, **env)
    gpus = 1 if _wants_gpu(paths, options) else 0

    @ray.remote(num_gpus=gpus, max_restarts=max_retries, max_task_retries=max_retries)
    class Worker:
        """One process that keeps what it loaded (a model, each brief compiled) across its tasks."""

        def __init__(self):
            self.compiled = {}

        def _compiled(self, path: str, opts: Options):
            if path not in self.compiled:
                self.compiled[path] = compile_file(path, opts)
            return self.compiled[path]

        def ready(self, paths: list[str], opts: Options) -> bool:
            for p in paths:
                self._compiled(p, opts)
            return True

        def nodes(self, path: str, opts: Options, keys: list[str]) -> tuple[int, int]:
            return build_shared(path, opts, keys=keys, compiled=self._compiled(path, opts))

        def variant(self, path: str, opts: Options, name: str) -> Outcome:
            _chaos()
            return build_one(path, opts, name, self._compiled(path, opts))

    count = workers or int(ray.available_resources().get("CPU", 1))
    batch = Batch()
    absolute = [os.path.abspath(p) for p in paths]
    started = time.perf_counter()
    actors = [Worker.remote() for _ in range(max(1, count))]
    ray.get([a.ready.remote(absolute, options) for a in actors])
    batch.startup = time.perf_counter() - started
    started = time.perf_counter()
    # phase 1: the nodes several variants share, once, wave by wave, each wave spread over the workers
    for p in absolute:
        for wave in shared_waves(p, options):
            parts = [wave[i::len(actors)] for i in range(len(actors))]
            for shared, rendered in ray.get([a.nodes.remote(p, options, part) for a, part in zip(actors, parts) if part]):
                batch.shared += shared
                batch.shared_rendered += rendered
    # phase 2: every variant, spread over the workers
    pending = {}
    jobs = [(p, v) for p in absolute for v in variants_of(p, options)]
    for i, (p, v) in enumerate(jobs):
        pending[actors[i % len(actors)].variant.remote(p, options, v)] = (p, v)
    while pending:
        done, _ = ray.wait(list(pending), num_returns=1)
        for ref in done:
            pending.pop(ref)
            outcome = ray.get(ref)
            batch.outcomes.append(outcome)
            if on_done:
                on_done(outcome)
    order = {(os.path.basename(p), v): i for i, (p, v) in enumerate(jobs)}
    batch.outcomes.sort(key=lambda o: order[(o.brief, o.variant)])  # as the local executor lists them
    batch.seconds = time.perf_counter() - started
    return batch


CHAOS = "BRIEF_FARM_KILL_ONCE"


def _chaos() -> None:
    """Fault injection for the tests: when $BRIEF_FARM_KILL_ONCE names a file that exists, the
    first worker to start a task removes it and dies on the spot, as a worker killed mid-batch."""
    marker = os.environ.get(CHAOS)
    if marker:
        try:
            os.remove(marker)
        except FileNotFoundError:
            return
        os._exit(1)


def _wants_gpu(paths: list[str], options: Options) -> bool:
    """Ask Ray for GPUs when a brief renders with diffusers and this machine has CUDA."""
    try:
        import torch
    except ImportError:
        return False
    if not torch.cuda.is_available():
        return False
    return any(v.backend.get("backend") == "diffusers" for p in paths for v in compile_file(p, options).variants)
