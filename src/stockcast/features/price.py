"""Price family: log returns over several horizons and distance to trailing means (unitless)."""

from __future__ import annotations

import polars as pl

from stockcast.features.registry import register


def log_return(n: int) -> pl.Expr:
    """log(close_t / close_{t-n})."""
    return (pl.col("close") / pl.col("close").shift(n)).log()


def close_to_sma(n: int) -> pl.Expr:
    """close_t / SMA_n(close)_t - 1."""
    return pl.col("close") / pl.col("close").rolling_mean(n, min_samples=n) - 1


for _n in (1, 5, 10, 20):
    register(f"logret_{_n}", "price", _n, f"log(close / close {_n} sessions earlier)", ("basic",))(
        lambda n=_n: log_return(n))

for _n in (10, 20, 50):
    register(f"close_sma_{_n}", "price", _n - 1, f"close / SMA{_n}(close) - 1", ("basic",))(
        lambda n=_n: close_to_sma(n))


@register("oc_return", "price", 0, "log(close / open): the session's own move", ("basic",))
def oc_return() -> pl.Expr:
    return (pl.col("close") / pl.col("open")).log()
