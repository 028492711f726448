"""The benchmark: equal-weight buy-and-hold of the tradable universe, weights drifting with prices.

Day one buys every tradable ticker at 1/N. After that nothing is rebalanced: each holding's weight
drifts with its price. The universe changes as tickers list and delist, and the benchmark follows it
as an index fund would, trading only on those events:
- exit (a held ticker has no tradable row: delisted, or missing from the data that session): it is
  sold and the proceeds are spread over the remaining holdings in proportion to their value;
- entry (a tradable ticker not held, e.g. a new listing or one back after a gap): it is bought at
  1/N_t, funded pro rata from the holdings, N_t counting the tradable tickers of the day.
Those trades are turnover and pay the same costs as the strategies' trades.
"""

from __future__ import annotations

import numpy as np

from stockcast.backtest.grid import Grid


def buy_and_hold(grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(gross return, turnover) per session of the benchmark (module doc), with engine.simulate's
    accounting: g[t] = w[t] . r[t] and u[t] = sum |w[t] - drifted w[t-1]|. The book is built one
    session at a time, so the accounting happens in the same pass and its (session x ticker) weight
    matrix is never stored."""
    days, names = grid.shape
    gross, turnover = np.zeros(days), np.zeros(days)
    book = np.zeros(names)
    for t in range(days):
        drifted = book * (1.0 + grid.returns[t - 1]) / (1.0 + gross[t - 1]) if t else book
        tradable = grid.tradable[t]
        book = np.where(tradable, drifted, 0.0)
        invested = book.sum()
        if invested > 0:
            book /= invested
        entering = tradable & (book == 0.0)
        count = int(tradable.sum())
        if count:
            book *= 1.0 - entering.sum() / count
            book[entering] = 1.0 / count
        turnover[t] = np.abs(book - drifted).sum()
        gross[t] = book @ grid.returns[t]
    return gross, turnover
