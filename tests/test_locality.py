"""Locality, as a property: after any single-setting edit of one component, every pixel outside
the union of re-rendered regions is bit-identical to the previous render (hypothesis)."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brief.lang.compile import LAYER_OPS, PIXEL_OPS
from brief.runtime.render.plan import identity
from runtime_helpers import build, pixels

BASE = {
    "sky": {"prompt": '"summer park"', "region": "full"},
    "kite": {"prompt": '"a red kite"', "region": "box 55% 5% 90% 40%", "z": "3"},
    "bird": {"prompt": '"a bird"', "region": "box 5% 5% 25% 30%", "z": "4", "context": "none"},
    "product": {"asset": '"assets/product.png"', "region": "box 30% 50% 70% 95%", "z": "5"},
    "badge": {"prompt": '"sale badge"', "region": "anchor bottom-right 20% x 20% margin 4px", "z": "6"},
}
EDITS = '  edit tidy {\n    remove box 2% 80% 12% 95%\n  }\n  edit tone {\n    recolor product to #1A5FB4\n  }\n'


def render(components: dict) -> str:
    lines = ["brief scene {", "  canvas 256 x 192", "  seed 3"]
    for name, settings_ in components.items():
        lines.append(f"  component {name} {{")
        lines += [f"    {k} {v}" for k, v in settings_.items()]
        lines.append("  }")
    return "\n".join(lines) + "\n" + EDITS + "}\n"


@st.composite
def single_edit(draw):
    name = draw(st.sampled_from(sorted(BASE)))
    comp = dict(BASE[name])
    kind = draw(st.sampled_from(["prompt", "move", "seed", "opacity", "z"] if "prompt" in comp else
                                ["move", "opacity", "z", "fit"]))
    if kind == "prompt":
        comp["prompt"] = f'"{draw(st.sampled_from(["autumn", "winter", "blue", "gold"]))} {name}"'
    elif kind == "move" and comp["region"] != "full":
        x, y = draw(st.integers(0, 60)), draw(st.integers(0, 60))
        comp["region"] = f"box {x}% {y}% {x + draw(st.integers(10, 40))}% {y + draw(st.integers(10, 40))}%"
    elif kind == "seed":
        comp["seed"] = str(draw(st.integers(0, 999)))
    elif kind == "opacity":
        comp["opacity"] = draw(st.sampled_from(["50%", "0.8", "0.25"]))
    elif kind == "z":
        comp["z"] = str(draw(st.integers(-2, 9)))
    else:
        comp["fit"] = draw(st.sampled_from(["cover", "stretch"]))
    return name, comp


def rerendered_mask(built) -> np.ndarray:
    """Where pixels may differ from the previous build: every pixel node whose key changed (run now,
    or found in the cache from an earlier example), at its region, and for layers where they were.
    Edits the executor reused are left out: they must not change anything."""
    (b,) = built
    W, H = b.variant.canvas
    mask = np.zeros((H, W), bool)
    for key in nx.ancestors(b.graph, b.variant.export):
        a = b.graph.nodes[key]
        prev = b.plan.previous.get(identity(b.graph, key))
        if a["op"] not in PIXEL_OPS or key in b.run.reused or (prev and prev["key"] == key):
            continue
        boxes = [a["region"]]
        if a["op"] in LAYER_OPS and prev and prev.get("region"):
            boxes.append(prev["region"])
        for x0, y0, x1, y1 in boxes:
            mask[y0:y1, x0:x1] = True
    return mask


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=single_edit())
def test_pixels_outside_rerendered_regions_are_bit_identical(project, change):
    build(project, render(BASE))
    before = pixels(project.root / "out" / "scene" / "main.png")
    name, comp = change
    built = build(project, render({**BASE, name: comp}))
    after = pixels(project.root / "out" / "scene" / "main.png")
    outside = ~rerendered_mask(built)
    assert np.array_equal(before[outside], after[outside])
