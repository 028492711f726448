"""Targets from future prices: the only module allowed to look forward in time.

Labels at date t use closes t+1..t+h of the same ticker; the last h rows of a ticker have no label.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

DOWN, UP, FLAT = 0, 1, 2
CLASSES = ("down", "up", "flat")
"""Label values in order: 1 stays "up" whatever the mode, so code reading label == 1 as up stays right."""

DeadZoneMode = Literal["exclude", "flat"]


def n_classes(dead_zone_mode: DeadZoneMode) -> int:
    """2 (down, up) when the dead zone is excluded; 3 (down, up, flat) when it is a class of its own."""
    return 3 if dead_zone_mode == "flat" else 2


def make_labels(bars: pl.DataFrame, horizon: int, kind: Literal["direction", "excess"] = "direction",
                dead_zone: float = 0.0, dead_zone_mode: DeadZoneMode = "exclude") -> pl.DataFrame:
    """ticker, date, fwd_return, next_return and label (Int8, null where there is no label).

    - fwd_return = close[t+h] / close[t] - 1; next_return = close[t+1] / close[t] - 1 (what a
      position held for one session earns, whatever the horizon).
    - direction: label = 1 if fwd_return > 0, else 0.
    - excess: label = 1 if fwd_return beats the cross-sectional median fwd_return of the same date
      (Fischer & Krauss 2018); dates with fewer than two labelled tickers get no label.
    - ties are down: a margin of exactly 0 (an unchanged close, or the median ticker itself when a
      date has an odd number of tickers) is labelled 0, since "up" must be earned strictly. With a
      dead zone above 0 such rows fall inside it instead.
    - dead_zone: rows with |fwd_return| < dead_zone (direction) or |fwd_return - median| <
      dead_zone (excess) are near-zero moves. dead_zone_mode "exclude" leaves them unlabelled, so
      they neither train nor score the model; "flat" labels them 2, a third class.
    """
    close = pl.col("close")
    labels = bars.sort("ticker", "date").select(
        "ticker", "date",
        fwd_return=(close.shift(-horizon) / close - 1).over("ticker"),
        next_return=(close.shift(-1) / close - 1).over("ticker"),
    )
    if kind == "direction":
        margin = pl.col("fwd_return")
        enough = pl.lit(True)
    else:
        margin = pl.col("fwd_return") - pl.col("fwd_return").median().over("date")
        enough = pl.col("fwd_return").count().over("date") >= 2
    known = margin.is_not_null() & enough
    outside = margin.abs() >= dead_zone
    direction = (margin > 0).cast(pl.Int8)
    if dead_zone_mode == "flat":
        label = pl.when(known & outside).then(direction).when(known).then(pl.lit(FLAT, pl.Int8))
    else:
        label = pl.when(known & outside).then(direction)
    return labels.with_columns(label=label.otherwise(None).cast(pl.Int8))
