"""Targets from future prices: the only module allowed to look forward in time.

Labels at date t use closes t+1..t+h of the same ticker; the last h rows of a ticker have no label.
"""

from __future__ import annotations

import polars as pl


def direction_labels(bars: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """ticker, date, fwd_return = close[t+h]/close[t] - 1, label = 1 if fwd_return > 0 else 0,
    and next_return = close[t+1]/close[t] - 1 (what a position held one session earns)."""
    close = pl.col("close")
    fwd = (close.shift(-horizon) / close - 1).over("ticker")
    nxt = (close.shift(-1) / close - 1).over("ticker")
    return (
        bars.sort("ticker", "date")
        .select("ticker", "date", fwd_return=fwd, next_return=nxt)
        .with_columns(label=(pl.col("fwd_return") > 0).cast(pl.Int8))
    )
