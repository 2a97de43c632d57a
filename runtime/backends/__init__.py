"""Rendering backends; each module is self-contained and exposes an `OPS` table and a `lock`
function giving what its results depend on besides the graph (versions, weights).

Compiling and planning need a backend's `lock`, not its ops: a backend module imports its imaging
libraries (OpenCV, scikit-image, torch) through `lazy_module`, on the first op that runs, so that
`brief plan` and a build with nothing to render start without them (tests/test_startup.py)."""

from __future__ import annotations

import importlib

BACKENDS = ("draft", "diffusers", "openai", "gemini", "bfl", "stability")


def load_backend(name: str):
    """The backend module for `name` (imported on first use: diffusers pulls in torch)."""
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; backends: {', '.join(BACKENDS)}")
    return importlib.import_module(f"{__name__}.{name}")


class lazy_module:  # noqa: N801 — stands where a module name stands
    """A module imported on first attribute access (`cv2.GaussianBlur`), through the import system
    (whose lock makes threads that race to it safe), then kept: later accesses cost an attribute
    lookup, not an import."""

    def __init__(self, name: str):
        self._name = name
        self._module = None

    def __getattr__(self, attr: str):
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name}>"


def version_of(module: str, *distributions: str) -> str:
    """An installed library's version, as `module.__version__` says it, read from the metadata of
    the first of `distributions` installed (OpenCV ships as several), without importing it: torch
    takes seconds to import, its metadata a millisecond. A library installed without metadata is
    imported and asked."""
    from importlib import metadata

    for name in distributions:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
        if module == "cv2":  # opencv-python 4.10.0.84 is OpenCV 4.10.0 (the last part numbers the wheel)
            version = ".".join(version.split(".")[:3])
        return version
    return str(importlib.import_module(module).__version__)
