"""Close-to-close returns known at each session's close: all a sizing policy may look back on.

The grid's `returns` are what a position earns after its signal (fills.py), so no policy may read
them as history. A policy sizing on the signal of t reads instead the close-to-close returns of the
clean bars up to and including t: r[s, i] = close[s, i] / close[s', i] - 1, with s' the ticker's bar
before s (a gap folds into the return after it). `History` holds them for the grid's tickers over
every bar session from `lookback` sessions before the grid's first date to its last one, so the
first days of the test segment have a full window: the bars before it are history the trader had,
not test data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.backtest.grid import Grid
from stockcast.errors import StockcastError

MIN_WINDOW_SHARE = 0.5
"""A window estimate (a volatility, a mean move) needs at least this share of its sessions with a return."""


@dataclass(frozen=True)
class History:
    """returns (bar sessions x grid tickers, NaN where a ticker has no bar or no bar before it) and
    the row of each grid session in it."""

    returns: np.ndarray
    row: np.ndarray

    def window(self, t: int, length: int) -> np.ndarray:
        """The returns of the `length` bar sessions ending at grid session t (fewer at the data's start)."""
        end = int(self.row[t]) + 1
        return self.returns[max(end - length, 0):end]

    def mean_abs(self, length: int) -> np.ndarray:
        """(grid sessions x tickers) mean |r| over the window of `length` sessions ending at each grid
        session: the size of a typical move. NaN where fewer than MIN_WINDOW_SHARE of the window has
        a return. One cumulative sum, so it costs the same for any window."""
        known = ~np.isnan(self.returns)
        total = np.zeros((len(self.returns) + 1, self.returns.shape[1]))
        np.cumsum(np.where(known, np.abs(self.returns), 0.0), axis=0, out=total[1:])
        count = np.zeros_like(total)
        np.cumsum(known, axis=0, out=count[1:])
        end = self.row + 1
        start = np.maximum(end - length, 0)
        n = count[end] - count[start]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(n >= max(2, MIN_WINDOW_SHARE * length), (total[end] - total[start]) / n, np.nan)


def close_returns(bars: pl.DataFrame, grid: Grid, lookback: int) -> History:
    """The History of `grid` from the clean `bars` (ticker, date, close): see the module doc."""
    if lookback < 1:
        raise StockcastError(f"backtest: the history window must be at least one session (got {lookback})")
    tickers = pl.DataFrame({"ticker": grid.tickers, "column": np.arange(len(grid.tickers))})
    frame = (bars.lazy().select("ticker", "date", "close").join(tickers.lazy(), on="ticker")
             .sort("ticker", "date")
             .with_columns(r=pl.col("close") / pl.col("close").shift(1).over("ticker") - 1)
             .filter(pl.col("date") <= grid.dates[-1]).collect())
    day = frame["date"].to_physical().to_numpy()
    wanted = grid.dates.to_physical().to_numpy()
    sessions = np.unique(day)
    sessions = sessions[max(int(np.searchsorted(sessions, wanted[0])) - lookback, 0):]
    row = np.searchsorted(sessions, wanted)
    if np.any(row >= len(sessions)) or np.any(sessions[np.minimum(row, len(sessions) - 1)] != wanted):
        raise StockcastError("backtest: a traded session has no clean bar of any ticker (are the bars and "
                             "predictions from the same run?)")
    keep = day >= sessions[0]
    returns = np.full((len(sessions), len(grid.tickers)), np.nan)
    returns[np.searchsorted(sessions, day[keep]), frame["column"].to_numpy()[keep]] = frame["r"].to_numpy()[keep]
    return History(returns, row)
