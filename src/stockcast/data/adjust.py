"""Corporate-action adjustment, so a split is not mistaken for a crash.

Same convention as Yahoo's "Adj Close": the latest prices stay as traded and earlier ones are
restated, so returns across a split or dividend are economic returns. Prices are multiplied by a
factor and volume divided by it, so price x volume (traded value) is unchanged.
"""

from __future__ import annotations

import numpy as np
import polars as pl

PRICES = ("open", "high", "low", "close")


def adj_close_factor() -> pl.Expr:
    """adj_close / close per row; 1 where adj_close is missing (the source is taken as adjusted already,
    as the sample's README says of MSFT). Adjusting twice changes nothing: close then equals adj_close."""
    factor = pl.col("adj_close") / pl.col("close")
    return pl.when(factor.is_finite() & (factor > 0)).then(factor).otherwise(1.0)


def restate(bars: pl.DataFrame, factor: np.ndarray, adj_close: np.ndarray | None = None) -> pl.DataFrame:
    """Multiply open/high/low/close by `factor` and divide volume by it (rounded; a traded day never below 1
    share, a zero-volume halt kept at 0); multiply adj_close by `adj_close` when given. A factor of all ones
    returns `bars` untouched."""
    if np.all(factor == 1) and (adj_close is None or np.all(adj_close == 1)):
        return bars
    scale = pl.Series(factor)
    return bars.with_columns(
        *(pl.col(c) * scale for c in PRICES),
        volume=pl.when(pl.col("volume") > 0).then((pl.col("volume") / scale).round().cast(pl.Int64).clip(lower_bound=1))
        .otherwise(pl.col("volume")),
        **({"adj_close": pl.col("adj_close") * pl.Series(adj_close)} if adj_close is not None else {}),
    )
