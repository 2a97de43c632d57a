"""Watch mode and its live preview."""
