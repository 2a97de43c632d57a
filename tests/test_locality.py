"""One answer to "what does this change touch" (lang/impact.py), as properties over random single
edits: `brief diff` predicts the very nodes `brief plan` plans and the executor runs, with the same
edits reusing their pixels and the same share of the canvas; every pixel outside the boxes that
answer gives is bit-identical to the previous render; and the incremental render equals a clean
one, so no edit reused pixels it should have made again (hypothesis)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from brief.lang.check import check_program
from brief.lang.compile import compile_program
from brief.lang.diff import rerenders
from brief.lang.load import load
from brief.runtime.build import Options, build_file, plan_file
from runtime_helpers import pixels

BASE = {
    "sky": {"prompt": '"summer park"', "region": "full"},
    "kite": {"prompt": '"a red kite"', "region": "box 55% 5% 90% 40%", "z": "3"},
    "bird": {"prompt": '"a bird"', "region": "box 5% 5% 25% 30%", "z": "4", "context": "none"},
    "product": {"asset": '"assets/product.png"', "region": "box 30% 50% 70% 95%", "z": "5"},
    "badge": {"prompt": '"sale badge"', "region": "anchor bottom-right 20% x 20% margin 4px", "z": "6"},
}
EDITS = ('  edit tidy {\n    remove box 2% 80% 12% 95%\n  }\n  edit shade {\n    inpaint box 70% 60% 98% 75%\n'
         '    prompt "soft shadow"\n  }\n  edit tone {\n    recolor product to #1A5FB4\n  }\n')


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
    kind = draw(st.sampled_from(["prompt", "move", "seed", "opacity", "z", "remove"] if "prompt" in comp else
                                ["move", "opacity", "z", "fit", "remove"]))
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
    elif kind == "fit":
        comp["fit"] = draw(st.sampled_from(["cover", "stretch"]))
    return name, (None if kind == "remove" and name != "product" else comp)  # product: `recolor` needs it


def compiled(path: Path, text: str):
    path.write_text(text)
    program = load(path)
    check_program(program)
    return program, compile_program(program)


def changed_mask(boxes, canvas) -> np.ndarray:
    W, H = canvas
    mask = np.zeros((H, W), bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=single_edit())
def test_diff_plan_and_executor_give_one_answer_and_pixels_outside_it_stay(project, change):
    name, comp = change
    new_components = {k: v for k, v in {**BASE, name: comp}.items() if v is not None}
    with tempfile.TemporaryDirectory() as tmp:  # a cache that holds the old version only
        cache, out = Path(tmp) / "cache", Path(tmp) / "out"
        options = Options(cache=cache, out=out)
        path = project.root / "scene.brief"
        _, old_graph = compiled(path, render(BASE))
        build_file(path, options)
        before = pixels(out / "scene" / "main.png")
        _, new_graph = compiled(path, render(new_components))
        (predicted,) = rerenders(old_graph, new_graph)
        _, (plan,) = plan_file(path, options)
        (built,) = build_file(path, options)
        after = pixels(out / "scene" / "main.png")
        shutil.rmtree(cache)
        build_file(path, Options(cache=Path(tmp) / "clean", out=Path(tmp) / "clean-out"))
        clean = pixels(Path(tmp) / "clean-out" / "scene" / "main.png")

    said = {(op, label.removesuffix(" (reuses its pixels)"), label.endswith("(reuses its pixels)"))
            for op, label, _ in predicted.nodes}
    planned = {(s.op, s.label, s.reuse) for s in plan.steps}
    g = built.graph
    ran = {(g.nodes[k]["op"], g.nodes[k]["label"], k in built.run.reused) for k in built.run.ran}
    assert said == planned == ran
    assert predicted.share == plan.pixel_share == built.plan.pixel_share
    outside = ~changed_mask(built.plan.boxes, built.variant.canvas)
    assert np.array_equal(before[outside], after[outside])
    assert np.array_equal(after, clean), "an edit reused its pixels where it should have run"
