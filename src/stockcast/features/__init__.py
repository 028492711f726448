"""Causal features: one module per family, one registry from name to family, lookback and definition.

`feature_set(name, families)` picks the features; `compute(bars, features)` evaluates them over the
whole long table, one ticker at a time (engine.py).
"""

from stockcast.features.registry import all_features, compute, feature_set

__all__ = ["all_features", "compute", "feature_set"]
