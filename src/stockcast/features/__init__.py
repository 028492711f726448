"""Causal features: one module per family, one registry from name to definition."""
