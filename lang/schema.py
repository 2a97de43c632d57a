"""The `brief compile --emit json` document: pydantic models that define it.

This is the contract that render farms and `brief diff` read; `brief compile --schema` prints its
JSON Schema. Changing a field's meaning needs a new `SCHEMA_VERSION`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION: Literal["brief-graph/1"] = "brief-graph/1"


class NodeDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    op: Literal["encode_prompt", "load_asset", "text", "generate", "composite", "inpaint", "remove",
                "recolor", "harmonize", "outpaint", "reframe", "layout", "reframe_layer", "check", "export",
                "refine"]
    version: int = Field(description="version of the op's implementation contract; part of the key")
    params: dict[str, Any] = Field(description="everything that decides the op's result; part of the key")
    inputs: list[str] = Field(description="ids of the nodes it reads, in order; part of the key")
    lock: dict[str, Any] = Field(description="backend lock (model, revision, weights, versions); part of the key")
    region: list[int] | None = Field(description="canvas box [x0, y0, x1, y1] it may write; null: none or not on the canvas")
    reads: list[list[int]] = Field(default_factory=list, description="canvas boxes of its image input it reads "
                                   "(an edit's surroundings, a component's context, a format's whole canvas)")
    span: str = Field(description="file:line:col of the construct it came from")
    label: str = Field(description="human name: 'component sky', 'edit tidy', …")
    files: dict[str, str] = Field(description="files it reads, relative to the project root (not keyed: the bytes are)")
    space: str | None = Field(None, description="the output whose pixels it works in; null: the canvas")


class LayerDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    component: str
    node: str = Field(description="the node producing the component's RGBA layer")


class VariantDoc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="brief name with its matrix values: runner[season=autumn]")
    brief: str
    file: str
    axes: dict[str, str]
    canvas: tuple[int, int]
    backend: dict[str, Any]
    layers: list[LayerDoc] = Field(description="the layers, bottom to top (the order they composite in)")
    image: str = Field(description="node of the canvas after composition and edits")
    outputs: dict[str, str] = Field(description="output format → its node")
    checks: list[str] = Field(description="one node per rule and output, in rule order")
    delivery: dict[str, dict[str, Any]] = Field(default_factory=dict, description="output → format, quality, "
                                                "max bytes and file name, where its block says")
    export: str


class GraphDocument(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_: Literal["brief-graph/1"] = Field(SCHEMA_VERSION, alias="schema")
    project_root: str = Field(description="the folder that `files` and `file` paths are relative to, "
                                          "as a path from the entry brief's folder")
    variants: list[VariantDoc]
    nodes: dict[str, NodeDoc] = Field(description="node id (sha256 Merkle key) → node")
