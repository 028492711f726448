"""Target weights (session x ticker) from predicted probabilities: what the book holds after the close.

A weight is a signed fraction of the portfolio's value at the close of t, held until the close of
t+1. Long weights are positive, short weights negative; what is not invested is cash (earning 0).
Only tradable cells (a prediction and a next return) are ever held.

- long_flat: every ticker with P(up) > threshold holds 1/N_t, where N_t counts the tradable tickers
  of the day; the others are cash. The book is never levered and shrinks to cash when the model is
  bearish.
- long_short: the k most likely up at +1/(2k), the k least likely at -1/(2k): dollar neutral, gross
  exposure 1 (alphalens' convention of weights whose absolute values sum to 1; double the returns for
  the 100/100 "spread" convention). On a day with fewer than 2k tradable names, k_t = floor(N_t / 2).
- topk_dropout: qlib's TopkDropoutStrategy (method_sell="bottom", method_buy="top"): hold k names
  long; each day rank holdings and the best non-held names together and sell at most `max_swaps`
  holdings from the bottom, buying as many of the best non-held names with the freed cash. It bounds
  turnover at about 2 * max_swaps / k per day. Holdings drift with their prices between trades. Each
  free slot is funded with an equal share of the cash: when fewer names than free slots can be bought
  (a thin day), the unspent share waits in cash for a later day (qlib would spend it all at once).

Path-dependent strategies (topk_dropout, and buy_and_hold in benchmark.py) step through sessions
one vector operation at a time; the others are whole-matrix operations.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from stockcast.backtest.grid import Grid
from stockcast.errors import StockcastError

STRATEGIES = ("long_flat", "long_short", "topk_dropout")


def long_flat(grid: Grid, threshold: float) -> np.ndarray:
    """1/N_t on each tradable ticker with prob > threshold, 0 elsewhere (see module doc)."""
    count = grid.tradable.sum(axis=1, keepdims=True)
    share = 1.0 / np.maximum(count, 1)
    return np.where(grid.tradable & (grid.prob > threshold), share, 0.0)


def long_short(grid: Grid, top_k: int) -> np.ndarray:
    """+1/(2k_t) on the k_t highest probabilities, -1/(2k_t) on the k_t lowest (see module doc)."""
    weights = np.zeros(grid.shape)
    for rows, bottom, top in extremes(grid.prob, grid.tradable.sum(axis=1), top_k):
        half = 0.5 / bottom.shape[1]
        weights[rows[:, None], top] = half
        weights[rows[:, None], bottom] = -half
    return weights


def extremes(score: np.ndarray, count: np.ndarray, k: int) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, columns of the k_t lowest, columns of the k_t highest) scores, for each group of rows with
    the same number `count` of non-NaN scores; k_t = min(k, count // 2), groups with k_t = 0 skipped.

    NaN sorts last, so one O(N) partition of the scores puts the k_t lowest first, and one of the
    negated scores the k_t highest. Rows are grouped by count so that each group is one vectorised
    partition (a single group when the universe does not change). Ties at the cut are broken
    arbitrarily but deterministically. (One partition around several positions would do both, but
    numpy's SIMD partition takes a single position and is several times faster.)
    """
    for n in np.unique(count):
        k_t = min(k, int(n) // 2)
        if k_t == 0:
            continue
        rows = np.flatnonzero(count == n)
        block = score if len(rows) == len(score) else score[rows]
        yield (rows, np.argpartition(block, k_t - 1, axis=1)[:, :k_t],
               np.argpartition(np.negative(block), k_t - 1, axis=1)[:, :k_t])


def topk_dropout(grid: Grid, top_k: int, max_swaps: int) -> np.ndarray:
    """qlib's TopkDropout weights (see module doc). A holding that stops being tradable is sold.

    Each session: drift yesterday's book by its returns, sell untradable holdings, then with
    `last` the holdings and `today` the best (max_swaps + k - len(last)) non-held names, sort
    last + today by score and sell the holdings among its `max_swaps` lowest; buy the first
    (sold + k - len(last)) of `today`, each with cash / (free slots).
    """
    days, names = grid.shape
    weights = np.zeros((days, names))
    held = np.zeros(names, dtype=bool)
    book = np.zeros(names)
    for t in range(days):
        if t:
            growth = 1.0 + grid.returns[t - 1]
            book *= growth / (1.0 + book @ grid.returns[t - 1])
        tradable = grid.tradable[t]
        held &= tradable
        book[~held] = 0.0
        score = np.where(tradable, grid.prob[t], -np.inf)
        last = np.flatnonzero(held)
        today = _best(np.where(held, -np.inf, score), max_swaps + top_k - len(last))
        pool = np.concatenate([last, today])
        pool = pool[np.argsort(-score[pool], kind="stable")]
        tail = pool[len(pool) - max_swaps:] if max_swaps else pool[:0]
        sell = tail[held[tail]]
        buy = today[: len(sell) + top_k - len(last)]
        book[sell] = 0.0
        held[sell] = False
        if len(buy):
            book[buy] = max(1.0 - book.sum(), 0.0) / (top_k - held.sum())
            held[buy] = True
        weights[t] = book
    return weights


def _best(score: np.ndarray, n: int) -> np.ndarray:
    """Indices of the (at most) n highest finite scores, best first."""
    n = min(max(n, 0), int(np.isfinite(score).sum()))
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    pick = np.argpartition(score, len(score) - n)[len(score) - n:]
    return pick[np.argsort(-score[pick], kind="stable")]


def target_weights(grid: Grid, strategy: str, threshold: float, top_k: int, max_swaps: int) -> np.ndarray:
    """Dispatch by name: long_flat uses `threshold`, long_short `top_k`, topk_dropout both k and swaps."""
    if strategy == "long_flat":
        return long_flat(grid, threshold)
    if strategy == "long_short":
        return long_short(grid, top_k)
    if strategy == "topk_dropout":
        return topk_dropout(grid, top_k, max_swaps)
    raise StockcastError(f"backtest.strategy: unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
