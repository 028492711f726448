"""Corporate-action adjustment, so a split is not mistaken for a crash."""

from __future__ import annotations

import polars as pl


def adjust_with_adj_close(bars: pl.DataFrame) -> pl.DataFrame:
    """Scale open/high/low/close by adj_close/close and volume by its inverse, where adj_close exists.

    Same convention as Yahoo's "Adj Close": the latest prices stay as traded and earlier ones are
    restated, so returns across a split or dividend are economic returns. Rows without adj_close
    are left as they are (their source is assumed adjusted already, as the sample's README says).
    """
    factor = (pl.col("adj_close") / pl.col("close")).fill_null(1.0)
    return bars.with_columns(
        *(pl.col(c) * factor for c in ("open", "high", "low", "close")),
        volume=(pl.col("volume") / factor).round().cast(pl.Int64).clip(lower_bound=1),
    )
