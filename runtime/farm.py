"""Batches: every variant of every brief given, on this machine or on a Ray cluster.

Both executors render the nodes that several variants share once. Locally: those first, then
the variants one after the other. On Ray: a task per shared node, started as soon as the shared
nodes it reads exist, and a task per variant, started as soon as the shared nodes it needs exist
(no barrier between waves or phases); whichever worker is free, on any node, takes the next. Ray
reuses its worker processes, which keep each brief compiled (and a backend its loaded model)
across tasks. A task is keyed by what it builds and is idempotent (the cache is content-addressed),
so a task whose worker died (killed, out of memory, its node lost) is submitted again and the batch
completes with the same bytes. A variant whose worker dies on every try is reported failed and the
rest of the batch still completes; a shared node that does is left to the variants that need it.
A GPU backend on a cluster with GPUs runs one task per GPU at a time. With several machines, the
cache's remote tier (store/remote.py) is what they share: each node keeps its own local cache.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

from brief.lang.diagnostics import error

from .build import Options, build_file, build_shared, compile_file
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
    node: str = ""  # the Ray node that built it (empty locally)
    local_hits: int = 0  # cached results its machine had …
    remote_hits: int = 0  # … and fetched from the cache's remote tier
    transfer: dict = field(default_factory=dict)  # the remote tier's: up_s, down_s, up_bytes, down_bytes
    read: list[str] = field(default_factory=list)  # the nodes whose results it took from the cache …
    fetched: list[str] = field(default_factory=list)  # … and of those, the ones fetched from the remote tier


@dataclass
class Batch:
    outcomes: list[Outcome] = field(default_factory=list)
    shared: int = 0  # nodes needed by several variants
    shared_rendered: int = 0  # of those, rendered by this batch (once each)
    shared_failed: int = 0  # of those, given up on after their workers died: the variants render them
    seconds: float = 0.0  # rendering: from the first task to the last
    startup: float = 0.0  # starting (or joining) the Ray cluster
    teardown: float = 0.0  # stopping the Ray cluster this command started (none when it joined one)
    transfer: dict = field(default_factory=dict)  # the remote tier's, summed over every task
    task_seconds: float = 0.0  # every task's seconds (shared nodes and variants), summed
    split: int = 0  # variants' own nodes run as tasks of their own (`split`)
    made_on: dict[str, str] = field(default_factory=dict)  # shared node -> the Ray node that rendered it
    fetched: dict[str, set[str]] = field(default_factory=dict)  # Ray node -> keys its node tasks fetched

    def add_transfer(self, moved: dict) -> None:
        for name, value in moved.items():
            self.transfer[name] = self.transfer.get(name, 0) + value

    @property
    def failures(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def shared_inputs(self) -> dict[str, tuple[int, int]]:
        """For each Ray node: (the shared results its variants read that another node rendered, how
        many of those it fetched from the remote tier, for a variant or a node task that ran there).
        The rest it had locally for another reason (an earlier batch) or rendered again itself; a
        farm aims at all of them fetched."""
        by_node: dict[str, tuple[set[str], set[str]]] = {}
        for o in self.outcomes:
            read, fetched = by_node.setdefault(o.node, (set(), set(self.fetched.get(o.node, ()))))
            read.update(k for k in o.read if self.made_on.get(k, o.node) != o.node)
            fetched.update(o.fetched)
        return {node: (len(read), len(read & fetched)) for node, (read, fetched) in by_node.items()}


@dataclass
class NodeDone:
    """What a node task (a shared node, or a variant's own split off) reports."""
    rendered: int = 0  # the nodes it rendered: its own (none when the cache had it), and inputs the cache lacked
    transfer: dict = field(default_factory=dict)  # the remote tier's, as Outcome.transfer
    seconds: float = 0.0
    node: str = ""  # the Ray node it ran on
    fetched: frozenset[str] = frozenset()  # the keys it fetched from the remote tier (its inputs)


def build_one(path: str, options: Options, variant: str, compiled=None) -> Outcome:
    """Build one variant (a farm task). Never raises for the brief's own problems: reports them."""
    from brief.lang.diagnostics import DiagnosticError

    from .render.execute import BuildError

    started = time.perf_counter()
    out = Outcome(os.path.basename(path), variant)
    try:
        (built,) = build_file(path, replace(options, variants=[variant]), compiled=compiled)
        out.rendered, out.cached = len(built.run.ran), len(built.plan.cached)
        out.local_hits, out.remote_hits = built.tiers.get("local", 0), built.tiers.get("remote", 0)
        out.transfer = _transfer(built.tiers)
        out.read = list(built.plan.cached)
        out.fetched = [k for k in built.plan.cached if k in built.fetched]
        out.folder = str(built.folder)
        out.checks_failed = any(c["result"]["status"] == "fail" for c in built.manifest["checks"])
    except DiagnosticError as exc:
        out.error = "; ".join(d.summary for d in exc.diagnostics)
    except BuildError as exc:
        out.error = str(exc)
    out.seconds = time.perf_counter() - started
    return out


def _transfer(tiers: dict) -> dict:
    return {k: tiers.get(k, 0) for k in ("up_s", "down_s", "up_bytes", "down_bytes", "remote", "local")}


def variants_of(path: str, options: Options) -> list[str]:
    return [v.name for v in compile_file(path, options).variants]


def _with_budget(options: Options, budget) -> Options:
    """`options` whose builds share one `--max-calls` budget (hosted backends): the batch's, not
    each variant's."""
    return replace(options, backend_options={**options.backend_options, "budget": budget})


def render_local(paths: list[str], options: Options, on_done=None) -> Batch:
    if options.backend_options.get("max_calls") is not None:
        from .backends.hosted_call import Budget

        options = _with_budget(options, Budget(options.backend_options["max_calls"]))
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
               on_done=None, max_retries: int = 3, split: bool = False) -> Batch:
    """Every variant of every brief on a Ray cluster: a task per shared node, submitted as soon as the
    shared nodes it reads are done, and a task per variant, submitted as soon as the shared nodes it
    needs are done (no barrier between the two); Ray gives each to whichever worker is free, on any
    node. A task whose worker died is submitted again, up to `max_retries` more times. `split`: each
    variant's heavy nodes are tasks of their own as well (see `_jobs`)."""
    import ray

    from .build import remote_for

    for path in paths:  # a bad URL, a missing bucket or refused credentials: one line before Ray starts
        remote_for(path, options)
    batch = Batch()
    started = time.perf_counter()
    owned = not ray.is_initialized()  # started here: its start-up and teardown are this command's
    if owned:
        if address:
            _reachable(address)
            try:
                ray.init(address=address, log_to_driver=False)
            except ConnectionError as exc:
                raise UsageError([error("E450", f"cannot join a Ray cluster at {address}: {exc}",
                                        "Start one (ray start --head), or leave out --address to start a "
                                        "local one.", None)]) from None
            owned = False  # a running cluster: joined, not started, and left running
        else:
            ray.init(num_cpus=workers or os.cpu_count(), include_dashboard=False, log_to_driver=False)
    batch.startup = time.perf_counter() - started
    resources = ray.cluster_resources()
    count, gpus = actor_plan(resources, gpu_backend=resources.get("GPU", 0) >= 1 and _gpu_backend(paths, options),
                             workers=workers)
    cpus = 1 if gpus else max(0.01, resources.get("CPU", 1) / count)  # `count` tasks fill the cluster
    shape = {"num_cpus": cpus, "num_gpus": gpus, "max_retries": 0,  # deaths are retried here: see _schedule
             "runtime_env": {"env_vars": _chaos_env()}}
    if options.backend_options.get("max_calls") is not None:  # one budget, held by an actor every task asks
        options = _with_budget(options, _RayBudget(options.backend_options["max_calls"]))
    shared_task = ray.remote(_shared_task).options(**shape)
    variant_task = ray.remote(_variant_task).options(**shape)

    started = time.perf_counter()
    jobs = _jobs([os.path.abspath(p) for p in paths], options, split)

    def submit(job: _Job):
        if job.kind == "variant":
            return variant_task.remote(job.path, options, job.name)
        return shared_task.remote(job.path, options, job.name, job.variant)

    for job, result, lost in _schedule(jobs, submit, limit=count, retries=max_retries):
        if job.kind in ("node", "shared"):
            done = result or NodeDone()
            batch.add_transfer(done.transfer)
            batch.task_seconds += done.seconds
            batch.fetched.setdefault(done.node, set()).update(done.fetched)
            if job.kind == "node":
                batch.split += 1
                continue
            batch.shared += 1
            batch.shared_rendered += done.rendered
            batch.shared_failed += 1 if lost else 0
            if done.rendered:
                batch.made_on[job.name] = done.node
            continue
        outcome = result or Outcome(os.path.basename(job.path), job.name, error=lost)
        batch.add_transfer(outcome.transfer)
        batch.task_seconds += outcome.seconds
        batch.outcomes.append(outcome)
        if on_done:
            on_done(outcome)
    order = {(os.path.basename(j.path), j.name): i for i, j in enumerate(j for j in jobs if j.kind == "variant")}
    batch.outcomes.sort(key=lambda o: order[(o.brief, o.variant)])  # as the local executor lists them
    batch.seconds = time.perf_counter() - started
    if owned:
        started = time.perf_counter()
        ray.shutdown()
        batch.teardown = time.perf_counter() - started
    return batch


class _RayBudget:
    """A batch's call budget on a Ray cluster: the actor that holds it (runtime/backends/hosted_call.py's
    Budget), asked by each task; picklable, so every task's options carry it."""

    def __init__(self, limit: int):
        import ray

        from .backends.hosted_call import Budget

        self.limit = int(limit)
        self.actor = ray.remote(num_cpus=0)(Budget).remote(self.limit)

    def take(self, calls: int, dry: bool = False) -> bool:
        import ray

        return ray.get(self.actor.take.remote(calls, dry))


@dataclass
class _Job:
    kind: str  # "shared" (one node several variants need), "node" (one variant's own, split off) or "variant"
    path: str
    name: str  # the node's key, or the variant's name
    deps: set[int]  # the jobs (indices) that must end first: the shared and split nodes it reads
    variant: str = ""  # a split node's variant


HEAVY = ("generate", "inpaint", "remove", "outpaint", "refine")  # the ops a model spends its time in


def _jobs(paths: list[str], options: Options, split: bool = False) -> list[_Job]:
    """A job per shared node (after the shared nodes it reads) and per variant (after the shared
    nodes it needs), brief by brief. `split`: a variant's own heavy nodes (generated layers, model
    edits, out-paints) are jobs of their own too, after the jobs they read and before the variant,
    so one very heavy variant spreads over every free worker instead of holding one."""
    import networkx as nx

    from .build import shared_nodes

    jobs: list[_Job] = []
    for path in paths:
        compiled = compile_file(path, options)
        g = compiled.graph.graph
        index: dict[str, int] = {}
        for key in shared_nodes(compiled):  # topological: what it reads is indexed already
            index[key] = len(jobs)
            jobs.append(_Job("shared", path, key, {index[i] for i in g.nodes[key]["inputs"] if i in index}))
        for v in compiled.variants:
            closure = nx.ancestors(g, v.export) | {v.export}
            own = dict(index)
            if split:
                for key in nx.topological_sort(g.subgraph(closure)):
                    if key not in index and g.nodes[key]["op"] in HEAVY:
                        own[key] = len(jobs)
                        reads = {own[i] for i in nx.ancestors(g, key) if i in own}
                        jobs.append(_Job("node", path, key, reads, v.name))
            jobs.append(_Job("variant", path, v.name, {own[k] for k in closure if k in own}))
    return jobs


_COMPILED: dict[tuple[str, str], object] = {}  # per worker process: each brief compiled once, kept across tasks


def _compiled(path: str, options: Options):
    """`path` compiled with `options`, once per worker process. The batch's call budget is no part of
    what it compiles to (each task carries its own copy of it: a key of its own would compile again)."""
    key = (path, repr(replace(options, backend_options={k: v for k, v in options.backend_options.items()
                                                          if k != "budget"})))
    if key not in _COMPILED:
        _COMPILED[key] = compile_file(path, options)
    return _COMPILED[key]


def _shared_task(path: str, options: Options, key: str, variant: str = "") -> NodeDone:
    """One node into the cache: a shared one, or (`variant`) one a variant's own split off."""
    started = time.perf_counter()
    compiled = _compiled(path, options)
    _chaos(compiled.graph.graph.nodes[key]["label"])
    if variant:  # planned in its own variant (its previous build, its pixels)
        compiled = replace(compiled, variants=[v for v in compiled.variants if v.name == variant])
    report: dict = {}
    _, rendered = build_shared(path, options, keys=[key], compiled=compiled, report=report)
    return NodeDone(rendered, _transfer(report), time.perf_counter() - started, _node_name(),
                    report.get("fetched", frozenset()))


def _variant_task(path: str, options: Options, name: str) -> Outcome:
    _chaos(name, once=True)
    outcome = build_one(path, options, name, _compiled(path, options))
    outcome.node = _node_name()
    return outcome


def _node_name() -> str:
    """The Ray node this runs on (its id), else this host."""
    try:
        import ray

        return ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray
        import socket

        return socket.gethostname()


def _schedule(jobs: list[_Job], submit, limit: int, retries: int) -> Iterator[tuple[_Job, object, str]]:
    """Run `jobs` as their dependencies end, at most `limit` at a time, shared nodes first among the
    ready; yield (job, result, error) as each ends. A job whose worker died (killed, out of memory,
    its node lost) is submitted again, up to `retries` more times; then it ends with `error` saying
    so and the batch goes on: the jobs after it still run (a variant renders a shared node its cache
    lacks itself). Ray's own retries are off, so that one job that always kills its worker cannot
    take down the jobs around it."""
    import ray

    waiting = {i: set(j.deps) for i, j in enumerate(jobs)}
    after: dict[int, list[int]] = {}
    for i, j in enumerate(jobs):
        for d in j.deps:
            after.setdefault(d, []).append(i)
    first = sorted((i for i, d in waiting.items() if not d), key=lambda i: jobs[i].kind == "variant")
    ready = deque((i, 1) for i in first)  # (job, attempt)
    for i in first:
        del waiting[i]
    running: dict = {}
    while ready or running:
        while ready and len(running) < limit:
            i, attempt = ready.popleft()
            running[submit(jobs[i])] = (i, attempt)
        (ref,), _ = ray.wait(list(running), num_returns=1)
        i, attempt = running.pop(ref)
        try:
            result, lost = ray.get(ref), ""
        except Exception as exc:  # re-raised below unless the worker itself was lost
            if not _worker_lost(exc):
                raise _unwrapped(exc) from None
            if attempt <= retries:
                ready.appendleft((i, attempt + 1))
                continue
            result, lost = None, f"its worker died on each of {attempt} tries ({type(exc).__name__})"
        yield jobs[i], result, lost
        for n in after.get(i, []):
            waiting[n].discard(i)
            if not waiting[n]:
                del waiting[n]
                (ready.append if jobs[n].kind == "variant" else ready.appendleft)((n, 1))


def _unwrapped(exc: Exception) -> Exception:
    """A task's own error as itself (a brief's diagnostics, a node that failed on its input: one line
    for the command, as on this machine); anything else as Ray reported it."""
    from brief.lang.diagnostics import DiagnosticError

    from .render.execute import BuildError

    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, (DiagnosticError, BuildError)) else exc


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
