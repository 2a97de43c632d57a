"""Checks of a model backend's generation controls: the allow-lists (`scheduler` classes, `control`
kinds, `resolution` words) and what a `control` line may refer to. Called by `lang/check.py`, whose
`check_components` runs them per component; the runtime reads the same lists.
"""

from __future__ import annotations

from collections.abc import Iterator

from . import ast
from .diagnostics import Diagnostic, did_you_mean, error, replace_with_closest

RESOLUTIONS = ("native", "exact")
CONTROLS = ("canny", "depth")  # what a ControlNet is conditioned on: a layer's edges, or its depth
# diffusers' scheduler classes a brief may name (`scheduler NAME`): built from the model's own
# scheduler config; anything else is refused, as a class name must never load code
SCHEDULERS = (
    "DDIMScheduler", "DDPMScheduler", "PNDMScheduler", "LMSDiscreteScheduler", "EulerDiscreteScheduler",
    "EulerAncestralDiscreteScheduler", "HeunDiscreteScheduler", "DPMSolverMultistepScheduler",
    "DPMSolverSinglestepScheduler", "KDPM2DiscreteScheduler", "KDPM2AncestralDiscreteScheduler",
    "UniPCMultistepScheduler", "DEISMultistepScheduler", "LCMScheduler", "TCDScheduler",
    "FlowMatchEulerDiscreteScheduler", "FlowMatchHeunDiscreteScheduler",
)


def _word(item, allowed, what: str, attr: str = "value") -> Iterator[Diagnostic]:
    from .check import _word as word  # the one wording of an unknown word (E324)

    yield from word(item, allowed, what, attr)


def controls_of(comp: ast.Component, comps: dict[str, ast.Component], nets: dict[str, ast.ControlNet]
              ) -> Iterator[Diagnostic]:
    """`control KIND from SOURCE`: on a generated component, of a known kind with its `controlnet`
    declared, from a placed asset or text (whose pixels depend on nothing rendered: no cycle)."""
    for control in comp.all(ast.Control):
        if comp.first(ast.Prompt) is None:
            yield error("E368", "`control` applies to generated (prompt) components",
                        "A placed or typeset layer is drawn as it is; remove the line.", control.span)
            continue
        yield from _word(control, CONTROLS, "control", attr="kind")
        if control.kind.value in CONTROLS and control.kind.value not in nets:
            yield error("E366", f"no `controlnet {control.kind.value}` model is declared",
                        f'Declare it in the brief: controlnet {control.kind.value} "models/controlnet-'
                        f'{control.kind.value}" (a diffusers ControlNet folder).', control.kind.span)
        source = comps.get(control.source.value)
        if source is None:
            yield error("E310", f"unknown component `{control.source.value}` in `control`",
                        did_you_mean(control.source.value, comps).strip() or
                        f"Components here: {', '.join(comps) or 'none'}.", control.source.span,
                        fixes=replace_with_closest(control.source.span, control.source.value, comps))
        elif source.first(ast.Prompt) is not None or source.first(ast.Refine) is not None or \
                isinstance(getattr(source.first(ast.Region), "spec", None), ast.Around) or source is comp:
            yield error("E367", f"`{control.source.value}` cannot guide `{comp.name.value}`",
                        "Control from a placed asset or a text component (not generated, refined, or drawn "
                        "around another): its pixels must not depend on what is generated.", control.source.span)
