"""Planning: which nodes of a compiled graph must run, and why — Terraform-style.

A node runs when its result is not in the cache and something needs it: the outputs, layers and
checks of each variant are the targets, and a cached node's inputs are not needed at all. The
reason compares the node with the last build of the same variant (kept in the cache's state):
new, changed (naming the settings), upstream changed (naming the input), or evicted. Each step
carries the share of the canvas it touches; the summary gives the share of pixels re-rendered.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import networkx as nx
import numpy as np

from brief.lang.compile import LAYER_OPS, PIXEL_OPS, OpGraph, Variant
from brief.lang.geometry import intersects

from ..store.cache import Cache

PARAM_WORDS = {"box": "region", "crop": "region", "shape": "region", "sha256": "asset file", "mask_sha256": "mask file",
               "band": "band", "fit": "fit", "canvas": "canvas", "size": "size", "target": "colour",
               "colors": "brand colours"}


def identity(graph: nx.DiGraph, key: str) -> str:
    a = graph.nodes[key]
    return f"{a['op']} {a['label']}"


def state_name(variant: Variant) -> str:
    return hashlib.sha256(f"{variant.file}\0{variant.name}".encode()).hexdigest()[:24]


@dataclass
class Step:
    key: str
    op: str
    label: str
    reason: str
    share: float  # of the canvas this node touches (0 for nodes off the canvas)


@dataclass
class VariantPlan:
    variant: Variant
    needed: list[str]  # every node the variant's results depend on, in topological order
    steps: list[Step]  # the nodes that will run, in topological order
    cached: list[str]  # needed nodes whose results come from the cache
    pixel_share: float  # share of the canvas's pixels that will be re-rendered
    previous: dict = field(default_factory=dict)  # the last build's node records, by identity
    checks: bool = True  # whether the brand checks are part of this build

    def summary(self) -> str:
        return (f"{len(self.steps)} to render, {len(self.cached)} cached, "
                f"{self.pixel_share * 100:.1f}% of pixels")


def targets(variant: Variant, checks: bool = True) -> list[str]:
    return list(dict.fromkeys([*variant.outputs.values(), *variant.layers.values(),
                               *(variant.checks if checks else [])]))


def plan_variant(opgraph: OpGraph, variant: Variant, cache: Cache, reads: dict | None = None,
                 checks: bool = True) -> VariantPlan:
    """`reads` is the backend's table of the box each edit op reads (see the draft backend);
    `checks=False` leaves the brand checks out (`--no-checks`)."""
    g = opgraph.graph
    previous = previous_nodes(cache.read_state(state_name(variant)))
    run, cached = set(), set()
    stack = targets(variant, checks)
    while stack:
        key = stack.pop()
        if key in run or key in cached:
            continue
        if cache.complete(key):
            cached.add(key)
        else:
            run.add(key)
            stack.extend(g.nodes[key]["inputs"])
    order = [k for k in nx.topological_sort(g.subgraph(run | cached))]
    W, H = variant.canvas
    steps = [_step(g, k, previous, W * H) for k in order if k in run]
    share = _predict_reuse(g, steps, previous, (W, H), reads or {})
    return VariantPlan(variant, order, steps, [k for k in order if k in cached], share, previous, checks)


def previous_nodes(record: dict | None) -> dict[str, dict]:
    """The node records of a variant's last build (`state_record`'s), by identity; entries that are
    not in that shape (a damaged or hand-edited state file) are left out: those nodes count as new."""
    nodes = record.get("nodes") if isinstance(record, dict) else None
    if not isinstance(nodes, dict):
        return {}

    def strings(value) -> bool:
        return isinstance(value, list) and all(isinstance(x, str) for x in value)

    def sound(n) -> bool:
        region = n.get("region") if isinstance(n, dict) else None
        return (isinstance(n, dict) and isinstance(n.get("key"), str) and isinstance(n.get("params"), dict)
                and strings(n.get("inputs")) and strings(n.get("input_ids", [])) and isinstance(n.get("lock", {}), dict)
                and (region is None or (isinstance(region, list) and len(region) == 4
                                        and all(isinstance(x, int) for x in region))))

    return {k: n for k, n in nodes.items() if isinstance(k, str) and sound(n)}


def _step(g: nx.DiGraph, key: str, previous: dict, canvas_area: int) -> Step:
    a = g.nodes[key]
    region = a["region"]
    share = 0.0 if not region or a["op"] == "composite" else (region[2] - region[0]) * (region[3] - region[1]) / canvas_area
    return Step(key, a["op"], a["label"], _reason(g, key, previous.get(identity(g, key))), share)


def _reason(g: nx.DiGraph, key: str, prev: dict | None) -> str:
    if prev is None:
        return "new"
    if prev["key"] == key:
        return "evicted from the cache"
    a = g.nodes[key]
    params, old = a["params"], prev.get("params", {})
    changed = sorted({PARAM_WORDS.get(p, p) for p in set(params) | set(old) if params.get(p) != old.get(p)})
    if changed:
        return "changed: " + ", ".join(changed)
    if a["lock"] != prev.get("lock", a["lock"]):
        return "backend changed"
    old_inputs = dict(zip(prev.get("input_ids", []), prev.get("inputs", [])))
    moved = [identity(g, i).split(" ", 1)[1] for i in a["inputs"] if old_inputs.get(identity(g, i)) != i]
    if moved:
        return "upstream changed: " + ", ".join(dict.fromkeys(moved))
    return "inputs reordered"


def _predict_reuse(g: nx.DiGraph, steps: list[Step], previous: dict, canvas: tuple[int, int], reads: dict) -> float:
    """Mark the edits whose read box is untouched by what changes before them (the executor reuses
    their last result: no pixel re-rendered) and return the share of canvas pixels that change:
    re-rendered layers (where they are and where they were) and the edits that really run."""
    W, H = canvas
    mask = np.zeros((H, W), bool)
    dirty: list = []  # boxes whose pixels change, so far in topological order
    for step in steps:
        a = g.nodes[step.key]
        if a["op"] not in PIXEL_OPS or not a["region"]:
            continue
        prev = previous.get(identity(g, step.key))
        boxes = [a["region"]]
        if a["op"] in LAYER_OPS and prev and prev.get("region"):
            boxes.append(prev["region"])
        read = reads.get(a["op"])
        if read and prev and prev["params"] == a["params"] and prev.get("lock") == a["lock"] \
                and prev["inputs"][1:] == a["inputs"][1:] and not any(intersects(read(a["params"]), b) for b in dirty):
            step.reason, step.share = "upstream changed elsewhere: reuses its pixels", 0.0
            continue
        for x0, y0, x1, y1 in boxes:
            mask[y0:y1, x0:x1] = True
            dirty.append((x0, y0, x1, y1))
    return float(mask.mean()) if mask.size else 0.0


def plan(opgraph: OpGraph, cache: Cache, variants: list[Variant] | None = None) -> list[VariantPlan]:
    return [plan_variant(opgraph, v, cache) for v in (variants or opgraph.variants)]


def state_record(opgraph: OpGraph, variant_plan: VariantPlan) -> dict:
    """What the next plan compares against: every needed node of the variant, by identity, over the
    records of earlier builds (a node not needed this time keeps its last record)."""
    g = opgraph.graph
    nodes = dict(variant_plan.previous)
    for key in variant_plan.needed:
        a = g.nodes[key]
        nodes[identity(g, key)] = {"key": key, "params": a["params"], "lock": a["lock"], "region": a["region"],
                                   "inputs": list(a["inputs"]), "input_ids": [identity(g, i) for i in a["inputs"]]}
    return {"variant": variant_plan.variant.name, "nodes": nodes}
