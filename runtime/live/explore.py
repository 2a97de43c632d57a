"""Candidates, not re-rolls (`brief explore`): N seeds of one generated component, each rendered alone
in its own crop (the cost is about N times that component's, not N full builds), shown over the
variant's last canvas, side by side; and the pick, written back into the brief as `seed N` so the
next build takes the chosen candidate's cached pixels and renders nothing new for it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path


@dataclass
class Candidate:
    seed: int
    node: str  # the component's layer node with this seed: what a build with `seed N` reuses
    file: Path  # the candidate over the canvas, in the component's crop
    rendered: bool  # made now (else it was in the cache)


def explore(path: Path, options, component: str, seeds: list[int], variant: str | None = None) -> list[Candidate]:
    """Render `component` with each seed, for one variant (the first, or the one named)."""
    from brief.lang.diagnostics import error
    from brief.lang.edit import set_seed
    from brief.lang.load import read_source

    from ..build import build_shared, compile_file, out_root, select_variants
    from ..conditions import UsageError
    from ..deliver.pngstream import tag_srgb
    from ..store.png import png_bytes

    text = read_source(str(path))
    base = compile_file(path, replace(options, variants=[]))
    chosen = select_variants(base.variants, [variant] if variant else [])[:1]
    if not chosen or component not in chosen[0].layers:
        raise UsageError([error("E431", f"no component `{component}` in {chosen[0].name if chosen else path}",
                                f"Components: {', '.join(chosen[0].layers) if chosen else 'none'}.", None)])
    v = chosen[0]
    if base.graph.graph.nodes[v.layers[component]]["op"] != "generate":
        raise UsageError([error("E432", f"`{component}` is not generated: it has no seed to explore",
                                "Explore a component with a prompt.", None)])
    folder = out_root(path, options) / "@candidates" / v.name / component  # "@": no brief's folder is named so
    folder.mkdir(parents=True, exist_ok=True)
    canvas = _canvas(out_root(path, options) / v.name / "canvas.png", v.canvas)
    found = []
    for seed in seeds:
        edited = set_seed(text, str(path), v.brief, component, seed)
        compiled = _compiled_text(path, edited, options)
        mine = next(x for x in compiled.variants if x.name == v.name)
        key = mine.layers[component]
        _, ran = build_shared(path, options, keys=[key], compiled=replace(compiled, variants=[mine]))
        layer = _layer(path, options, compiled, mine, key)
        box = tuple(compiled.graph.graph.nodes[key]["region"])
        file = folder / f"seed-{seed}.png"
        file.write_bytes(tag_srgb(png_bytes(_over(canvas, layer, box))))
        found.append(Candidate(seed, key, file, bool(ran)))
    return found


def _compiled_text(path: Path, text: str, options):
    from ..build import compile_file

    return compile_file(path, replace(options, variants=[]), text=text)  # the file itself is not touched


def _layer(path: Path, options, compiled, variant, key):
    from ..backends import load_backend
    from ..build import cache_for
    from ..progress import Quiet
    from ..render.execute import Executor
    from ..render.plan import plan_variant

    cache = cache_for(path, options)
    plan = plan_variant(compiled.graph, variant, cache, False)
    executor = Executor(compiled.graph, cache, load_backend(variant.backend["backend"]).OPS, compiled.program.root,
                        Quiet(), options.backend_options, None)
    return executor.result(key, plan)


def _canvas(png: Path, size: tuple[int, int]):
    import numpy as np
    from PIL import Image

    if png.is_file():
        with Image.open(png) as im:
            return np.asarray(im.convert("RGB")).copy()
    out = np.full((size[1], size[0], 3), 255, np.uint8)  # not built yet: over white
    return out


def _over(canvas, layer, box):
    from ..render import imaging

    x0, y0, x1, y1 = box
    crop = canvas[y0:y1, x0:x1].copy()
    imaging.blend_into(crop, box, layer)
    return crop
