"""The generation controls of the brief language's AST: the settings a model backend reads
(`resolution`, `guidance`, `scheduler`, `lora`, `refine`, `control`, `controlnet`). Re-exported by
`lang/ast.py`: stages say `ast.Lora`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ast_values import Name, Num, Span, Str


@dataclass(frozen=True, slots=True)
class Resolution:
    """`resolution native|exact`: denoise at the model's native size (resampled), or at the box's."""

    keyword: ClassVar[str] = "resolution"
    span: Span
    value: Name


@dataclass(frozen=True, slots=True)
class Guidance:
    keyword: ClassVar[str] = "guidance"
    span: Span
    value: Num


@dataclass(frozen=True, slots=True)
class Scheduler:
    keyword: ClassVar[str] = "scheduler"
    span: Span
    value: Name


@dataclass(frozen=True, slots=True)
class Lora:
    """`lora "file.safetensors" weight F`: LoRA weights applied to the model (several may be given)."""

    keyword: ClassVar[str] = "lora"
    span: Span
    path: Str
    weight: Num


@dataclass(frozen=True, slots=True)
class Refine:
    """`refine "prompt" strength F` on an asset component: image-to-image of the placed image inside
    its own mask, over the scene below it (to relight a product shot into the scene)."""

    keyword: ClassVar[str] = "refine"
    span: Span
    text: Str
    strength: Num


@dataclass(frozen=True, slots=True)
class Control:
    """`control canny|depth from COMPONENT [weight F]`: a ControlNet conditioned on another layer's
    edges or depth, so a generated layer keeps a placed product's silhouette."""

    keyword: ClassVar[str] = "control"
    span: Span
    kind: Name
    source: Name
    weight: Num | None


@dataclass(frozen=True, slots=True)
class ControlNet:
    """`controlnet canny "folder"`: the ControlNet model a brief's `control canny` lines use."""

    keyword: ClassVar[str] = "controlnet"
    span: Span
    kind: Name
    path: Str
