"""Volume family: activity relative to its own recent level (unitless)."""

from __future__ import annotations

import polars as pl

from stockcast.features.registry import register


@register("log_volume_ratio_20", "volume", 19, "log(volume / SMA20(volume))", ("basic",))
def log_volume_ratio_20() -> pl.Expr:
    volume = pl.col("volume").cast(pl.Float64)
    return (volume / volume.rolling_mean(20, min_samples=20)).log()
