"""What typesets text on this machine, asked without importing Pillow until a brief has text: the
compiler calls `text_engine` only when it compiles a text layer (the answer is part of its key)."""

from __future__ import annotations


def text_engine() -> dict:
    from .text import text_engine as engine

    return engine()
