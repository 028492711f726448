"""The feature registry: a stable name, a family, a lookback and a definition for each feature.

A feature is a function of one ticker's `Bars` (oldest first) returning one value per row. The
family modules register them with `register`; params pick a named set and optionally families.
`compute` (see engine.py) runs them per ticker, so no value ever mixes tickers.

`lookback` is the number of earlier sessions a value needs: the first `lookback` rows of each
ticker are warm-up and null, never back-filled, and tests check it equals the real warm-up.
Recursive indicators (EMA, RSI, ATR, ADX, MACD, SAR, OBV, as TA-Lib defines them) also keep a
fading memory of all earlier rows of their ticker; they never read later rows.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from stockcast.errors import StockcastError
from stockcast.features.bars import Bars
from stockcast.features.engine import compute

__all__ = ["FAMILIES", "SETS", "Feature", "all_features", "compute", "feature_set", "register"]

FAMILIES: dict[str, str] = {
    "price": "returns and the shape of the session's bar",
    "technical": "moving averages, oscillators and bands, as ratios to close or bounded scores",
    "volume": "activity relative to its own history, money flow, VWAP",
    "momentum": "rates of change and where close sits in its recent range",
    "volatility": "close-to-close and range-based volatility estimators",
    "pattern": "support and resistance, trend lines, breakouts, candle patterns",
    "kbar": "qlib Alpha158 K-bar: the session's body and shadows",
    "rolling": "qlib Alpha158 rolling operators over 5, 10, 20, 30 and 60 sessions",
}

SETS: dict[str, str] = {
    "basic": "11 quick unitless features: returns, distance to SMAs, range, realised volatility, volume",
    "seed95": "the seed plan's 95 unitless features in six families",
    "alpha158": "qlib's Alpha158 (9 K-bar, 4 price, 29 rolling operators x 5 windows)",
    "talib": "raw TA-Lib indicators under their usual names, in price or volume units where they have them",
}


@dataclass(frozen=True)
class Feature:
    name: str
    family: str
    lookback: int
    definition: str
    unitless: bool
    sets: tuple[str, ...]
    fn: Callable[[Bars], np.ndarray] = field(repr=False, compare=False)

    def describe(self) -> dict[str, object]:
        """The manifest entry: everything but the function."""
        return {"name": self.name, "family": self.family, "lookback": self.lookback,
                "definition": self.definition, "unitless": self.unitless}


_REGISTRY: dict[str, Feature] = {}


# Runs only at import, before a mutation tool can switch a mutant on: its mutants could never be
# killed, and the registry tests (names, sets, lookbacks, values) check what it registered.
def register(name: str, family: str, lookback: int, definition: str, sets: tuple[str, ...], unitless: bool = True,
             ) -> Callable[[Callable[[Bars], np.ndarray]], Callable[[Bars], np.ndarray]]:  # pragma: no mutate block
    """Decorator: add a feature function to the registry and to the named sets."""

    def wrap(fn: Callable[[Bars], np.ndarray]) -> Callable[[Bars], np.ndarray]:
        if name in _REGISTRY:
            raise ValueError(f"feature {name!r} is registered twice")
        if family not in FAMILIES or not set(sets) <= set(SETS) or lookback < 0:
            raise ValueError(f"feature {name!r}: bad family {family!r}, sets {sets} or lookback {lookback}")
        _REGISTRY[name] = Feature(name, family, lookback, definition, unitless, sets, fn)
        return fn

    return wrap


def _load_families() -> None:
    """Import the family modules, which register their features, in a fixed order (the docs' order).
    Imported here, not at the top: each of them imports this module for `register`."""
    # isort: off  (the order below is the registration order)
    from stockcast.features import price, technical, volume, momentum, volatility, pattern, alpha158  # noqa: F401
    # isort: on


def all_features() -> list[Feature]:
    """Every registered feature, in registration order."""
    _load_families()
    return list(_REGISTRY.values())


def feature_set(name: str, families: list[str] | None = None) -> list[Feature]:
    """The features of a named set, optionally only those of `families`, in registration order."""
    if name not in SETS:
        raise StockcastError(f"features.set: unknown set {name!r}{_suggest(name, SETS)}")
    check_families(families or [])
    chosen = [f for f in all_features() if name in f.sets and (families is None or f.family in families)]
    if not chosen:
        present = sorted({f.family for f in all_features() if name in f.sets})
        raise StockcastError(f"features.families: set {name!r} has no feature in {families} "
                             f"(its families: {', '.join(present)})")
    return chosen


def check_families(families: list[str]) -> None:
    """A one-line error naming the first unknown family and what would be accepted."""
    for family in families:
        if family not in FAMILIES:
            raise StockcastError(f"features.families: unknown family {family!r}{_suggest(family, FAMILIES)}")


def _suggest(word: str, choices: dict[str, str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f" ({hint}known: {', '.join(choices)})"
