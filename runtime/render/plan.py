"""Planning: which nodes of a compiled graph must run, and why — Terraform-style.

A node runs when its result is not in the cache and something needs it: the outputs, layers and
checks of each variant are the targets, and a cached node's inputs are not needed at all. The
answer — which nodes run and why, which edits reuse their pixels, which pixels change — is
`brief.lang.impact`'s, the one `brief diff`, watch mode and its preview give too; this module
feeds it the cache and the last build of the variant (kept in the cache's state).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from brief.lang.compile import OpGraph, Variant
from brief.lang.geometry import Box
from brief.lang.impact import Step, identity, impact, node_record, targets  # noqa: F401  (re-exported)

from ..store.cache import Cache


def state_name(variant: Variant) -> str:
    return hashlib.sha256(f"{variant.file}\0{variant.name}".encode()).hexdigest()[:24]


@dataclass
class VariantPlan:
    variant: Variant
    needed: list[str]  # every node the variant's results depend on, in topological order
    steps: list[Step]  # the nodes that will run (edits reusing their pixels among them), in topological order
    cached: list[str]  # needed nodes whose results come from the cache
    pixel_share: float  # share of the canvas's pixels that will change
    previous: dict = field(default_factory=dict)  # the last build's node records, by identity
    checks: bool = True  # whether the brand checks are part of this build
    boxes: list[Box] = field(default_factory=list)  # canvas boxes whose pixels will change
    changed: dict[str, list[Box]] = field(default_factory=dict)  # per canvas image: where it differs
    input_changed: dict[str, list[Box]] = field(default_factory=dict)  # per node: where its canvas input did
    closure: list[str] = field(default_factory=list)  # every node of the variant: what its state records
    calls: int = 0  # the hosted API calls the steps will make at most (`hosted_calls`)

    @property
    def reused(self) -> set[str]:
        """Edits that take their last pixels instead of running."""
        return {s.key for s in self.steps if s.reuse}

    def summary(self) -> str:
        calls = f", {self.calls} hosted call{'s' if self.calls != 1 else ''}" \
            if self.variant.backend.get("backend") in _hosted() else ""
        return (f"{len(self.steps)} to render, {len(self.cached)} cached, "
                f"{self.pixel_share * 100:.1f}% of pixels{calls}")


def _hosted() -> tuple[str, ...]:
    from brief.lang.check import HOSTED

    return HOSTED


def plan_variant(opgraph: OpGraph, variant: Variant, cache: Cache, checks: bool = True,
                 made: set[str] | frozenset[str] = frozenset()) -> VariantPlan:
    """`checks=False` leaves the brand checks out (`--no-checks`); `made`: nodes that variants built
    before this one in the same run will have rendered (shared nodes are rendered once)."""
    previous = previous_nodes(cache.read_state(state_name(variant)))
    found = impact(opgraph.graph, variant, lambda k: k in made or cache.complete(k), previous, checks)
    return VariantPlan(variant, found.needed, found.steps, found.available, found.share, previous, checks,
                       found.boxes, found.changed, found.input_changed, found.closure,
                       hosted_calls(opgraph, found.steps))


def hosted_calls(opgraph: OpGraph, steps: list[Step]) -> int:
    """The API calls the nodes that run will make at most, as each one's backend counts them (one per
    picture or region, one per margin an out-paint paints; none for what is cached or reused)."""
    from ..backends import load_backend

    total = 0
    for s in steps:
        a = opgraph.graph.nodes[s.key]
        name = (a.get("lock") or {}).get("backend")
        if not s.reuse and name in _hosted():
            total += load_backend(name).calls(s.op, a["params"])
    return total


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


def plan(opgraph: OpGraph, cache: Cache, variants: list[Variant] | None = None,
         checks: bool = True) -> list[VariantPlan]:
    """The plan of every variant, in build order: what one variant renders, the next ones find."""
    made: set[str] = set()
    out = []
    for v in variants or opgraph.variants:
        out.append(plan_variant(opgraph, v, cache, checks, made=made))
        made |= {s.key for s in out[-1].steps}
    return out


def state_record(opgraph: OpGraph, variant_plan: VariantPlan) -> dict:
    """What the next plan compares against: every node of the variant as this build has it, cached
    or not, by identity — this build's, whole (records of earlier builds would be baselines of
    another canvas)."""
    g = opgraph.graph
    return {"variant": variant_plan.variant.name,
            "nodes": {identity(g, key): node_record(g, key) for key in variant_plan.closure}}
