"""The feature registry: a stable name, a family, a lookback and a definition for each feature.

A feature is a polars expression over one ticker's bars sorted by date. `compute` evaluates it
per ticker (`.over("ticker")`), so no value ever mixes tickers, and only backward-looking
operators (shift by a positive lag, trailing rolling windows) are allowed, so the value at date
t depends on rows up to and including t. The first `lookback` rows of a ticker are warm-up: null,
never back-filled.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from stockcast.errors import StockcastError


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    lookback: int
    definition: str
    expr: Callable[[], pl.Expr]


_REGISTRY: dict[str, Feature] = {}
_SETS: dict[str, list[str]] = {}


def register(name: str, family: str, lookback: int, definition: str, sets: tuple[str, ...]):
    """Decorator: add an expression factory to the registry and to the named sets."""

    def wrap(factory: Callable[[], pl.Expr]) -> Callable[[], pl.Expr]:
        if name in _REGISTRY:
            raise ValueError(f"feature {name!r} is registered twice")
        _REGISTRY[name] = Feature(name, family, lookback, definition, factory)
        for s in sets:
            _SETS.setdefault(s, []).append(name)
        return factory

    return wrap


def _load_families() -> None:
    from stockcast.features import price, volatility, volume  # noqa: F401  (registration side effect)


def feature_set(name: str) -> list[Feature]:
    """The features of a named set, in registration order."""
    _load_families()
    if name not in _SETS:
        raise StockcastError(f"features.set: unknown set {name!r} (known: {', '.join(sorted(_SETS))})")
    return [_REGISTRY[n] for n in _SETS[name]]


def all_features() -> list[Feature]:
    _load_families()
    return list(_REGISTRY.values())


def compute(bars: pl.DataFrame, features: list[Feature]) -> pl.DataFrame:
    """The features table: ticker, date and one Float32 column per feature; non-finite is null."""
    bars = bars.sort("ticker", "date")
    exprs = []
    for f in features:
        value = f.expr().over("ticker")
        exprs.append(pl.when(value.is_finite()).then(value).otherwise(None).cast(pl.Float32).alias(f.name))
    return bars.lazy().select("ticker", "date", *exprs).collect()
