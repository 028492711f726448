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
    accounting: g[t] = w[t] . r[t] and u[t] = sum |w[t] - drifted w[t-1]|.

    The book only trades on sessions where the universe changes; between them it drifts, and a
    drifting book is a matrix product: with G[u] = prod_{t <= s < u} (1 + r[s]) the growth of each
    name since the last trade at t, the value is V[u] = G[u] . w[t] and g[u] = V[u+1] / V[u] - 1.
    So the loop runs over universe changes (a handful a month in real data) rather than sessions,
    and the (session x ticker) weight matrix is never stored."""
    days, names = grid.shape
    gross, turnover = np.zeros(days), np.zeros(days)
    changes = _universe_changes(grid)
    counts = np.count_nonzero(grid.tradable, axis=1).tolist()
    book = np.zeros(names)
    for start, stop in zip(changes.tolist(), [*changes[1:].tolist(), days], strict=True):
        book, turnover[start] = _rebalance(book, grid.tradable[start], counts[start])
        if stop - start == 1:  # the common case on a ragged universe: one session, no matrix needed
            gross[start] = book @ grid.returns[start]
            book = book * (1.0 + grid.returns[start]) / (1.0 + gross[start])
        else:
            book = _drift(book, grid.returns[start:stop], gross[start:stop])
    return gross, turnover


def _universe_changes(grid: Grid) -> np.ndarray:
    """Sessions where the benchmark trades: the first, those where the set of tradable names differs
    from the session before, and those after a holding lost everything (it is bought back)."""
    change = np.ones(grid.shape[0], dtype=bool)
    change[1:] = (grid.tradable[1:] != grid.tradable[:-1]).any(axis=1)
    change[1:] |= (grid.returns[:-1] <= -1.0).any(axis=1)
    return np.flatnonzero(change)


def _rebalance(drifted: np.ndarray, tradable: np.ndarray, count: int) -> tuple[np.ndarray, float]:
    """The book after selling the untradable names and buying the new ones at 1/N (N = `count`, the
    tradable names), and its turnover."""
    book = np.where(tradable, drifted, 0.0)
    invested = book.sum()
    entering = tradable & (book == 0.0)
    if count:
        book *= (1.0 - np.count_nonzero(entering) / count) / (invested if invested > 0 else 1.0)
        book[entering] = 1.0 / count
    return book, float(np.abs(book - drifted).sum())


def _drift(book: np.ndarray, returns: np.ndarray, gross: np.ndarray, chunk: int = 256) -> np.ndarray:
    """Let `book` ride `returns` (sessions x names) untouched: writes each session's gross return into
    `gross` and returns the drifted weights entering the session after the last one. Growth is
    accumulated a chunk of sessions at a time so the working set stays in cache."""
    if not book.any():
        return book
    value, growth = 1.0, np.ones_like(book)
    for first in range(0, len(returns), chunk):
        block = returns[first:first + chunk] + 1.0
        np.cumprod(block, axis=0, out=block)
        block *= growth
        values = block @ book
        gross[first:first + len(block)] = values / np.concatenate(([value], values[:-1])) - 1.0
        value, growth = values[-1], block[-1]
    return book * growth / value
