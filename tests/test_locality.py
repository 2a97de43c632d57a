"""One answer to "what does this change touch" (lang/impact.py), as properties over random single
edits: `brief diff` predicts the very nodes `brief plan` plans and the executor runs, with the same
edits reusing their pixels and the same share of the canvas; every pixel outside the boxes that
answer gives is bit-identical to the previous render; and the incremental render equals a clean
one, so no edit reused pixels it should have made again (hypothesis)."""

from __future__ import annotations

import json
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


# ── sequences of builds whose incremental result must equal a clean one ─────────────────────────

SCENE_EDITS = render(BASE).replace("  canvas 256 x 192\n", "  canvas 256 x 192\n  output square 160 x 160 outpaint\n")


def _same_as_clean(project, tmp_path, texts, checks_flags=None):
    """Build `texts` one after another in one cache; the last must equal a clean build of it."""
    path = project.root / "scene.brief"
    flags = checks_flags or [True] * len(texts)
    for text, checks in zip(texts, flags):
        path.write_text(text)
        build_file(path, Options(cache=project.root / "cache", out=project.root / "out", checks=checks))
    build_file(path, Options(cache=tmp_path / "clean", out=tmp_path / "clean-out"))
    for name in ("canvas.png", "square.png"):
        got, want = project.root / "out" / "scene" / name, tmp_path / "clean-out" / "scene" / name
        if want.exists():
            assert got.read_bytes() == want.read_bytes(), f"{name} differs from a clean build"


def test_moving_removing_and_reordering_edits_equal_a_clean_build(project, tmp_path):
    moved = SCENE_EDITS.replace("remove box 2% 80% 12% 95%", "remove box 40% 55% 50% 65%")
    removed = SCENE_EDITS.replace("  edit tidy {\n    remove box 2% 80% 12% 95%\n  }\n", "")
    tidy = "  edit tidy {\n    remove box 2% 80% 12% 95%\n  }\n"
    reordered = SCENE_EDITS.replace(tidy, "").replace("  edit tone {", tidy + "  edit tone {")
    reordered = reordered.replace("  edit shade {", "  edit zzz {").replace("  edit tone {", "  edit shade2 {")
    for name, later in (("moved", moved), ("removed", removed), ("reordered", reordered)):
        shutil.rmtree(project.root / "cache", ignore_errors=True)
        shutil.rmtree(project.root / "out", ignore_errors=True)
        try:
            _same_as_clean(project, tmp_path / name, [SCENE_EDITS, later])
        except AssertionError as exc:
            raise AssertionError(f"{name}: {exc}") from None


def test_back_and_forth_then_a_new_change_equals_a_clean_build(project, tmp_path):
    a = SCENE_EDITS.replace("box 55% 5% 90% 40%", "box 40% 40% 60% 60%").replace(  # both inside the border
        "  edit tidy {", '  component spot {\n    prompt "a spot"\n    region box 20% 35% 30% 45%\n    z 7\n  }\n'
                         "  edit tidy {")
    b = a.replace('"a red kite"', '"a blue kite"')
    c = b.replace('"a spot"', '"a green spot"')
    _same_as_clean(project, tmp_path, [a, b, a, c])


def test_a_build_without_checks_leaves_no_stale_baseline(project, tmp_path):
    a = ("brand b {\n  color red #C8102E\n  color cream #F5E6CC\n}\n" +
         SCENE_EDITS.replace("  seed 3\n", "  seed 3\n  brand b\n  check palette\n  check color product\n")
         .replace('    asset "assets/product.png"\n', '    asset "assets/product.png"\n    color red within 2\n')
         .replace("recolor product to #1A5FB4", "recolor product to red"))
    b = a.replace("recolor product to red", "recolor product to cream")
    _same_as_clean(project, tmp_path, [a, b, b], [True, False, True])
    got = json.loads((project.root / "out" / "scene" / "report.json").read_text())["checks"]
    want = json.loads((tmp_path / "clean-out" / "scene" / "report.json").read_text())["checks"]
    assert [c["measured"] for c in got] == [c["measured"] for c in want]


def test_undo_reports_the_pixels_that_change(project):
    path = project.root / "scene.brief"
    options = Options(cache=project.root / "cache", out=project.root / "out")
    for text in (SCENE_EDITS, SCENE_EDITS.replace('"a red kite"', '"a blue kite"')):
        path.write_text(text)
        build_file(path, options)
    path.write_text(SCENE_EDITS)  # back: everything is in the cache
    _, (plan,) = plan_file(path, options)
    assert not plan.steps and plan.pixel_share > 0.05, "the kite's pixels change back"


@st.composite
def variation(draw):
    """A version of the scene: components changed as above, and its edits moved, dropped or reordered."""
    name, comp = draw(single_edit())
    components = {k: v for k, v in {**BASE, name: comp}.items() if v is not None}
    edits = [("tidy", "    remove box 2% 80% 12% 95%\n"),
             ("shade", '    inpaint box 70% 60% 98% 75%\n    prompt "soft shadow"\n'),
             ("tone", "    recolor product to #1A5FB4\n")]
    if draw(st.booleans()):
        i = draw(st.integers(0, 1))
        x, y = draw(st.integers(0, 80)), draw(st.integers(0, 80))
        edits[i] = (edits[i][0], edits[i][1].replace(*(("2% 80% 12% 95%", f"{x}% {y}% {x + 10}% {y + 10}%") if i == 0
                                                      else ("70% 60% 98% 75%", f"{x}% {y}% {x + 15}% {y + 12}%"))))
    if draw(st.booleans()):
        edits = draw(st.permutations(edits))
    edits = [e for e in edits if not (e[0] != "tone" and draw(st.integers(0, 4)) == 0)]
    if "product" not in components:
        edits = [e for e in edits if e[0] != "tone"]
    body = "".join(f"  edit {n} {{\n{b}  }}\n" for n, b in edits)
    return render(components).replace(EDITS, body).replace("  canvas 256 x 192\n",
                                                           "  canvas 256 x 192\n  output sq 160 x 160 outpaint\n")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(versions=st.lists(variation(), min_size=2, max_size=3))
def test_any_sequence_of_versions_builds_like_a_clean_build(project, versions):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = project.root / "scene.brief"
        for i, text in enumerate(versions):
            path.write_text(text)
            build_file(path, Options(cache=root / "cache", out=root / "out"))
            build_file(path, Options(cache=root / f"clean{i}", out=root / f"clean{i}-out"))
            for name in ("canvas.png", "sq.png"):
                assert (root / "out" / "scene" / name).read_bytes() == \
                    (root / f"clean{i}-out" / "scene" / name).read_bytes(), f"version {i}: {name}"


def test_an_edit_moved_after_another_repaints_where_it_painted_before(project):
    """Found by the property test above: `shade` in-painted left of `tidy`'s region, before it; moved
    to the right and after it, the pixels `tidy` reads are no longer shade's, so `tidy` runs again
    (it reused its last pixels, and the incremental canvas differed from a clean build's)."""
    first = ('  edit shade {\n    inpaint box 0% 61% 15% 73%\n    prompt "soft shadow"\n  }\n'
             '  edit tone {\n    recolor product to #1A5FB4\n  }\n'
             '  edit tidy {\n    remove box 2% 80% 12% 95%\n  }\n')
    second = ('  edit tone {\n    recolor product to #1A5FB4\n  }\n'
              '  edit tidy {\n    remove box 2% 80% 12% 95%\n  }\n'
              '  edit shade {\n    inpaint box 70% 60% 98% 75%\n    prompt "soft shadow"\n  }\n')
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        path = project.root / "scene.brief"
        for i, edits in enumerate((first, second)):
            path.write_text(render(BASE).replace(EDITS, edits))
            build_file(path, Options(cache=root / "cache", out=root / "out"))
            build_file(path, Options(cache=root / f"clean{i}", out=root / f"clean{i}-out"))
            assert (root / "out" / "scene" / "main.png").read_bytes() == \
                (root / f"clean{i}-out" / "scene" / "main.png").read_bytes(), f"version {i}"
