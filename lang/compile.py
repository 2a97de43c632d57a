"""Compiling: a checked program → the operation graph (a `networkx.DiGraph`), one sub-graph per
variant, all in one graph so that variants share every node they have in common.

Owns the ops each construct becomes, their parameters, their honest dependencies and their Merkle
keys. A node's id is the sha256 of canonical JSON of (op, op version, params, input ids, backend
lock), so it changes exactly when something it depends on changes, and never because of a comment
or whitespace. Attributes: `op`, `params`, `inputs` (ordered), `lock`, `region` (the canvas box it may
touch, or None), `span` (file:line:col), `label` and `files` (paths the runtime reads, relative to
the project root; not keyed: a moved asset with the same bytes is the same node).
"""

from __future__ import annotations

import hashlib
import itertools
import math
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import networkx as nx

from . import ast
from .scope import Scope, brand_colors, brief_brand, placeholders, scopes
from .geometry import (CONTEXT_PAD, Box, GridIndex, canvas_size, component_boxes, edit_read_pad, grow, intersects,
                       length, region_box)
from .load import Program
from .parser import paused_gc
from .paths import file_sha256, resolve

# 2: assets and masks read upright, in sRGB, 16-bit scaled (runtime/render/images.py); old results stale
OP_VERSIONS = {
    "encode_prompt": 1, "load_asset": 2, "generate": 2, "composite": 1, "inpaint": 2, "remove": 2,
    "recolor": 1, "harmonize": 1, "outpaint": 3, "reframe": 2, "check": 1, "export": 1,
}
# reframe 2, outpaint 3: made tile by tile (runtime/render/formats.py): other resampling, the border's padding;
# a model repaints each margin from the strip beside it
DEFAULTS: dict[str, Any] = {"seed": 0, "steps": 20, "strength": 1, "context": "scene", "fit": "contain", "opacity": 1,
            "within": 2, "clearspace": 0.5, "safezone": 5, "palette_within": 5, "palette_coverage": 80}
DEFAULT_OUTPUT = "main"
THUMBNAIL = 160  # px, the longest side of the canvas image whole-image rules measure


def canonical_json(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def node_key(op: str, params: dict, inputs: list[str], lock: dict) -> str:
    payload = {"op": op, "version": OP_VERSIONS[op], "params": params, "inputs": inputs, "lock": lock}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def _n(value: float) -> int | float:
    """A number as it goes into params: whole numbers as ints, so `1` and `1.0` key the same."""
    return int(value) if float(value).is_integer() else float(value)


def derived_seed(base: int, name: str) -> int:
    """A per-block seed from the brief's seed and the block's name: adding a component elsewhere
    does not reseed this one."""
    return int.from_bytes(hashlib.sha256(f"{base}:{name}".encode()).digest()[:4], "big")


def hex6(text: str) -> str:
    digits = text[1:].upper()
    return "#" + ("".join(ch * 2 for ch in digits) if len(digits) == 3 else digits)


def interpolate(text: str, values: dict[str, str]) -> str:
    out, last = [], 0
    for name, offset, size in placeholders(text):
        out.append(text[last:offset].replace("{{", "{").replace("}}", "}"))
        out.append(values.get(name or "", ""))
        last = offset + size
    out.append(text[last:].replace("{{", "{").replace("}}", "}"))
    return "".join(out)




@dataclass
class Variant:
    name: str  # runner[season=autumn]
    brief: str
    file: str
    axes: dict[str, str]
    canvas: tuple[int, int]
    backend: dict
    layers: dict[str, str] = field(default_factory=dict)  # component → its layer node
    image: str = ""  # the canvas after composition and edits
    outputs: dict[str, str] = field(default_factory=dict)
    checks: list[str] = field(default_factory=list)
    export: str = ""


@dataclass
class OpGraph:
    graph: nx.DiGraph
    variants: list[Variant]


def declared_backend(backend: ast.Backend | None) -> dict:
    if backend is None:
        return {"backend": "draft"}
    lock = {"backend": backend.name.value}
    if backend.model is not None:
        lock["model"] = backend.model.value
    if backend.revision is not None:
        lock["revision"] = backend.revision.value
    return lock


class _Graph:
    """The graph being built, and the hashes of files already read (each is read once)."""

    def __init__(self, program: Program):
        self.program = program
        self.graph: nx.DiGraph = nx.DiGraph()
        self._files: dict[tuple[str, str], tuple[str, str]] = {}
        self._rel: dict[str, str] = {}
        self._root = os.path.realpath(program.root)

    def add(self, op: str, params: dict, inputs: list[str], lock: dict, *, region: Box | None,
            span: ast.Span, label: str, files: dict | None = None, reads: Sequence[Box] = ()) -> str:
        key = node_key(op, params, inputs, lock)
        if key not in self.graph:
            self.graph.add_node(key, op=op, params=params, inputs=list(inputs), lock=lock,
                                region=list(region) if region else None, reads=[list(b) for b in reads],
                                span=f"{self.rel(span.file)}:{span.line}:{span.column}",
                                label=label, files=files or {})
            for i in inputs:
                self.graph.add_edge(i, key)
        return key

    def rel(self, path: str) -> str:
        """A path as the graph shows it: relative to the project root, so output is the same from
        any working directory and on any machine."""
        if path not in self._rel:
            self._rel[path] = Path(os.path.relpath(os.path.realpath(path), self._root)).as_posix()
        return self._rel[path]

    def file(self, module: ast.Module, written: str) -> tuple[str, str]:
        """(path relative to the project root, sha256 of its bytes) of a file a brief names; each
        file is resolved and read once per compile."""
        key = (module.path, written)
        if key not in self._files:
            found = resolve(self.program.dir_of(module), written, self.program.root, self.program.allow_outside)
            assert found.path is not None, "compile runs on checked programs"
            self._files[key] = (self.rel(str(found.path)), file_sha256(found.path))
        return self._files[key]


def variants_of(brief: ast.Brief) -> Iterator[dict[str, str]]:
    axes = brief.matrices
    for combo in itertools.product(*[m.values for m in axes]):
        yield {m.name.value: v.name.value for m, v in zip(axes, combo)}


def variant_name(brief: str, axes: dict[str, str]) -> str:
    return f"{brief}[{','.join(f'{k}={v}' for k, v in axes.items())}]" if axes else brief


def compile_program(program: Program, *, lock_for: Callable[[dict], dict] | None = None,
                    backend: str | None = None) -> OpGraph:
    """Compile every brief of the entry module; the program must have passed `check_program`.

    `lock_for` maps the declared backend (`{"backend": "diffusers", "model": …}`) to the full lock
    the runtime keys on (weight hashes, library versions); by default the declaration itself.
    `backend` overrides the briefs' backend by name (the CLI's `--backend`).
    """
    g = _Graph(program)
    scope = next(s for s in scopes(program) if s.module is program.module)
    variants = []
    with paused_gc():
        for brief in program.module.briefs:
            declared = declared_backend(brief.first(ast.Backend))
            if backend and backend != declared["backend"]:
                declared = {"backend": backend}
            lock = (lock_for or dict)(declared)
            for axes in variants_of(brief):
                variants.append(_VariantCompiler(g, scope, brief, axes, lock).run())
    return OpGraph(g.graph, variants)


class _VariantCompiler:
    """The nodes of one variant: layers in z order, the composite, edits, outputs, checks, export."""

    def __init__(self, g: _Graph, scope: Scope, brief: ast.Brief, axes: dict[str, str], lock: dict):
        self.g, self.scope, self.brief, self.lock = g, scope, brief, lock
        self.canvas = canvas_size(brief)
        self.short = min(self.canvas)
        text = {m.name.value: {v.name.value: v.text.value for v in m.values} for m in brief.matrices}
        self.values = {axis: text[axis][value] for axis, value in axes.items()}
        seed, steps = brief.first(ast.Seed), brief.first(ast.Steps)
        self.base_seed = int(seed.value.value) if seed else DEFAULTS["seed"]
        self.base_steps = int(steps.value.value) if steps else DEFAULTS["steps"]
        self.brand = brief_brand(scope, brief)
        self.colors = {name: hex6(c.color.text) for name, c in brand_colors(self.brand).items()}
        self.components = {c.name.value: c for c in brief.components}
        self.boxes = component_boxes(brief, self.canvas)
        self.v = Variant(variant_name(brief.name.value, axes), brief.name.value, g.rel(scope.module.path),
                         dict(axes), self.canvas, dict(lock))

    # helpers
    def add(self, op, params, inputs, *, region, span, label, files=None, reads=()) -> str:
        return self.g.add(op, params, inputs, self.lock, region=region, span=span, label=label, files=files,
                          reads=reads)

    def seed(self, block) -> int:
        s = block.first(ast.Seed)
        return int(s.value.value) if s else derived_seed(self.base_seed, block.name.value)

    def steps(self, block) -> int:
        s = block.first(ast.Steps)
        return int(s.value.value) if s else self.base_steps

    def strength(self, block) -> int | float:
        s = block.first(ast.Strength)
        return _n(s.value.value) if s else DEFAULTS["strength"]

    def encode(self, block) -> str:
        prompt, negative = block.first(ast.Prompt), block.first(ast.Negative)
        params = {"prompt": interpolate(prompt.text.value, self.values),
                  "negative": interpolate(negative.text.value, self.values) if negative else ""}
        return self.add("encode_prompt", params, [], region=None, span=prompt.span,
                        label=f"{block.keyword} {block.name.value}")

    def region_params(self, spec, box: Box) -> tuple[dict, list[str], dict]:
        """Params, extra inputs and files of a region: a mask's bytes, an around's layer."""
        W, H = self.canvas
        params: dict[str, Any] = {"canvas": [W, H], "box": list(box),
                                  "shape": type(spec).__name__.lower() if spec else "full"}
        inputs, files = [], {}
        if isinstance(spec, ast.Mask):
            files["mask"], params["mask_sha256"] = self.g.file(self.scope.module, spec.path.value)
        elif isinstance(spec, ast.Around):
            params["band"] = length(spec.band, self.short)
            inputs.append(self.v.layers[spec.component.value])
        return params, inputs, files

    # stages
    def run(self) -> Variant:
        v = self.v
        stacking = {c.name.value: (_int(c.first(ast.Z)), i) for i, c in enumerate(self.brief.components)}
        order = sorted(self.brief.components, key=lambda c: stacking[c.name.value])
        below = GridIndex(self.canvas)
        for comp in order:  # bottom to top, so the layers a component is generated over are known
            for item in _around_chain(comp, self.components, v.layers):  # what its region is drawn around first
                name = item.name.value
                v.layers[name] = self.layer(item, below, stacking[name])
                below.add(self.boxes[name], stacking[name], v.layers[name])
        v.layers = {c.name.value: v.layers[c.name.value] for c in order}  # bottom to top
        W, H = self.canvas
        image = self.add("composite", {"canvas": [W, H]}, [v.layers[c.name.value] for c in order],
                         region=(0, 0, W, H), span=self.brief.span, label=f"brief {self.brief.name.value}")
        for edit in self.brief.edits:
            image = self.edit(edit, image)
        v.image = image
        for out in self.brief.outputs:
            v.outputs[out.name.value] = self.output(out, image)
        if not self.brief.outputs:
            v.outputs[DEFAULT_OUTPUT] = image
        v.checks = [self.check(rule) for rule in self.brief.checks]
        inputs = list(dict.fromkeys([*v.outputs.values(), *v.layers.values(), *v.checks]))
        v.export = self.add("export", {"brief": self.brief.name.value, "variant": v.name,
                                       "outputs": list(v.outputs), "layers": list(v.layers)},
                            inputs, region=None, span=self.brief.span, label=f"export {v.name}")
        return v

    def layer(self, comp: ast.Component, below: GridIndex, stacking: tuple) -> str:
        name, box = comp.name.value, self.boxes[comp.name.value]
        region = comp.first(ast.Region)
        params, inputs, files = self.region_params(region.spec if region else None, box)
        params["opacity"] = _opacity(comp.first(ast.Opacity))
        feather = comp.first(ast.Feather)
        params["feather"] = length(feather.value, self.short) if feather else 0
        label = f"component {name}"
        asset = comp.first(ast.Asset)
        if asset:  # a placed image depends only on its bytes and placement
            files["asset"], params["sha256"] = self.g.file(self.scope.module, asset.path.value)
            fit = comp.first(ast.Fit)
            params["fit"] = fit.value.value if fit else DEFAULTS["fit"]
            return self.add("load_asset", params, inputs, region=box, span=comp.span, label=label, files=files)
        said = comp.first(ast.Context)
        context: str = said.value.value if said else DEFAULTS["context"]
        crop = grow(box, CONTEXT_PAD, self.canvas) if context == "scene" else box
        seen = below.below(crop, stacking) if context == "scene" else []  # the pixels it is generated over
        params.update(crop=list(crop), context=context, seed=self.seed(comp), steps=self.steps(comp),
                      strength=self.strength(comp))
        inputs = [self.encode(comp)] + inputs + [i for i in seen if i not in inputs]  # prompt, around, below
        return self.add("generate", params, inputs, region=box, span=comp.span, label=label, files=files,
                        reads=[crop] if seen else [])

    def edit(self, edit: ast.Edit, image: str) -> str:
        op, label = edit.ops[0], f"edit {edit.name.value}"
        if isinstance(op, (ast.Inpaint, ast.Remove)):
            box = region_box(op.region, self.canvas, self.boxes)
            params, inputs, files = self.region_params(op.region, box)
            inputs = [image] + inputs
            if isinstance(op, ast.Inpaint):
                params.update(seed=self.seed(edit), steps=self.steps(edit), strength=self.strength(edit))
                inputs.insert(1, self.encode(edit))
            return self.add(op.keyword, params, inputs, region=box, span=edit.span, label=label, files=files,
                            reads=[grow(box, edit_read_pad(self.lock["backend"], op.keyword), self.canvas)])
        name = op.component.value
        layer, box = self.v.layers[name], self.boxes[name]
        W, H = self.canvas
        if isinstance(op, ast.Recolor):
            sku = self.components[name].first(ast.SkuColor)
            params = {"canvas": [W, H], "box": list(box), "target": self.color(op.target),
                      "within": _n(sku.within.value) if sku else DEFAULTS["within"]}
            return self.add("recolor", params, [image, layer], region=box, span=edit.span, label=label,
                            reads=[box])
        band = length(op.band, self.short)
        grown = grow(box, band, self.canvas)
        return self.add("harmonize", {"canvas": [W, H], "box": list(grown), "band": band}, [image, layer],
                        region=grown, span=edit.span, label=label, reads=[grown])

    def color(self, target: ast.Name | ast.HexColor) -> str:
        return hex6(target.text) if isinstance(target, ast.HexColor) else self.colors[target.value]

    def output(self, out: ast.Output, image: str) -> str:
        W, H = self.canvas
        mode = out.mode.value
        params: dict[str, Any] = {"canvas": [W, H], "size": [_int(out.size.width), _int(out.size.height)],
                                  "mode": mode}
        if mode == "outpaint":
            params["seed"] = derived_seed(self.base_seed, f"output:{out.name.value}")
        return self.add("outpaint" if mode == "outpaint" else "reframe", params, [image], region=None,
                        reads=[(0, 0, W, H)],
                        span=out.span, label=f"output {out.name.value}")

    @property
    def thumb_size(self) -> tuple[int, int]:
        W, H = self.canvas
        s = min(1.0, THUMBNAIL / max(W, H))
        return max(1, round(W * s)), max(1, round(H * s))

    def thumbnail(self) -> str:
        """The canvas scaled to fit THUMBNAIL px (a `fit` format, made again only where it changed):
        what rules over the whole image measure."""
        W, H = self.canvas
        return self.add("reframe", {"canvas": [W, H], "size": list(self.thumb_size), "mode": "fit"}, [self.v.image],
                        region=None, reads=[(0, 0, W, H)], span=self.brief.span, label="thumbnail")

    def check(self, rule: ast.CheckRule) -> str:
        W, H = self.canvas
        v = self.v
        params: dict = {"rule": rule.keyword, "canvas": [W, H]}
        inputs = [v.image]
        brand_items = self.brand
        if isinstance(rule, ast.CheckPalette):  # measured on the canvas's thumbnail, kept up to date by tiles
            params.update(colors=self.colors,
                          within=_n(rule.within.value) if rule.within else DEFAULTS["palette_within"],
                          coverage=_n(rule.coverage.value) if rule.coverage else DEFAULTS["palette_coverage"])
            inputs = [self.thumbnail()]
        elif isinstance(rule, ast.CheckColor):
            sku = self.components[rule.component.value].first(ast.SkuColor)
            assert sku is not None, "checked: E311"
            params.update(component=rule.component.value, target=self.colors[sku.color.value],
                          color=sku.color.value, within=_n(sku.within.value))
            inputs.append(v.layers[rule.component.value])
        elif isinstance(rule, ast.CheckClearspace):
            brand_k = brand_items.first(ast.Clearspace) if brand_items else None
            k = rule.factor or (brand_k.value if brand_k else None)
            factor = _n(k.value) if k else DEFAULTS["clearspace"]
            name = rule.component.value
            logo_box = self.boxes[name]  # the zone can reach no further than the box grown by k × its height
            zone = grow(logo_box, math.ceil(factor * (logo_box[3] - logo_box[1])), self.canvas)
            near = [n for n in v.layers if n == name or intersects(self.boxes[n], zone)]
            params.update(component=name, factor=factor, layers=near)
            logo = brand_items.first(ast.Logo) if brand_items else None
            placed = self.g.graph.nodes[v.layers[rule.component.value]]["params"].get("sha256")
            if logo and placed:  # the bytes it measures, and the brand logo's they must be (E314 in lang/check.py)
                assert brand_items is not None
                brand_module = self.g.program.modules[os.path.realpath(brand_items.span.file)]
                params.update(sha256=placed, logo_sha256=self.g.file(brand_module, logo.path.value)[1])
            inputs += [v.layers[n] for n in near]
        elif isinstance(rule, ast.CheckSafezone):
            brand_m = brand_items.first(ast.Safezone) if brand_items else None
            margin = rule.margin or (brand_m.value if brand_m else None)
            px = length(margin, self.short) if margin else length(
                ast.Num(rule.span, DEFAULTS["safezone"], "%", ""), self.short)
            placed = [n for n in v.layers if self.components[n].first(ast.Asset)]  # what it measures
            params.update(margin=px, components=placed, layers=placed)
            inputs += [v.layers[n] for n in placed]
        elif isinstance(rule, ast.CheckMinsize):
            params.update(component=rule.component.value,
                          min=[length(rule.size.width, W), length(rule.size.height, H)])
            inputs.append(v.layers[rule.component.value])
        # what of its first input's pixels it measures (clear space, safe zone and size: layers only)
        reads = [(0, 0, *self.thumb_size)] if isinstance(rule, ast.CheckPalette) else \
            [self.boxes[rule.component.value]] if isinstance(rule, ast.CheckColor) else []
        named = getattr(rule, "component", None)  # `check color product`: one rule per component, told apart
        label = f"check {rule.keyword}" + (f" {named.value}" if named is not None else "")
        return self.add("check", params, inputs, region=None, span=rule.span, label=label,
                        reads=reads)


def _around_chain(comp: ast.Component, components: dict, done: dict) -> list[ast.Component]:
    """`comp` preceded by the not-yet-compiled components its `region around` refers to, innermost
    first. The checker guarantees the chain has no cycle and that none of them is generated over
    `comp` (which would be a cycle of pixels)."""
    chain: list[ast.Component] = []
    current: ast.Component | None = comp
    while current is not None and current.name.value not in done and current not in chain:
        chain.append(current)
        region = current.first(ast.Region)
        ref = region.spec.component.value if region and isinstance(region.spec, ast.Around) else None
        current = components.get(ref) if ref else None
    return chain[::-1]


def _int(item, default: int = 0) -> int:
    if item is None:
        return default
    num = item if isinstance(item, ast.Num) else item.value
    return int(num.value)


def _opacity(item: ast.Opacity | None) -> int | float:
    if item is None:
        return DEFAULTS["opacity"]
    return _n(item.value.value / 100.0 if item.value.unit == "%" else item.value.value)
