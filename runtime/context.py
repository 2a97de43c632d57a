"""What a backend op receives besides its inputs: the `OpContext` of the node being run, and the
`OpError` it raises for a problem with the user's input (a bad asset, a missing model).

One shared signature for every op of every backend: `op(ctx, params, inputs) -> result`, where
results are prompt descriptions (dicts), `Layer`s, `TiledImage`s or check results (dicts).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # `OpError` is raised by modules (reading images) that `brief check` uses without a cache
    from .store.cache import Cache


class OpError(Exception):
    """A node failed because of its input; the message says what to do."""


@dataclass
class OpContext:
    cache: Cache
    root: Path  # project root: `files` paths are relative to it
    key: str
    node: dict  # the graph node's attributes: op, params, inputs, files, label, span, region
    previous: dict | None = None  # the last build's record of this node (same op and label), if any
    options: dict[str, Any] = field(default_factory=dict)  # backend options (device, …)
    meta: dict[str, Any] = field(default_factory=dict)  # what the op wants stored beside its result
    # when only the node's canvas input changed since its last run: the canvas boxes where it did,
    # and that run's result (an op may make again only what those pixels reach); else None
    changed: list | None = None
    before: Any = None

    @property
    def params(self) -> dict:
        return self.node["params"]

    @property
    def canvas(self) -> tuple[int, int]:
        w, h = self.node["params"]["canvas"]
        return w, h

    def path(self, name: str) -> Path:
        return self.root / self.node["files"][name]
