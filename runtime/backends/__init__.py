"""Rendering backends; each module is self-contained and exposes an `OPS` table and a `lock`
function giving what its results depend on besides the graph (versions, weights)."""

from __future__ import annotations

import importlib

BACKENDS = ("draft", "diffusers")


def load_backend(name: str):
    """The backend module for `name` (imported on first use: diffusers pulls in torch)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; backends: {', '.join(BACKENDS)}")
    return importlib.import_module(f"{__name__}.{name}")
