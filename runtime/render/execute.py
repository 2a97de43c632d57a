"""Executing a plan: run the planned nodes in topological order with the backend's ops, read the
rest from the cache, store every new result, and record the build for the next plan.

Results are kept per kind: prompt descriptions and check results as JSON, layers as PNG crops
with their box, canvas images as tiles. A cached result that fails verification (corrupt,
evicted meanwhile) is recomputed on the spot. A newer request can stop a build between two
nodes (`should_stop`), which is how watch mode supersedes a build in flight.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from brief.lang.compile import OpGraph

from ..store.cache import Cache
from ..context import OpContext, OpError
from .plan import VariantPlan, identity, state_name, state_record
from ..progress import Progress
from ..store.tiles import Layer, TiledImage, Unreadable



class BuildError(Exception):
    def __init__(self, span: str, label: str, message: str):
        super().__init__(f"{span}: error: {label}: {message}")
        self.span, self.label, self.message = span, label, message

    def __reduce__(self):  # pickled whole (a farm task's error reaches the command as itself)
        return BuildError, (self.span, self.label, self.message)


class Superseded(Exception):
    """The build was stopped between nodes because a newer one was asked for."""


@dataclass
class Run:
    """What one build did: results by node, time per node, which ran and which were cache hits."""

    results: dict = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)
    hits: set[str] = field(default_factory=set)
    recomputed: list[str] = field(default_factory=list)  # cached but unreadable, so run again
    reused: list[str] = field(default_factory=list)  # edits whose input changed only where they do not read


def reuse_edit(cache: Cache, previous: dict, node: dict, image: TiledImage) -> TiledImage | None:
    """An edit's result without running it, when the plan found that only its image input changed
    and only where it does not read (`brief.lang.impact`): its last output inside the region it
    writes, the new input elsewhere. Exact by construction. A tile whose input is the very tile of
    the last run is the last output's tile, taken by its key without decoding anything. None when
    the last output is gone."""
    before_out = load(cache, previous["key"])
    if not isinstance(before_out, TiledImage) or before_out.size != image.size:
        return None
    before_in = load(cache, previous["inputs"][0])
    box = tuple(node["params"]["box"])
    out = TiledImage(image.width, image.height, image.channels, dict(image.keys), dict(image.pixels), image.cache)
    try:
        for t in image.tiles_in(box):
            key = image.keys.get(t)
            if key is not None and isinstance(before_in, TiledImage) and before_in.keys.get(t) == key \
                    and t in before_out.keys:
                out.keys[t] = before_out.keys[t]  # the same input tile: the same output tile
                out.pixels.pop(t, None)
                continue
            bx0, by0, bx1, by1 = image.tile_box(*t)
            inner = (max(box[0], bx0), max(box[1], by0), min(box[2], bx1), min(box[3], by1))
            tile = image.tile(*t).copy()
            tile[inner[1] - by0:inner[3] - by0, inner[0] - bx0:inner[2] - bx0] = before_out.read(inner)
            out.pixels[t] = tile
            out.keys.pop(t, None)
        out.cache = image.cache or before_out.cache
        return out
    except Unreadable:  # the last run's pixels are gone: just run the edit
        if image.failed:
            raise
        return None


def store(cache: Cache, key: str, op: str, result, meta: dict) -> None:
    """Keep a result by its type: tensors (prompt embeddings) as safetensors, records as JSON,
    layers and canvas images as tiles. A record refers to its tiles and cached latents, so gc keeps
    them together and a read of it fails when one is gone."""
    import numpy as np  # here: a build with nothing to render imports no numpy

    refs = [meta["latents"]] if isinstance(meta.get("latents"), str) else []
    if isinstance(result, dict) and result and all(isinstance(v, np.ndarray) for v in result.values()):
        cache.put_tensors(key, result, {**meta, "kind": "tensors"})
    elif isinstance(result, dict):
        cache.put_json(key, result, {**meta, "kind": "json"}, refs)
    elif isinstance(result, Layer):
        record = result.save(cache)
        cache.put_json(key, record, {**meta, "kind": "layer", "box": list(result.box)}, refs + _tiles(record))
    else:
        record = result.save(cache)
        cache.put_json(key, record, {**meta, "kind": "image"}, refs + _tiles(record))


def _tiles(record: dict) -> list[str]:
    return [k for row in record["tiles"] for k in row]


def load(cache: Cache, key: str, op: str | None = None):
    """A stored result, verified; None when missing or unreadable (the caller recomputes)."""
    meta = cache.get_meta(key)
    kind = (meta or {}).get("kind")
    if kind == "tensors":
        got = cache.get_tensors(key)
        return None if got is None else got[0]
    got = cache.get(key, "json")
    if got is None:
        return None
    try:
        record = json.loads(got[0])
        if kind == "json":
            return record
        image = TiledImage.load(record, cache)
        if kind == "layer":  # tiles are decoded only where an op reads them
            return Layer(got[1]["box"], tiles=image)
        return image
    except (ValueError, KeyError, TypeError):
        cache._corrupt(key, "its record is malformed")
        return None


class Executor:
    def __init__(self, opgraph: OpGraph, cache: Cache, ops: dict, root: Path, progress: Progress,
                 options: dict | None = None, should_stop: Callable[[], bool] | None = None):
        self.g = opgraph.graph
        self.opgraph, self.cache, self.ops, self.root = opgraph, cache, ops, root
        self.progress, self.options = progress, options or {}
        self.should_stop = should_stop or (lambda: False)
        self.run = Run()

    def build(self, plan: VariantPlan) -> Run:
        planned = {s.key for s in plan.steps}
        self.progress.start(plan)
        for key in plan.needed:
            if self.should_stop():
                raise Superseded()
            if key in planned:
                self._ensure(key, plan)
        self.cache.write_state(state_name(plan.variant), state_record(self.opgraph, plan))
        self.progress.finish(plan, self.run)
        return self.run

    def ensure_all(self, keys: list[str], plan: VariantPlan) -> None:
        """Make every key's result exist in the cache (shared nodes of a batch, before the variants)."""
        for key in keys:
            if self.should_stop():
                raise Superseded()
            self._ensure(key, plan)

    def result(self, key: str, plan: VariantPlan):
        """A node's result, for export: from memory or the cache, computed if it cannot be read."""
        self._ensure(key, plan)
        return self.run.results[key]

    def _ensure(self, key: str, plan: VariantPlan) -> None:
        """Make `key`'s result available: from memory, from the cache, or by running it (after its
        inputs, iteratively: no recursion however deep the graph)."""
        stack, unreadable = [key], set()
        while stack:
            k = stack[-1]
            if k in self.run.results:
                stack.pop()
                continue
            if k not in unreadable and self.cache.has(k):  # another process may have made it meanwhile
                value = load(self.cache, k, self.g.nodes[k]["op"])
                if value is not None:
                    self.run.results[k] = value
                    self.run.hits.add(k)
                    stack.pop()
                    continue
                unreadable.add(k)
                self.run.recomputed.append(k)
            missing = [i for i in self.g.nodes[k]["inputs"] if i not in self.run.results]
            if missing:
                stack.extend(missing)
                continue
            self._execute(k, plan)
            stack.pop()

    def _reused(self, ctx: OpContext, inputs: list, plan: VariantPlan):
        """The last result, where the plan found nothing the node reads changed; None to run it."""
        if ctx.key not in plan.reused or ctx.previous is None:
            return None
        if ctx.node["op"] == "check":
            last = load(self.cache, ctx.previous["key"])
            return last if isinstance(last, dict) else None
        return reuse_edit(self.cache, ctx.previous, ctx.node, inputs[0]) if isinstance(inputs[0], TiledImage) else None

    def _incremental(self, ctx: OpContext, plan: VariantPlan) -> None:
        """Tell the op what changed in its canvas input since its last run, and give it that run's
        result, when both are known (formats make again only the tiles a change reaches)."""
        changed = plan.input_changed.get(ctx.key)
        if changed is not None and ctx.previous is not None:
            before = load(self.cache, ctx.previous["key"])
            if before is not None:
                ctx.changed, ctx.before = changed, before

    def _execute(self, key: str, plan: VariantPlan) -> None:
        a = self.g.nodes[key]
        ctx = OpContext(self.cache, self.root, key, a, plan.previous.get(identity(self.g, key)), self.options)
        self._incremental(ctx, plan)
        inputs = [self.run.results[i] for i in a["inputs"]]
        self.progress.node_started(key, a)
        started = time.perf_counter()
        for attempt in range(3):
            try:
                result = self._reused(ctx, inputs, plan)
                if result is None:
                    result = self.ops[a["op"]](ctx, a["params"], inputs)
                else:
                    self.run.reused.append(key)
                break
            except OpError as exc:
                raise BuildError(a["span"], f"{a['label']} of {plan.variant.name}", str(exc)) from None
            except Unreadable:  # cached pixels vanished or were corrupt mid-op: remake them, retry
                bad = [i for i in a["inputs"] if getattr(self.run.results.get(i), "failed", False)]
                if attempt == 2 or not (bad or ctx.previous):
                    raise
                for i in bad:
                    self.cache.evict(i)
                    del self.run.results[i]
                    self.run.recomputed.append(i)
                    self._ensure(i, plan)
                if not bad:  # what vanished was the last build's result, read to work incrementally
                    ctx.previous, ctx.changed, ctx.before = None, None, None
                inputs = [self.run.results[i] for i in a["inputs"]]
                ctx.meta.clear()
        store(self.cache, key, a["op"], result, ctx.meta)
        self.run.results[key] = result
        self.run.seconds[key] = time.perf_counter() - started
        self.run.ran.append(key)
        self.progress.node_done(key, a, self.run.seconds[key])
