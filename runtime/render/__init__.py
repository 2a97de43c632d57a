"""Rendering a compiled graph: planning, executing, pixel operations and reading user images."""
