"""Delivering a variant: its files, encoded, published whole."""
