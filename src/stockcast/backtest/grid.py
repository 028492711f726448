"""Long predictions as dense (session x ticker) matrices: the shape every strategy is computed on.

A cell with no row (a ticker not listed yet, delisted, or missing that session) or with no
`next_return` is not tradable: it is never held and earns nothing. Sessions are the dates present in
the predictions, oldest first. Building the grid is index arithmetic, with no sort when the rows
are grouped by ticker (as the evaluate stage writes each segment): 10M rows take about 0.3 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.errors import StockcastError

COLUMNS = ("ticker", "date", "prob", "next_return")


@dataclass(frozen=True)
class Grid:
    """prob (sessions, tickers), NaN where not tradable; returns, 0 where not tradable."""

    dates: pl.Series
    tickers: pl.Series
    prob: np.ndarray
    returns: np.ndarray
    tradable: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.prob.shape


def to_grid(predictions: pl.DataFrame) -> Grid:
    """The (session x ticker) grid of `predictions` (unique ticker, date, as Predictions guarantees).

    `next_return` of (ticker, t) is close[t+1] / close[t] - 1: what a position taken at the close of
    t earns by the next close. Rows with a null or NaN prob or next_return are not tradable.
    """
    missing = [c for c in COLUMNS if c not in predictions.columns]
    if missing:
        raise StockcastError(f"backtest: predictions lack column {missing[0]!r} (need {', '.join(COLUMNS)})")
    if predictions.height == 0:
        raise StockcastError("backtest: no predictions to trade (is the test segment empty?)")
    frame = predictions.select(COLUMNS).drop_nulls().drop_nans(["prob", "next_return"])
    runs = frame["ticker"].rle()
    tickers = runs.struct.field("value")
    if tickers.n_unique() != tickers.len():
        frame = frame.sort("ticker")
        runs = frame["ticker"].rle()
        tickers = runs.struct.field("value")
    day = frame["date"].to_physical().to_numpy()
    first = int(day.min())
    offset = day - first
    present = np.zeros(int(day.max()) - first + 1, dtype=bool)
    present[offset] = True
    index = np.int64 if len(present) * tickers.len() >= 2**31 else np.int32  # half the memory traffic
    row_start = (np.cumsum(present, dtype=index) - 1) * index(tickers.len())
    cells = row_start[offset]
    cells += np.repeat(np.arange(tickers.len(), dtype=index), runs.struct.field("len").to_numpy())
    dates = pl.Series("date", np.flatnonzero(present) + first, dtype=pl.Int32).cast(pl.Date)
    shape = (dates.len(), tickers.len())
    prob = np.full(shape, np.nan, dtype=np.float32)
    prob.ravel()[cells] = frame["prob"].cast(pl.Float32).to_numpy()
    returns = np.zeros(shape)
    returns.ravel()[cells] = frame["next_return"].cast(pl.Float64).to_numpy()
    return Grid(dates, tickers.rename("ticker"), prob, returns, ~np.isnan(prob))
