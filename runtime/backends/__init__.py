"""Rendering backends; each module is self-contained and exposes an `OPS` table."""
