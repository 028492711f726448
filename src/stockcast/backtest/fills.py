"""What a position taken on a signal earns, from the prices it could really trade at.

The signal of date t is known at the close of t. With `fill`:
- next_open (the default): it trades at the open of t+1 and is held to the next fill, the open of
  t+2: hold_return[t] = open[t+2] / open[t+1] - 1 (qlib's deal_price="open" on the step after);
- next_close: it trades at the close of t+1: hold_return[t] = close[t+2] / close[t+1] - 1;
- same_close: it trades at the close it was computed from: hold_return[t] = close[t+1] / close[t] - 1.
  Nobody can fill there (the price is part of the signal): a research setting, marked as not
  tradable in the report.
t+1 and t+2 are the ticker's next bars in the clean table. Costs are charged on the value traded at
the fill price. Labels and evaluation stay close to close; only the backtest reads these returns.

A delisted ticker's last holding period ends at its last close, then takes its delisting return:
hold_return = close[last] * (1 + delisting_return) / fill price - 1. Outside [listed, delisted] a
ticker has no holding return, so it is never held.

Liquidity (causal): the median dollar volume (close x volume) of the `window` sessions ending at t,
and the close of t, known when the signal is; a cell is liquid when both reach their minimums. The
participation cap (engine.py) limits trades to a share of that median.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

Fill = Literal["next_open", "next_close", "same_close"]
FILLS: tuple[str, ...] = ("next_open", "next_close", "same_close")
TRADABLE_FILLS = ("next_open", "next_close")


def holding_returns(bars: pl.DataFrame, fill: Fill, universe: pl.DataFrame, window: int = 20) -> pl.DataFrame:
    """ticker, date (the signal's), hold_return, fill_price, close, median_dollar_volume from the clean
    bars (ticker, date, open, close, volume) and the universe rows (ticker, listed, delisted,
    delisting_return), for every bar inside the listing window."""
    if fill not in FILLS:
        raise ValueError(f"backtest.fill={fill!r}: expected one of {', '.join(FILLS)}")
    column, lead = {"next_open": ("open", 1), "next_close": ("close", 1), "same_close": ("close", 0)}[fill]
    dates = universe.select("ticker", "listed", "delisted", "delisting_return")
    listed = (bars.lazy().join(dates.lazy(), on="ticker", how="left")
              .filter(pl.col("listed").is_null() | (pl.col("date") >= pl.col("listed")),
                      pl.col("delisted").is_null() | (pl.col("date") <= pl.col("delisted")))
              .sort("ticker", "date"))
    price = pl.col(column)
    start = price.shift(-lead).over("ticker")
    end = price.shift(-lead - 1).over("ticker")
    delisted_end = pl.col("close").last().over("ticker") * (1 + pl.col("delisting_return"))
    delists = pl.col("delisting_return").is_not_null()
    return listed.select(
        "ticker", "date",
        hold_return=pl.when(end.is_not_null()).then(end / start - 1)
        .when(delists & start.is_not_null()).then(delisted_end / start - 1),
        fill_price=start,
        close=pl.col("close"),
        median_dollar_volume=(pl.col("close") * pl.col("volume")).rolling_median(window, min_samples=window)
        .over("ticker"),
    ).collect()


def tradable_predictions(predictions: pl.DataFrame, holdings: pl.DataFrame, universe: pl.DataFrame,
                         min_price: float, min_dollar_volume: float) -> pl.DataFrame:
    """The predictions with what the backtest trades on: hold_return (null where the cell is outside
    its listing window, has no later fill, or is illiquid), median_dollar_volume, sector, borrow_bps."""
    liquid = (pl.col("close") >= min_price) & (pl.col("median_dollar_volume") >= min_dollar_volume)
    return (predictions.join(holdings, on=["ticker", "date"], how="left")
            .join(universe.select("ticker", "sector", "borrow_bps"), on="ticker", how="left")
            .with_columns(hold_return=pl.when(liquid).then("hold_return"),
                          sector=pl.col("sector").fill_null("unknown")))
