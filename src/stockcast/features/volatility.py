"""Volatility family: realised and range-based volatility (unitless)."""

from __future__ import annotations

import polars as pl

from stockcast.features.price import log_return
from stockcast.features.registry import register


@register("hl_range", "volatility", 0, "(high - low) / close: the session's range", ("basic",))
def hl_range() -> pl.Expr:
    return (pl.col("high") - pl.col("low")) / pl.col("close")


@register("realized_vol_20", "volatility", 20, "std of 1-session log returns over 20 sessions (ddof 1)",
          ("basic",))
def realized_vol_20() -> pl.Expr:
    return log_return(1).rolling_std(20, min_samples=20)
