"""Brand rules measured on the render, and their report."""
