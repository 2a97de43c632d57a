"""Batches: every variant of every brief given, on this machine or on a Ray cluster.

Both executors first render the nodes that several variants share (once), then the variants —
one after the other locally; on Ray, the shared nodes in waves whose nodes run in parallel, then
the variants in parallel, each taken by the next free worker. A task is keyed by what it builds
and is idempotent (the cache is content-addressed), so a task whose worker died (killed, out of
memory) is retried on another worker, which replaces the dead one, and the batch completes with
the same bytes. A variant whose worker dies on every try is reported failed and the rest of the
batch still completes; a shared part that does is left to the variants that need it. Ray work
runs in actors, so a model is loaded once per worker rather than once per task; a GPU backend on
a cluster with GPUs gets one actor per GPU.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from brief.lang.diagnostics import error

from .build import Options, build_file, build_shared, compile_file, shared_waves
from .conditions import UsageError


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
    shared_failed: int = 0  # of those, given up on after their workers died: the variants render them
    seconds: float = 0.0  # rendering, from warm workers
    startup: float = 0.0  # starting the workers: processes, imports, each brief compiled once

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]


def build_one(path: str, options: Options, variant: str, compiled=None) -> Outcome:
    """Build one variant (a farm task). Never raises for the brief's own problems: reports them."""
    from brief.lang.diagnostics import DiagnosticError

    from .render.execute import BuildError

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
        if address:
            _reachable(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as exc:
                raise UsageError([error("E450", f"cannot join a Ray cluster at {address}: {exc}",
                                        "Start one (ray start --head), or leave out --address to start a "
                                        "local one.", None)]) from None
        else:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    resources = ray.available_resources()
    count, gpus = actor_plan(resources, gpu_backend=resources.get("GPU", 0) >= 1 and _gpu_backend(paths, options),
                             workers=workers)

    @ray.remote(max_restarts=0, max_task_retries=0)  # deaths are retried here, per task: see _pull
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
            graph = self._compiled(path, opts).graph.graph
            _chaos(*[graph.nodes[k]["label"] for k in keys])
            return build_shared(path, opts, keys=keys, compiled=self._compiled(path, opts))

        def variant(self, path: str, opts: Options, name: str) -> Outcome:
            _chaos(name, once=True)
            return build_one(path, opts, name, self._compiled(path, opts))

    def spawn():
        return Worker.options(num_gpus=gpus, runtime_env={"env_vars": _chaos_env()}).remote()

    batch = Batch()
    absolute = [os.path.abspath(p) for p in paths]
    started = time.perf_counter()
    actors = [spawn() for _ in range(count)]
    ray.get([a.ready.remote(absolute, options) for a in actors])
    batch.startup = time.perf_counter() - started
    started = time.perf_counter()
    # phase 1: the nodes several variants share, once, wave by wave; a part whose worker keeps dying
    # is left to the variants that need it (each renders what the cache lacks)
    for p in absolute:
        for wave in shared_waves(p, options):
            size = max(1, -(-len(wave) // (2 * len(actors))))  # about two parts per worker
            parts = [wave[i:i + size] for i in range(0, len(wave), size)]

            def shared_part(actor, part, p=p):
                return actor.nodes.remote(p, options, part)

            for part, result, lost in _pull(actors, spawn, parts, shared_part, max_retries):
                batch.shared += len(part)
                batch.shared_rendered += result[1] if result else 0
                batch.shared_failed += len(part) if lost else 0
    # phase 2: every variant; a free worker takes the next one
    jobs = [(p, v) for p in absolute for v in variants_of(p, options)]

    def one_variant(actor, job):
        return actor.variant.remote(job[0], options, job[1])

    for (p, v), outcome, lost in _pull(actors, spawn, jobs, one_variant, max_retries):
        outcome = outcome or Outcome(os.path.basename(p), v, error=lost)
        batch.outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    order = {(os.path.basename(p), v): i for i, (p, v) in enumerate(jobs)}
    batch.outcomes.sort(key=lambda o: order[(o.brief, o.variant)])  # as the local executor lists them
    batch.seconds = time.perf_counter() - started
    return batch


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse an address nothing answers at, at once (Ray itself would retry for minutes)."""
    import socket

    if address == "auto":
        return
    host, _, port = address.split("://", 1)[-1].rpartition(":")
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc) or type(exc).__name__
        raise UsageError([error("E450", f"no Ray cluster answers at {address} ({why})",
                                "Give the head node's address (HOST:PORT, e.g. 10.0.0.5:6379), `auto` for "
                                "one started on this machine, or leave out --address.", None)]) from None


def actor_plan(resources: dict[str, float], *, gpu_backend: bool, workers: int | None) -> tuple[int, int]:
    """(actors to start, GPUs each asks for). A GPU backend on a cluster with GPUs gets one actor
    per GPU, never more (an actor asking for a GPU that is not there would wait forever); anything
    else one actor per CPU. `workers` lowers either."""
    gpus = int(resources.get("GPU", 0))
    if gpu_backend and gpus >= 1:
        return min(workers or gpus, gpus), 1
    return max(1, workers or int(resources.get("CPU", 1))), 0


def _pull(actors: list, spawn, jobs: list, submit, retries: int) -> Iterator[tuple[object, object, str]]:
    """Run `jobs` on `actors` (replaced in place), yielding (job, result, error) as each ends.

    A free actor takes the next job. A job whose worker died (killed, out of memory, its node
    lost) goes back to the end of the queue, for whichever actor is free next, up to `retries` more
    times; then it ends with `error` saying so and the batch goes on. The dead actor is replaced by
    `spawn()`. Ray's own restarts are off: they count deaths per actor, so one job that always
    kills its worker would use them up and take the jobs queued behind it down too."""
    import ray

    queue = deque((job, 1) for job in jobs)
    free, running = list(range(len(actors))), {}
    while queue or running:
        while queue and free:
            i, (job, attempt) = free.pop(0), queue.popleft()
            running[submit(actors[i], job)] = (i, job, attempt)
        (ref,), _ = ray.wait(list(running), num_returns=1)
        i, job, attempt = running.pop(ref)
        free.append(i)
        try:
            result = ray.get(ref)
        except Exception as exc:  # re-raised below unless the worker itself was lost
            if not _worker_lost(exc):
                raise
            ray.kill(actors[i], no_restart=True)
            actors[i] = spawn()
            if attempt <= retries:
                queue.append((job, attempt + 1))
            else:
                yield job, None, f"its worker died on each of {attempt} tries ({type(exc).__name__})"
            continue
        yield job, result, ""


def _worker_lost(exc: Exception) -> bool:
    """A failure of the worker, not of the work: a dead process or node, or memory ran out."""
    from ray import exceptions as rx

    if isinstance(exc, (rx.RayActorError, rx.WorkerCrashedError, rx.OutOfMemoryError, rx.NodeDiedError)):
        return True
    cause = getattr(exc, "cause", None) if isinstance(exc, rx.RayTaskError) else None
    return isinstance(cause, MemoryError) or type(cause).__name__ == "OutOfMemoryError"  # torch.cuda's


CHAOS = "BRIEF_FARM_KILL_ONCE"
CHAOS_ALWAYS = "BRIEF_FARM_KILL_ALWAYS"


def _chaos_env() -> dict[str, str]:
    return {k: os.environ[k] for k in (CHAOS, CHAOS_ALWAYS) if os.environ.get(k)}


def _chaos(*names: str, once: bool = False) -> None:
    """Fault injection for the tests, a worker dying on the spot as if killed mid-batch. When
    $BRIEF_FARM_KILL_ONCE names a file that exists, the first worker to start a variant (`once`)
    removes it and dies. $BRIEF_FARM_KILL_ALWAYS lists variant names and node labels, `;` between
    them: a worker dies whenever it starts a task for one of them."""
    if set(names) & set(filter(None, os.environ.get(CHAOS_ALWAYS, "").split(";"))):
        os._exit(1)
    marker = os.environ.get(CHAOS) if once else None
    if marker:
        try:
            os.remove(marker)
        except FileNotFoundError:
            return
        os._exit(1)


def _gpu_backend(paths: list[str], options: Options) -> bool:
    """Whether a brief renders with a backend that runs on GPUs (diffusers)."""
    return any(v.backend.get("backend") == "diffusers" for p in paths for v in compile_file(p, options).variants)
