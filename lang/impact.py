"""What a change touches: the one answer, for `brief plan`, `brief diff`, the executor, watch mode and
its preview.

Given a variant of a compiled graph, the records of its last build (by identity: op and label) and
which results are available (in the cache; for `brief diff`, in the old graph), `impact` says which
nodes must run and why, which edits can reuse their last pixels, and where the canvas's pixels
differ from the last build: the boxes, per node and in all, and their share of the canvas.

Every node carries the canvas boxes it may write (`region`) and read (`reads`), set by the
compiler. Pixels change where a layer changed (where it is and where it was), where a layer came or
went, everywhere its stacking moved, and where an edit that really runs writes. An edit whose
settings are unchanged and whose read boxes meet none of the pixels changed before it reuses its
last result: its pixels are the same by construction, so nothing needs comparing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import networkx as nx

from .geometry import Box, intersects, map_box, outpaint_band, union_area

LAYER_OPS = ("generate", "load_asset")  # ops that make a component's layer
EDIT_OPS = ("inpaint", "remove", "recolor", "harmonize")  # ops that change the canvas inside their region
PIXEL_OPS = LAYER_OPS + EDIT_OPS  # ops that paint the canvas
FORMAT_OPS = ("reframe", "outpaint")  # ops that make an output format from the canvas
REUSABLE = EDIT_OPS + ("check",)  # ops whose last result holds while nothing they read changed
PARAM_WORDS = {"box": "region", "crop": "region", "shape": "region", "sha256": "asset file", "mask_sha256": "mask file",
               "band": "band", "fit": "fit", "canvas": "canvas", "size": "size", "target": "colour", "color": "colour",
               "colors": "brand colours"}


def identity(graph, key: str) -> str:
    """A node across versions of a brief: its op and label (its key changes with any setting)."""
    a = graph.nodes[key]
    return f"{a['op']} {a['label']}"


def node_record(graph, key: str) -> dict:
    """What the next impact compares a node against (a build's state keeps one per node)."""
    a = graph.nodes[key]
    return {"key": key, "params": a["params"], "lock": a["lock"], "region": a["region"],
            "inputs": list(a["inputs"]), "input_ids": [identity(graph, i) for i in a["inputs"]]}


def targets(variant, checks: bool = True) -> list[str]:
    """The nodes a build of `variant` delivers: outputs, layers and (unless left out) checks."""
    return list(dict.fromkeys([*variant.outputs.values(), *variant.layers.values(), *(variant.checks if checks else [])]))


@dataclass
class Step:
    key: str
    op: str
    label: str
    reason: str
    share: float  # of the canvas this node's pixels change (0 off the canvas, and for a reused edit)
    reuse: bool = False  # an edit that takes its last pixels instead of running


@dataclass
class Impact:
    needed: list[str]  # every node the targets depend on, in topological order
    steps: list[Step]  # the nodes that must run (reused edits among them), in topological order
    available: list[str]  # needed nodes whose results are at hand
    boxes: list[Box]  # canvas boxes whose pixels differ from the last build
    share: float  # their union's share of the canvas
    changed: dict[str, list[Box]] = field(default_factory=dict)  # per canvas-image node: where it differs
    # per node that runs with only its canvas input changed since its last run: where that input
    # differs (an op can make again only what those pixels reach; formats do)
    input_changed: dict[str, list[Box]] = field(default_factory=dict)
    closure: list[str] = field(default_factory=list)  # every node of the variant, cached or not (a build's state)

    @property
    def reused(self) -> list[str]:
        return [s.key for s in self.steps if s.reuse]

    @property
    def rendered(self) -> list[str]:
        return [s.key for s in self.steps if not s.reuse]


def impact(graph, variant, available: Callable[[str], bool], previous: dict[str, dict],
           checks: bool = True) -> Impact:
    """The impact of building `variant` now, against `previous` (identity → `node_record` of every
    node of its last build); `available(key)` says whether a result is at hand without running it."""
    g = graph
    run, have = set(), set()
    stack = targets(variant, checks)
    while stack:
        key = stack.pop()
        if key in run or key in have:
            continue
        if available(key):
            have.add(key)
        else:
            run.add(key)
            stack.extend(g.nodes[key]["inputs"])
    everything = closure(g, targets(variant, checks))  # every node of the variant, cached or not: what changes
    order = list(nx.topological_sort(g.subgraph(everything)))
    W, H = variant.canvas
    area = W * H
    boxes: list[Box] = []  # pixels changed so far, in topological order
    changed: dict[str, list[Box]] = {}
    input_changed: dict[str, list[Box]] = {}
    steps = []
    edits_now = {identity(g, k): k for k in everything if g.nodes[k]["op"] in EDIT_OPS}

    def rewired(ident: str, record: dict) -> bool:
        """An edit still there that now follows another node: where it painted before is not where
        the chain has it now, so the pixels it painted there are changed for every edit after the
        composite (it may now run after them)."""
        now = edits_now.get(ident)
        return now is not None and record.get("input_ids", [None])[0] != identity(g, g.nodes[now]["inputs"][0])

    for key in order:
        a = g.nodes[key]
        prev = previous.get(identity(g, key))
        same = prev is not None and prev.get("key") == key  # the very node of the last build (evicted, if it runs)
        new: list[Box] = []
        reuse = False
        if a["op"] == "composite":
            new = [] if same else _composite_changes(g, key, prev, previous, (W, H))
            new += [tuple(r["region"]) for i, r in previous.items()  # an edit that went or moved: where it painted
                    if i.split(" ", 1)[0] in EDIT_OPS and r.get("region") and (i not in edits_now or rewired(i, r))]
        if not same and key in run and prev is not None and _only_canvas_changed(g, a, prev, previous) \
                and a["inputs"][0] in changed:
            input_changed[key] = list(changed[a["inputs"][0]])
            if a["op"] in REUSABLE and available(prev["key"]):
                reuse = not any(intersects(r, b) for r in a["reads"] for b in input_changed[key])
        on_canvas = not a.get("space")  # else it works in an output's pixels: not the canvas's boxes
        if a["op"] in EDIT_OPS and not same and not reuse and on_canvas:  # where it paints now, and where it painted
            new = [tuple(a["region"])] + ([tuple(prev["region"])] if prev and prev.get("region") else [])
        boxes.extend(new)
        if on_canvas and (a["op"] == "composite" or a["op"] in EDIT_OPS):
            changed[key] = list(boxes)
        elif a["op"] in FORMAT_OPS and a["inputs"][0] in changed and not same:  # what it changes of its own pixels
            changed[key] = _framed(a, changed[a["inputs"][0]])
        if key in run:
            share = 0.0 if reuse or same or not a["region"] or a["op"] == "composite" or not on_canvas \
                else _area(a["region"]) / area
            reason = ("nothing it measures changed: reuses its result" if a["op"] == "check" else
                      "upstream changed elsewhere: reuses its pixels") if reuse else reason_for(g, key, prev)
            steps.append(Step(key, a["op"], a["label"], reason, share, reuse))
    needed = [k for k in order if k in run or k in have]
    return Impact(needed, steps, [k for k in needed if k in have], boxes,
                  union_area(boxes) / area if area else 0.0, changed, input_changed, order)


def closure(g, keys: list[str]) -> set[str]:
    """`keys` and everything they depend on."""
    seen: set[str] = set()
    stack = list(keys)
    while stack:
        k = stack.pop()
        if k not in seen:
            seen.add(k)
            stack.extend(g.nodes[k]["inputs"])
    return seen


def _composite_changes(g, key: str, prev: dict | None, previous: dict[str, dict],
                       canvas: tuple[int, int]) -> list[Box]:
    """Where a composite differs from the last one: each layer that changed, came or went (its new
    box and its old one), and every layer whose stacking moved; everything when there was none."""
    W, H = canvas
    a = g.nodes[key]
    if prev is None or prev.get("params") != a["params"]:
        return [(0, 0, W, H)]
    now = {identity(g, i): i for i in a["inputs"]}
    before = dict(zip(prev.get("input_ids", []), prev.get("inputs", [])))
    out: list[Box] = []

    def old_box(ident: str) -> Box | None:
        rec = previous.get(ident)
        return tuple(rec["region"]) if rec and rec.get("region") else None

    common_now = [i for i in now if i in before]
    common_before = [i for i in before if i in now]
    restacked = common_now != common_before
    for ident, k in now.items():
        if restacked or before.get(ident) != k:
            out.append(tuple(g.nodes[k]["region"]))
            if ident in before and (was := old_box(ident)):
                out.append(was)
    for ident in before:
        if ident not in now and (was := old_box(ident)):
            out.append(was)
    return out


def _only_canvas_changed(g, a: dict, prev: dict, previous: dict[str, dict]) -> bool:
    """Since its last run, only the node's first input (the canvas image) changed: same settings,
    same backend, the same other inputs, and the same node before it (an edit that moved, went or
    came in between rewires it); and that run read the image the last build recorded for it, so
    what changed in that image since is what changed in this node's input."""
    if not (prev.get("params") == a["params"] and prev.get("lock") == a["lock"]
            and prev.get("inputs", [None])[1:] == a["inputs"][1:] and prev.get("inputs", [None])[0] != a["inputs"][0]):
        return False
    source = identity(g, a["inputs"][0])
    before = previous.get(source)
    return prev.get("input_ids", [None])[0] == source and before is not None \
        and before.get("key") == prev.get("inputs", [None])[0]


def reason_for(g, key: str, prev: dict | None) -> str:
    """Why a node runs: new, evicted, which settings changed, or which input."""
    if prev is None:
        return "new"
    if prev.get("key") == key:
        return "evicted from the cache"
    a = g.nodes[key]
    params, old = a["params"], prev.get("params", {})
    moved = sorted({PARAM_WORDS.get(p, p) for p in set(params) | set(old) if params.get(p) != old.get(p)})
    if moved:
        return "changed: " + ", ".join(moved)
    if a["lock"] != prev.get("lock", a["lock"]):
        return "backend changed"
    old_inputs = dict(zip(prev.get("input_ids", []), prev.get("inputs", [])))
    upstream = [identity(g, i).split(" ", 1)[1] for i in a["inputs"] if old_inputs.get(identity(g, i)) != i]
    if upstream:
        return "upstream changed: " + ", ".join(dict.fromkeys(upstream))
    return "inputs reordered"


def _framed(a: dict, boxes: list[Box]) -> list[Box]:
    """Where a format's pixels change when its input changed in `boxes`: each box mapped into it,
    grown by what its resampling reaches (a pixel's prefilter and interpolation); all of an
    out-paint when a box comes near the input's border, from which its margins grow."""
    p = a["params"]
    size = (p["size"][0], p["size"][1])
    canvas = (p["canvas"][0], p["canvas"][1])
    if a["op"] == "outpaint":
        band = outpaint_band(canvas, size, a["lock"].get("backend", ""))
        if any(b[0] < band or b[1] < band or b[2] > canvas[0] - band or b[3] > canvas[1] - band for b in boxes):
            return [(0, 0, *size)]
    shrink = max(canvas[0] / size[0], canvas[1] / size[1])
    reach = math.ceil(3 * max(0.0, (shrink - 1) / 2)) + 2  # canvas px: Gaussian prefilter and bilinear support
    out = []
    for b in boxes:
        grown = (b[0] - reach, b[1] - reach, b[2] + reach, b[3] + reach)
        m = map_box(grown, canvas, size, "fit" if a["op"] == "outpaint" else p["mode"])
        m = (max(0, m[0] - 1), max(0, m[1] - 1), min(size[0], m[2] + 1), min(size[1], m[3] + 1))
        if m[2] > m[0] and m[3] > m[1]:
            out.append(m)
    return out


def _area(box) -> int:
    return max(0, box[2] - box[0]) * max(0, box[3] - box[1])
