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
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import networkx as nx

from . import ast, matrix
from .scope import Scope, brand_colors, brief_brand, scopes
from .geometry import (CONTEXT_PAD, Box, GridIndex, canvas_size, component_boxes, edit_read_pad, grow, length,
                       region_box)
from .check_backend import declared_backend
from .compile_checks import check
from .compile_outputs import Frame, delivery, output
from .load import Program
from .parser import paused_gc
from .paths import file_sha256, resolve

# 2: assets and masks read upright, in sRGB, 16-bit scaled (runtime/render/images.py); old results stale
OP_VERSIONS = {
    "encode_prompt": 1, "load_asset": 2, "generate": 2, "composite": 1, "inpaint": 2, "remove": 2,
    "recolor": 1, "harmonize": 1, "outpaint": 3, "reframe": 2, "check": 1, "export": 1, "text": 1,
    "layout": 1, "reframe_layer": 1, "refine": 1,
}
# reframe 2, outpaint 3: made tile by tile (runtime/render/formats.py): other resampling, the border's padding;
# a model repaints each margin from the strip beside it
DEFAULTS: dict[str, Any] = {"seed": 0, "steps": 20, "strength": 1, "context": "scene", "fit": "contain", "opacity": 1,
            "within": 2, "clearspace": 0.5, "safezone": 5, "palette_within": 5, "palette_coverage": 80}
DEFAULT_OUTPUT = "main"


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
    delivery: dict[str, dict] = field(default_factory=dict)  # output → its format and file name
    formats: dict[str, dict] = field(default_factory=dict)  # output → its size, mode and line (file:line:col)
    checks: list[str] = field(default_factory=list)
    export: str = ""


@dataclass
class OpGraph:
    graph: nx.DiGraph
    variants: list[Variant]


class _Graph:
    """The graph being built, and the hashes of files already read (each is read once)."""

    def __init__(self, program: Program, text_engine: Callable[[], dict] | None = None):
        self.program = program
        self._text_engine = text_engine
        self._engine: dict | None = None
        self.graph: nx.DiGraph = nx.DiGraph()
        self._files: dict[tuple[str, str], tuple[str, str]] = {}
        self._rel: dict[str, str] = {}
        self._root = os.path.realpath(program.root)

    def add(self, op: str, params: dict, inputs: list[str], lock: dict, *, region: Box | None,
            span: ast.Span, label: str, files: dict | None = None, reads: Sequence[Box] = (),
            space: str | None = None) -> str:
        key = node_key(op, params, inputs, lock)
        if key not in self.graph:
            self.graph.add_node(key, op=op, params=params, inputs=list(inputs), lock=lock,
                                region=list(region) if region else None, reads=[list(b) for b in reads],
                                space=space,
                                span=f"{self.rel(span.file)}:{span.line}:{span.column}",
                                label=label, files=files or {})
            for i in inputs:
                self.graph.add_edge(i, key)
        return key

    def text_engine(self) -> dict:
        if self._engine is None:
            self._engine = self._text_engine() if self._text_engine else {"layout": "unpinned"}
        return self._engine

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


def variant_name(brief: str, axes: dict[str, str]) -> str:
    return f"{brief}[{','.join(f'{k}={v}' for k, v in axes.items())}]" if axes else brief


def compile_program(program: Program, *, lock_for: Callable[[dict], dict] | None = None,
                    backend: str | None = None, text_engine: Callable[[], dict] | None = None) -> OpGraph:
    """Compile every brief of the entry module; the program must have passed `check_program`.

    `lock_for` maps the declared backend (`{"backend": "diffusers", "model": …}`) to the full lock
    the runtime keys on (weight hashes, library versions); by default the declaration itself.
    `backend` overrides the briefs' backend by name (the CLI's `--backend`). `text_engine` says
    what typesets text here (layout engine, Pillow and FreeType versions: part of a text node's key);
    asked once, and only when a brief has text.
    """
    g = _Graph(program, text_engine)
    scope = next(s for s in scopes(program) if s.module is program.module)
    variants = []
    with paused_gc():
        for brief in program.module.briefs:
            declared = declared_backend(brief.first(ast.Backend))
            if backend and backend != declared["backend"]:
                declared = {"backend": backend}
            lock = (lock_for or dict)(declared)
            locks: dict[str, dict] = {}

            def lock_with(extra: dict, declared=declared, locks=locks) -> dict:
                """The lock of a node that also depends on more than the model (a ControlNet folder):
                only that node, and what follows from it, keys on it."""
                key = repr(sorted(extra.items()))
                if key not in locks:
                    locks[key] = (lock_for or dict)({**declared, **extra})
                return locks[key]

            for chosen in matrix.variants_of(brief):
                variants.append(_VariantCompiler(g, scope, brief, chosen, lock, lock_with).run())
    return OpGraph(g.graph, variants)


class _VariantCompiler:
    """The nodes of one variant: layers in z order, the composite, edits, outputs, checks, export."""

    def __init__(self, g: _Graph, scope: Scope, brief: ast.Brief, chosen: dict[str, ast.MatrixValue], lock: dict,
                 lock_with: Callable[[dict], dict] | None = None):
        self.g, self.scope, self.brief, self.lock = g, scope, brief, lock
        self.lock_with = lock_with or (lambda extra: {**lock, **extra})
        self.canvas = canvas_size(brief)
        self.short = min(self.canvas)
        self.chosen = chosen
        axes = {axis: value.name.value for axis, value in chosen.items()}
        self.values = matrix.bindings(chosen)
        seed, steps = brief.first(ast.Seed), brief.first(ast.Steps)
        self.base_seed = int(seed.value.value) if seed else DEFAULTS["seed"]
        self.base_steps = int(steps.value.value) if steps else DEFAULTS["steps"]
        self.brand = brief_brand(scope, brief)
        self.colors = {name: hex6(c.color.text) for name, c in brand_colors(self.brand).items()}
        self.fonts = {f.name.value: f for f in self.brand.all(ast.BrandFont)} if self.brand else {}
        self.components = {c.name.value: c for c in brief.components}
        self.boxes = component_boxes(brief, self.canvas)
        self.v = Variant(variant_name(brief.name.value, axes), brief.name.value, g.rel(scope.module.path),
                         dict(axes), self.canvas, dict(lock))

    # helpers
    def add(self, op, params, inputs, *, region, span, label, files=None, reads=(), space=None,
            lock: dict | None = None) -> str:
        """A node; `space`: the output whose pixels it works in (None: the canvas); `lock`: its own, when
        it depends on more than the brief's model (a ControlNet)."""
        return self.g.add(op, params, inputs, lock or self.lock, region=region, span=span, label=label,
                          files=files, reads=reads, space=space)

    def seed(self, block) -> int:
        s = block.first(ast.Seed)
        return int(s.value.value) if s else derived_seed(self.base_seed, block.name.value)

    def steps(self, block) -> int:
        s = block.first(ast.Steps)
        return int(s.value.value) if s else self.base_steps

    def strength(self, block) -> int | float:
        s = block.first(ast.Strength)
        return _n(s.value.value) if s else DEFAULTS["strength"]

    def controls(self, block) -> dict:
        """A model's generation controls for a component or an edit, where written (the block's, else
        the brief's): nothing when none is, so a brief without them keys as before."""
        out: dict = {}
        guidance = block.first(ast.Guidance) or self.brief.first(ast.Guidance)
        if guidance is not None:
            out["guidance"] = _n(guidance.value.value)
        scheduler = block.first(ast.Scheduler) or self.brief.first(ast.Scheduler)
        if scheduler is not None:
            out["scheduler"] = scheduler.value.value
        resolution = block.first(ast.Resolution)
        if resolution is not None and resolution.value.value != "native":
            out["resolution"] = resolution.value.value
        loras = self.loras(block)
        if loras:
            out["loras"] = loras
        return out

    def loras(self, block) -> list[list]:
        """The LoRAs a block is generated with: the brief's, then its own, each [path, sha256, weight]
        (the bytes key the node; the path, relative to the project root, is where the runtime reads them)."""
        found = []
        for lora in [*self.brief.all(ast.Lora), *(block.all(ast.Lora) if isinstance(block, ast.Component) else ())]:
            rel, sha = self.g.file(self.scope.module, lora.path.value)
            found.append([rel, sha, _n(lora.weight.value)])
        return found

    @staticmethod
    def lora_files(params: dict) -> dict[str, str]:
        """The node's `files` entries of its LoRAs (`lora0`, `lora1`, …: where the runtime reads them)."""
        return {f"lora{i}": lora[0] for i, lora in enumerate(params.get("loras", []))}

    def encode(self, block) -> str:
        prompt, negative = block.first(ast.Prompt), block.first(ast.Negative)
        params: dict = {"prompt": self.text(prompt.text), "negative": self.text(negative.text) if negative else ""}
        loras = self.loras(block)  # a LoRA may change the text encoders too
        if loras:
            params["loras"] = loras
        return self.add("encode_prompt", params, [], region=None, span=prompt.span,
                        label=f"{block.keyword} {block.name.value}", files=self.lora_files(params))

    def text(self, s: ast.Str) -> str:
        """A string of the brief with this variant's placeholders filled in."""
        return matrix.interpolate(s.value, self.values)

    def region_params(self, spec, box: Box, frame: Frame | None = None) -> tuple[dict, list[str], dict]:
        """Params, extra inputs and files of a region: a mask's bytes, an around's layer (in the
        frame's pixels: the canvas's, or an output's)."""
        W, H = frame.size if frame else self.canvas
        params: dict[str, Any] = {"canvas": [W, H], "box": list(box),
                                  "shape": type(spec).__name__.lower() if spec else "full"}
        inputs, files = [], {}
        if isinstance(spec, ast.Mask):
            files["mask"], params["mask_sha256"] = self.g.file(self.scope.module, self.text(spec.path))
        elif isinstance(spec, ast.Around):
            params["band"] = length(spec.band, min(W, H))
            inputs.append((frame.layers if frame else self.v.layers)[spec.component.value])
        return params, inputs, files

    def layer_base(self, comp: ast.Component, box: Box, size: tuple[int, int]) -> tuple[dict, dict]:
        """Params and files of a component laid out again in an output: a plain box there."""
        feather = comp.first(ast.Feather)
        scale = min(size) / self.short
        params = {"canvas": list(size), "box": list(box), "shape": "box", "opacity": _opacity(comp.first(ast.Opacity)),
                  "feather": round(length(feather.value, self.short) * scale) if feather else 0}
        return params, {}

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
        frames = []
        for out in self.brief.outputs:
            v.outputs[out.name.value], frame = output(self, out, image)
            frames.append(frame)
            v.formats[out.name.value] = {"size": list(frame.size), "mode": frame.mode,
                                         "span": f"{self.g.rel(out.span.file)}:{out.span.line}:{out.span.column}"}
            if out.first(ast.Format) or out.first(ast.File):  # else a PNG named after the output
                v.delivery[out.name.value] = delivery(self, out)
        if not self.brief.outputs:
            v.outputs[DEFAULT_OUTPUT] = image
            frames.append(Frame(None, self.canvas, image, dict(self.boxes), dict(v.layers)))
        v.checks = [check(self, rule, frame) for rule in self.brief.checks for frame in frames]
        inputs = list(dict.fromkeys([*v.outputs.values(), *v.layers.values(), *v.checks]))
        v.export = self.add("export", {"brief": self.brief.name.value, "variant": v.name,
                                       "outputs": list(v.outputs), "layers": list(v.layers),
                                       **({"delivery": v.delivery} if v.delivery else {})},
                            inputs, region=None, span=self.brief.span, label=f"export {v.name}")
        return v

    def layer(self, comp: ast.Component, below: GridIndex, stacking: tuple, refined: bool = True) -> str:
        name, box = comp.name.value, self.boxes[comp.name.value]
        region = comp.first(ast.Region)
        params, inputs, files = self.region_params(region.spec if region else None, box)
        params["opacity"] = _opacity(comp.first(ast.Opacity))
        feather = comp.first(ast.Feather)
        params["feather"] = length(feather.value, self.short) if feather else 0
        label = f"component {name}"
        if comp.first(ast.Asset):
            placed = self.asset_layer(comp, dict(params), list(inputs), dict(files), box, label)
            refine = comp.first(ast.Refine)
            if refine is None or not refined:
                return placed
            return self.refined(comp, refine, placed, params, files, box, below, stacking)
        if comp.first(ast.Text):
            return self.typeset(comp, params, inputs, files, box, label)
        said = comp.first(ast.Context)
        context: str = said.value.value if said else DEFAULTS["context"]
        crop = grow(box, CONTEXT_PAD, self.canvas) if context == "scene" else box
        seen = below.below(crop, stacking) if context == "scene" else []  # the pixels it is generated over
        params.update(crop=list(crop), context=context, seed=self.seed(comp), steps=self.steps(comp),
                      strength=self.strength(comp), **self.controls(comp))
        files.update(self.lora_files(params))
        inputs = [self.encode(comp)] + inputs + [i for i in seen if i not in inputs]  # prompt, around, below
        control = comp.first(ast.Control)
        lock = None
        if control is not None:  # the guiding layer, last: a placed or typeset image, as placed
            source = self.components[control.source.value]
            kind = control.kind.value
            params["control"] = {"kind": kind, "source": control.source.value,
                                 "weight": _n(control.weight.value) if control.weight else 1}
            inputs.append(self.layer(source, below, stacking, refined=False))
            net = next(n for n in self.brief.all(ast.ControlNet) if n.kind.value == kind)
            lock = self.lock_with({"controlnets": {kind: net.path.value}})  # the ControlNet's contents key it
        return self.add("generate", params, inputs, region=box, span=comp.span, label=label, files=files,
                        reads=[crop] if seen else [], lock=lock)

    def edit(self, edit: ast.Edit, image: str, frame: Frame | None = None, suffix: str = "") -> str:
        """An edit over `image`: the canvas's (the whole scene, or an output's scene without the
        components it lifts: `suffix` tells them apart), or, given a `frame`, an output's own pixels
        (an edit that names a component the output lays out itself follows it there)."""
        op, label = edit.ops[0], f"edit {edit.name.value}{frame.suffix if frame else suffix}"
        size, boxes = (frame.size, frame.boxes) if frame else (self.canvas, self.boxes)
        layers, space = (frame.layers, frame.name) if frame else (self.v.layers, None)
        W, H = size
        if isinstance(op, (ast.Inpaint, ast.Remove)):
            box = region_box(op.region, size, boxes)
            params, inputs, files = self.region_params(op.region, box, frame)
            inputs = [image] + inputs
            if isinstance(op, ast.Inpaint):
                params.update(seed=self.seed(edit), steps=self.steps(edit), strength=self.strength(edit),
                              **self.controls(edit))
                files.update(self.lora_files(params))
                inputs.insert(1, self.encode(edit))
            return self.add(op.keyword, params, inputs, region=box, span=edit.span, label=label, files=files,
                            reads=[grow(box, edit_read_pad(self.lock["backend"], op.keyword), size)], space=space)
        name = op.component.value
        layer, box = layers[name], boxes[name]
        if isinstance(op, ast.Recolor):
            sku = self.components[name].first(ast.SkuColor)
            params = {"canvas": [W, H], "box": list(box), "target": self.color(op.target),
                      "within": _n(sku.within.value) if sku else DEFAULTS["within"]}
            return self.add("recolor", params, [image, layer], region=box, span=edit.span, label=label,
                            reads=[box], space=space)
        band = length(op.band, min(size))
        grown = grow(box, band, size)
        return self.add("harmonize", {"canvas": [W, H], "box": list(grown), "band": band}, [image, layer],
                        region=grown, span=edit.span, label=label, reads=[grown], space=space)

    def asset_layer(self, comp: ast.Component, params: dict, inputs: list[str], files: dict, box: Box,
                    label: str, space: str | None = None) -> str:
        """A placed image: it depends only on its bytes and its placement."""
        asset = comp.first(ast.Asset)
        assert asset is not None
        files["asset"], params["sha256"] = self.g.file(self.scope.module, self.text(asset.path))
        fit = comp.first(ast.Fit)
        params["fit"] = fit.value.value if fit else DEFAULTS["fit"]
        return self.add("load_asset", params, inputs, region=box, span=comp.span, label=label, files=files,
                        space=space)

    def refined(self, comp: ast.Component, refine: ast.Refine, placed: str, params: dict, files: dict, box: Box,
                below: GridIndex, stacking: tuple) -> str:
        """A placed image relit into the scene: image to image of it, over what lies below it in its
        padded crop, inside its own mask (its alpha), at `strength`; its pixels are the layer's."""
        crop = grow(box, CONTEXT_PAD, self.canvas)
        seen = below.below(crop, stacking)
        text = self.text(refine.text)
        encoded = self.add("encode_prompt", {"prompt": text, "negative": ""} | (
            {"loras": self.loras(comp)} if self.loras(comp) else {}), [], region=None, span=refine.span,
            label=f"refine {comp.name.value}", files=self.lora_files({"loras": self.loras(comp)}))
        params = dict(params, crop=list(crop), seed=self.seed(comp), steps=self.steps(comp),
                      strength=_n(refine.strength.value), **self.controls(comp))
        files = dict(files, **self.lora_files(params))
        return self.add("refine", params, [encoded, placed, *seen], region=box, span=refine.span,
                        label=f"component {comp.name.value}", files=files, reads=[crop] if seen else [])

    def color(self, target: ast.ColourRef) -> str:
        """A colour as #RRGGBB: a brand colour, a hex colour, or the one a matrix field holds."""
        if isinstance(target, ast.FieldRef):
            held = matrix.field_value(target, self.chosen)
            assert isinstance(held, (ast.Name, ast.HexColor)), "checked: E344, E346"
            target = held
        return hex6(target.text) if isinstance(target, ast.HexColor) else self.colors[target.value]

    def colour_name(self, target: ast.ColourRef) -> str:
        """How a report names a colour: the brand's name for it, or its hex."""
        if isinstance(target, ast.FieldRef):
            held = matrix.field_value(target, self.chosen)
            assert held is not None, "checked: E344"
            target = held  # type: ignore[assignment]
        return target.value if isinstance(target, ast.Name) else hex6(target.text)

    def typeset(self, comp: ast.Component, params: dict, inputs: list[str], files: dict, box: Box, label: str,
                scale: float = 1.0, space: str | None = None) -> str:
        """A text layer: typeset (never generated) with a brand font into its box; in an output, at
        the output's scale (its sizes scaled with the layout, rendered at its resolution)."""
        text, font = comp.first(ast.Text), comp.first(ast.FontRef)
        assert text is not None and font is not None, "checked: E327"
        name = font.name
        if isinstance(name, ast.FieldRef):
            held = matrix.field_value(name, self.chosen)
            assert isinstance(held, ast.Name), "checked: E346"
            name = held
        declared = self.fonts[name.value]
        brand_module = self.g.program.modules[os.path.realpath(declared.span.file)]
        files["font"], params["font_sha256"] = self.g.file(brand_module, declared.path.value)
        size, colour, align = comp.first(ast.TextSize), comp.first(ast.TextColor), comp.first(ast.Align)
        W, H = self.canvas
        if size is not None and size.size is not None:
            params["size"] = max(1, round(_int(size.size) * scale))
        elif size is not None:  # `size auto LOW HIGH`
            params["auto"] = [max(1, round(_int(size.low) * scale)), max(1, round(_int(size.high) * scale))]
        else:  # unsaid: the largest from 8 px to the box's height
            params["auto"] = [8, max(8, box[3] - box[1])]
        params.update(text=self.text(text.text), color=self.color(colour.color) if colour else "#000000",
                      align=align.value.value if align else "left", engine=self.g.text_engine())
        return self.add("text", params, inputs, region=box, span=comp.span, label=label, files=files, space=space)


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
