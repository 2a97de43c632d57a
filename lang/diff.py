"""Semantic diff of two versions of a brief: what changed in meaning (blocks and settings, in
canonical form, so layout and comments never show), and which graph nodes would re-render, with
the share of the canvas they touch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

from . import ast
from .compile import LAYER_OPS, PIXEL_OPS, OpGraph
from .fmt import setting_text
from .geometry import intersects

BLOCKS = (ast.Component, ast.Edit, ast.Matrix, ast.Output)
READ_PAD = 32  # an edit reads at most this far around its region (the diffusers backend's context)



@dataclass
class Change:
    kind: str  # "+" added, "-" removed, "~" changed
    what: str  # "component kite", "check palette", "canvas"
    settings: list[str] = field(default_factory=list)

    def text(self) -> str:
        return f"{self.kind} {self.what}" + (f": {', '.join(self.settings)}" if self.settings else "")


@dataclass
class Rerender:
    variant: str
    nodes: list[tuple[str, str, float]]  # (op, label, share of canvas)
    share: float


@dataclass
class BriefDiff:
    changes: list[Change]
    rerenders: list[Rerender]

    @property
    def equal(self) -> bool:
        return not self.changes and not any(r.nodes for r in self.rerenders)


def _settings(block) -> dict[str, str]:
    """keyword → canonical text of each single-line setting of a block."""
    items = block.values if isinstance(block, ast.Matrix) else getattr(block, "items", ())
    out: dict[str, str] = {}
    for item in items:
        if isinstance(item, BLOCKS) or isinstance(item, ast.CHECK_RULES):
            continue
        key = item.name.value if isinstance(item, (ast.MatrixValue, ast.BrandColor)) else getattr(item, "keyword", "?")
        out[key] = setting_text(item)
    return out


def _blocks(brief: ast.Brief) -> dict[str, object]:
    out: dict[str, object] = {}
    for item in brief.items:
        if isinstance(item, BLOCKS):
            out[f"{item.keyword} {item.name.value}"] = item
        elif isinstance(item, ast.CHECK_RULES):
            text = setting_text(item)
            out[text] = item  # a check is identified by its whole text
    return out


def structural(old: ast.Module, new: ast.Module) -> list[Change]:
    changes: list[Change] = []
    old_briefs = {b.name.value: b for b in old.briefs}
    new_briefs = {b.name.value: b for b in new.briefs}
    for name in [n for n in old_briefs if n not in new_briefs]:
        changes.append(Change("-", f"brief {name}"))
    for name, brief in new_briefs.items():
        if name not in old_briefs:
            changes.append(Change("+", f"brief {name}"))
            continue
        before = old_briefs[name]
        a, b = _settings(before), _settings(brief)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                kind = "+" if key not in a else "-" if key not in b else "~"
                changes.append(Change(kind, f"{name}: {key}"))
        ba, bb = _blocks(before), _blocks(brief)
        for key in ba:
            if key not in bb:
                changes.append(Change("-", f"{name}: {key}"))
        for key, block in bb.items():
            if key not in ba:
                changes.append(Change("+", f"{name}: {key}"))
            elif not isinstance(block, ast.CHECK_RULES):
                sa, sb = _settings(ba[key]), _settings(block)
                moved = [k for k in sorted(set(sa) | set(sb)) if sa.get(k) != sb.get(k)]
                if moved:
                    changes.append(Change("~", f"{name}: {key}", moved))
    return changes


def union_area(boxes: list[list[int]]) -> int:
    """Area covered by rectangles (coordinate compression; pure Python)."""
    if not boxes:
        return 0
    xs = sorted({b[0] for b in boxes} | {b[2] for b in boxes})
    total = 0
    for x0, x1 in zip(xs, xs[1:]):
        spans = sorted((b[1], b[3]) for b in boxes if b[0] <= x0 and b[2] >= x1)
        covered, end = 0, None
        for y0, y1 in spans:
            if end is None or y0 > end:
                covered += y1 - y0
                end = y1
            elif y1 > end:
                covered += y1 - end
                end = y1
        total += covered * (x1 - x0)
    return total


def rerenders(old: OpGraph, new: OpGraph) -> list[Rerender]:
    out = []
    old_nodes = set(old.graph.nodes)
    for v in new.variants:
        g = new.graph
        W, H = v.canvas
        needed = set()
        stack = [*v.outputs.values(), *v.layers.values(), *v.checks]
        while stack:
            k = stack.pop()
            if k in needed or k in old_nodes:
                continue
            needed.add(k)
            stack.extend(g.nodes[k]["inputs"])
        old_regions = {(old.graph.nodes[k]["op"], old.graph.nodes[k]["label"]): old.graph.nodes[k]["region"]
                       for k in old.graph.nodes}
        nodes, boxes = [], []
        for k in nx.topological_sort(g.subgraph(needed)):
            a = g.nodes[k]
            region, share, label = a["region"], 0.0, a["label"]
            if region and a["op"] in PIXEL_OPS:
                read = [region[0] - READ_PAD, region[1] - READ_PAD, region[2] + READ_PAD, region[3] + READ_PAD]
                if a["op"] not in LAYER_OPS and not any(intersects(read, b) for b in boxes):
                    label += " (reuses its pixels)"  # nothing it reads changes
                else:
                    share = (region[2] - region[0]) * (region[3] - region[1]) / (W * H)
                    boxes.append(region)
                    before = old_regions.get((a["op"], a["label"]))
                    if a["op"] in LAYER_OPS and before:
                        boxes.append(before)
            nodes.append((a["op"], label, share))
        out.append(Rerender(v.name, nodes, union_area(boxes) / (W * H) if W * H else 0.0))
    return out


def diff(old_module: ast.Module, new_module: ast.Module, old_graph: OpGraph, new_graph: OpGraph) -> BriefDiff:
    return BriefDiff(structural(old_module, new_module), rerenders(old_graph, new_graph))
