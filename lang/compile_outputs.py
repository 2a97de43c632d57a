"""Compiling outputs: each output format's pixels, its own layout, and the frame its checks measure.

An output without a block is the edited canvas in the output's mode (`reframe` for crop and fit,
`outpaint`). An output that places components (`place COMP REGION`) lays them out again in its own
pixels: the components it lifts (the placed ones, and every asset or text layer stacked above the
lowest of them, so z order holds) are left out of a base composite of the canvas; the base, with
the edits that do not name a lifted component, goes through the output's mode; the lifted
components are rendered at the output's resolution (never a resampled master) and laid over it in
z order: a placed one in its `place` box, a text at its `size` in the output's own pixels; any
other lifted one where the mode maps it, a text's size scaled with it. A component the mode would
cut is not lifted (it stays in the scene, and `check visible` says so). Edits that name a lifted
component follow it into the output.

Every output has a `Frame`: its size, the node of its pixels, and each component's box and layer in
its pixels (a lifted component's own layer; any other's canvas layer mapped by the output's mode,
`reframe_layer`), which is what the brand rules of `lang/compile_checks.py` measure there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import ast, matrix
from .delivery import DEFAULT_QUALITY, parse_file_size
from .geometry import Box, clip, frame_scale, length, map_box, region_box

if TYPE_CHECKING:
    from .compile import _VariantCompiler

@dataclass
class Frame:
    """Where brand rules measure: the canvas (name None) or one output."""

    name: str | None
    size: tuple[int, int]
    image: str  # the node of its pixels
    boxes: dict[str, Box]  # each component's box in its pixels
    layers: dict[str, str]  # each component's layer in its pixels
    margins: list[int] | None = None  # its own safe zone (top, right, bottom, left px), if its block says
    mode: str = "canvas"
    lifted: set[str] = field(default_factory=set)

    @property
    def suffix(self) -> str:
        """What tells its nodes apart from the canvas's in labels (a node's identity across builds)."""
        return "" if self.name is None else f" in {self.name}"


def margins(zone: ast.OutputSafezone, size: tuple[int, int]) -> list[int]:
    """`safezone T [R [B L]]` (CSS order) as px: a top or bottom percentage of the output's height,
    a left or right one of its width."""
    values = list(zone.values)
    sides = values * 4 if len(values) == 1 else values * 2 if len(values) == 2 else values[:4]
    W, H = size
    return [length(sides[0], H), length(sides[1], W), length(sides[2], H), length(sides[3], W)]


def output(c: _VariantCompiler, out: ast.Output, image: str) -> tuple[str, Frame]:
    W, H = c.canvas
    size = (int(out.size.width.value), int(out.size.height.value))
    mode = out.mode.value
    zone = out.first(ast.OutputSafezone)
    frame = Frame(out.name.value, size, "", {}, {}, margins(zone, size) if zone else None, mode)
    for name, box in c.boxes.items():
        frame.boxes[name] = clip(map_box(box, c.canvas, size, mode), size)
    placed = {p.component.value: p for p in out.places}
    lifted = _lifted(c, placed, size, mode) if placed else []
    frame.lifted = set(lifted)
    if lifted:  # the scene without the lifted components, through the mode, and they over it
        base_layers = [key for name, key in c.v.layers.items() if name not in frame.lifted]
        base = c.add("composite", {"canvas": [W, H]}, base_layers, region=(0, 0, W, H),
                        span=out.span, label=f"brief {c.brief.name.value}{frame.suffix}")
        follow = []
        for edit in c.brief.edits:
            if _names(edit) & frame.lifted:
                follow.append(edit)
            else:
                base = c.edit(edit, base, suffix=frame.suffix)
        framed = format_node(c, out, base, frame.suffix + " (scene)")
    else:
        framed = format_node(c, out, image, "")
    scale = frame_scale(c.canvas, size, mode)
    for name in lifted:  # placed: in the output's own pixels and sizes; else where the mode maps it, scaled
        spec = placed[name].region if name in placed else None
        box = region_box(spec, size, {}) if spec is not None else frame.boxes[name]
        frame.boxes[name] = clip(box, size)
        frame.layers[name] = output_layer(c, c.components[name], frame, 1.0 if name in placed else scale)
    if lifted:
        framed = c.add("layout", {"size": list(size), "layers": lifted}, [framed] + [frame.layers[n] for n in lifted],
                          region=None, span=out.span, label=f"output {out.name.value} layout", space=frame.name)
        for edit in follow:
            framed = c.edit(edit, framed, frame=frame)
    frame.image = framed
    return framed, frame


def frame_layer(c: _VariantCompiler, frame: Frame, name: str, within: Box | None = None) -> str:
    """A component's layer in a frame's pixels: its own there, else its canvas layer mapped by the
    output's mode (made when a rule first asks for it; only the part `within` a box, if given)."""
    if name in frame.layers and (within is None or frame.name is None or name in frame.lifted):
        return frame.layers[name]
    if within is None:
        frame.layers[name] = reframe_layer(c, name, c.v.layers[name], frame)
        return frame.layers[name]
    return reframe_layer(c, name, c.v.layers[name], frame, within)

def _lifted(c: _VariantCompiler, placed: dict[str, ast.Place], size: tuple[int, int], mode: str) -> list[str]:
    """The components an output lays out itself, bottom to top: the placed ones and every asset
    or text component above the lowest of them that the mode keeps whole (a generated layer
    there, or one the output cuts, stays in the scene)."""
    order = list(c.v.layers)
    lowest = min(order.index(n) for n in placed)

    def whole(name: str) -> bool:
        x0, y0, x1, y1 = map_box(c.boxes[name], c.canvas, size, mode)
        return x0 >= 0 and y0 >= 0 and x1 <= size[0] and y1 <= size[1]

    return [n for n in order[lowest:] if n in placed or (
        c.components[n].first(ast.Prompt) is None and c.components[n].first(ast.Refine) is None
        and not _shaped(c.components[n]) and whole(n))]  # a refined asset is drawn into the scene: it stays

def format_node(c: _VariantCompiler, out: ast.Output, image: str, suffix: str) -> str:
    W, H = c.canvas
    mode = out.mode.value
    params: dict[str, Any] = {"canvas": [W, H], "size": [int(out.size.width.value), int(out.size.height.value)],
                              "mode": mode}
    if mode == "outpaint":
        from .compile import derived_seed

        params["seed"] = derived_seed(c.base_seed, f"output:{out.name.value}")
    return c.add("outpaint" if mode == "outpaint" else "reframe", params, [image], region=None,
                    reads=[(0, 0, W, H)], span=out.span, label=f"output {out.name.value}{suffix}")

def output_layer(c: _VariantCompiler, comp: ast.Component, frame: Frame, scale: float) -> str:
    """A lifted component rendered in an output's own pixels."""
    name = comp.name.value
    box = frame.boxes[name]
    params, files = c.layer_base(comp, box, frame.size)
    label = f"component {name}{frame.suffix}"
    asset = comp.first(ast.Asset)
    if asset is not None:
        return c.asset_layer(comp, params, [], files, box, label, space=frame.name)
    return c.typeset(comp, params, [], files, box, label=label, scale=scale, space=frame.name)

def reframe_layer(c: _VariantCompiler, name: str, key: str, frame: Frame, within: Box | None = None) -> str:
    """A canvas layer mapped into an output by its mode (what the output's rules measure)."""
    W, H = c.canvas
    box = frame.boxes[name]
    if within is not None:
        box = (max(box[0], within[0]), max(box[1], within[1]), min(box[2], within[2]), min(box[3], within[3]))
        box = (box[0], box[1], max(box[0], box[2]), max(box[1], box[3]))
    params = {"canvas": [W, H], "size": list(frame.size), "mode": frame.mode if frame.mode != "outpaint" else "fit",
              "box": list(box)}
    return c.add("reframe_layer", params, [key], region=None, span=c.components[name].span,
                    label=f"component {name}{frame.suffix} (mapped)", space=frame.name)

def delivery(c: _VariantCompiler, out: ast.Output) -> dict:
    """How an output is delivered: its file's format, quality and size cap, and its name."""
    fmt, file = out.first(ast.Format), out.first(ast.File)
    kind = fmt.kind.value if fmt else "png"
    quality = int(fmt.quality.value) if fmt and fmt.quality else (None if kind == "png" else DEFAULT_QUALITY)
    values = {**c.values, "brief": c.brief.name.value, "output": out.name.value,
              "variant": ",".join(f"{a}={v}" for a, v in c.v.axes.items()) or c.brief.name.value}
    if file is not None:
        name = matrix.interpolate(file.template.value, values)
    else:
        name = f"{out.name.value}.{'jpg' if kind == 'jpeg' else kind}"
    return {"format": kind, "quality": quality, "max": parse_file_size(fmt.max.text) if fmt and fmt.max else None,
            "file": name}


def _names(edit: ast.Edit) -> set[str]:
    """The components an edit names (recolour or harmonize one, or paint around one)."""
    out = set()
    for op in edit.ops:
        if isinstance(op, (ast.Recolor, ast.Harmonize)):
            out.add(op.component.value)
        elif isinstance(op.region, ast.Around):
            out.add(op.region.component.value)
    return out


def _shaped(comp: ast.Component) -> bool:
    """A region drawn around another component or through a mask file: it stays on the canvas."""
    region = comp.first(ast.Region)
    return region is not None and isinstance(region.spec, (ast.Around, ast.Mask))
