"""Semantic diff of two versions of a brief: what changed in meaning (blocks and settings, in
canonical form, so layout and comments never show), and which graph nodes would re-render, with
the share of the canvas they touch — `brief.lang.impact`'s answer, the same `brief plan` gives
after building the old version.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from . import ast
from .compile import OpGraph
from .fmt import setting_text
from .impact import closure, identity, impact, node_record, targets

BLOCKS = (ast.Component, ast.Edit, ast.Matrix, ast.Output)
HASH_OF = {"asset": "sha256", "mask": "mask_sha256", "font": "font_sha256"}  # a file a node reads → its hash param


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
                changes.append(Change(kind, f"{name}: {key}", [_was(a.get(key), b.get(key))] if kind == "~" else []))
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
                old_block = ba[key]
                if isinstance(block, ast.Matrix) and isinstance(old_block, ast.Matrix):  # which field, and how
                    moved = [_value_change(k, old_block, block) for k in moved]
                else:  # each setting, old → new
                    moved = [f"{k} {_was(sa.get(k), sb.get(k))}" if k in sa and k in sb else
                             f"{'+' if k not in sa else '-'}{sb.get(k) or sa.get(k)}" for k in moved]
                if moved:
                    changes.append(Change("~", f"{name}: {key}", moved))
    return changes


def _was(old: str | None, new: str | None) -> str:
    """`old → new` of one setting, its keyword said once: `prompt "a red kite" → "a blue kite"`."""
    if old is None or new is None:
        return old or new or ""
    ka, _, va = old.partition(" ")
    kb, _, vb = new.partition(" ")
    return f"{va} → {vb}" if ka == kb else f"{old} → {new}"


def file_changes(old: OpGraph, new: OpGraph) -> list[Change]:
    """Files a brief reads (assets, masks, fonts) whose bytes changed at the same path: a change, with
    the components and variants it reaches."""
    def hashes(graph: OpGraph) -> dict[str, str]:
        out = {}
        for _, a in graph.graph.nodes(data=True):
            for role, path in a["files"].items():
                digest = a["params"].get(HASH_OF.get(role, ""))
                if isinstance(digest, str):
                    out[path] = digest
        return out

    ha, hb = hashes(old), hashes(new)
    changes = []
    for path in sorted(set(ha) & set(hb)):
        if ha[path] != hb[path]:
            users = sorted({(a["label"].removeprefix("component "), v.name) for v in new.variants
                            for k in closure(new.graph, list(v.layers.values()))
                            for a in [new.graph.nodes[k]] if path in a["files"].values()})
            comps = sorted({c for c, _ in users})
            variants = sorted({v for _, v in users})
            changes.append(Change("~", f"file {path}", [f"its bytes changed (sha256 {ha[path][:12]} → {hb[path][:12]})",
                                                         f"used by {', '.join(comps)} in {len(variants)} variant"
                                                         f"{'s' * (len(variants) != 1)}: {', '.join(variants)}"]))
    return changes


def _value_change(name: str, old: ast.Matrix, new: ast.Matrix) -> str:
    """One matrix value's change in words: `de: headline "Lauf weiter" → "Lauf weiter!"`."""
    va = next((v for v in old.values if v.name.value == name), None)
    vb = next((v for v in new.values if v.name.value == name), None)
    if va is None or vb is None:
        return f"{'+' if va is None else '-'}{name}"
    parts = []
    if va.text.value != vb.text.value:
        parts.append(f"{va.text.text} → {vb.text.text}")
    fa = {f.name.value: setting_text(f) for f in va.fields}
    fb = {f.name.value: setting_text(f) for f in vb.fields}
    for k in sorted(set(fa) | set(fb)):
        if fa.get(k) != fb.get(k):
            parts.append(f"+{fb[k]}" if k not in fa else f"-{fa[k]}" if k not in fb else
                         f"{fa[k]} → {fb[k].split(' ', 1)[1]}")
    return f"{name}: " + "; ".join(parts) if parts else name


def _records(graph: OpGraph, variant) -> dict[str, dict]:
    """The old version's node records of a variant, by identity: what `impact` compares against."""
    g = graph.graph
    return {identity(g, k): node_record(g, k) for k in closure(g, targets(variant))}


def rerenders(old: OpGraph, new: OpGraph) -> list[Rerender]:
    """What building the new version after the old one re-renders, per variant: the plan a build
    would make with the old version's results in its cache (`brief.lang.impact`, the same answer)."""
    out = []
    old_variants = {v.name: v for v in old.variants}
    for v in new.variants:
        before = old_variants.get(v.name)
        previous = _records(old, before) if before else {}
        found = impact(new.graph, v, old.graph.has_node, previous)
        nodes = [(s.op, s.label + ((" (reuses its result)" if s.op == "check" else " (reuses its pixels)")
                                   if s.reuse else ""), s.share) for s in found.steps]
        out.append(Rerender(v.name, nodes, found.share))
    return out


def diff(old_module: ast.Module, new_module: ast.Module, old_graph: OpGraph, new_graph: OpGraph) -> BriefDiff:
    return BriefDiff(structural(old_module, new_module) + file_changes(old_graph, new_graph),
                     rerenders(old_graph, new_graph))
