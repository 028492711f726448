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
  With neutralize=sector the ranking is within each sector: k_s = min(k, floor(N_s / 2)) long and as
  many short in every sector s, each at 1/(2 sum_s k_s), so every sector nets to zero.
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
    k = np.minimum(top_k, np.count_nonzero(grid.tradable, axis=1) // 2)
    for first, lowest, highest, valid in extremes(grid.prob, k):
        block = weights[first:first + len(lowest)]
        half = (0.5 / np.maximum(k[first:first + len(lowest)], 1))[:, None]
        if valid is None:
            np.put_along_axis(block, highest, half, axis=1)
            np.put_along_axis(block, lowest, -half, axis=1)
            continue
        cells = np.arange(len(lowest))[:, None] * block.shape[1]
        half = np.broadcast_to(half, valid.shape)[valid]
        block.ravel()[(cells + highest)[valid]] = half
        block.ravel()[(cells + lowest)[valid]] = -half
    return weights


def extremes(score: np.ndarray, k: np.ndarray, chunk: int = 512
             ) -> Iterator[tuple[int, np.ndarray, np.ndarray, np.ndarray | None]]:
    """The columns of the k[t] lowest and of the k[t] highest scores of each row t, disjoint (NaN, an
    untradable cell, is never picked as long as k[t] <= the row's non-NaN count / 2), `chunk` rows
    at a time: (first row, lowest, highest, valid), lowest and highest of shape (rows, K) with K the
    chunk's largest k. valid is None when every row of the chunk has k[t] = K; otherwise the columns
    are ordered from the extreme inwards and valid[t, j] = j < k[t] marks the ones to take.

    NaN (as +inf) sorts last, so one O(N) partition of the scores puts the K lowest first, and one of
    the negated scores, with the lowest taken out, the K highest; only rows with a smaller k need
    their K sorted. Taking the lowest out matters when scores tie (a model that outputs one
    probability for everything): both partitions would otherwise pick the same names. Chunks keep
    the full-width index arrays a partition returns small. Ties at the cut are broken arbitrarily
    but deterministically. (One partition around several positions would do both, but numpy's SIMD
    partition takes a single position and is several times faster.)
    """
    for first in range(0, len(score), chunk):
        k_block = k[first:first + chunk]
        top = int(k_block.max(initial=0))
        if top == 0:
            continue
        block = score[first:first + chunk]
        negated = np.negative(block)
        missing = np.isnan(block)
        if missing.any():  # +inf sorts last as NaN does, and numpy's SIMD partition is 4x faster on it
            block = np.where(missing, np.inf, block)
            negated[missing] = np.inf
        lowest = np.argpartition(block, top - 1, axis=1)[:, :top]
        valid = None if (k_block == top).all() else np.arange(top) < k_block[:, None]
        if valid is None:
            np.put_along_axis(negated, lowest, np.inf, axis=1)
        else:
            lowest = _ordered(block, lowest)
            rows = np.broadcast_to(np.arange(len(block))[:, None], valid.shape)
            negated[rows[valid], lowest[valid]] = np.inf
        highest = np.argpartition(negated, top - 1, axis=1)[:, :top]
        yield first, lowest, highest if valid is None else _ordered(negated, highest), valid


def _ordered(score: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """`columns` of each row sorted by their `score`, lowest first."""
    order = np.argsort(np.take_along_axis(score, columns, axis=1), axis=1, kind="stable")
    return np.take_along_axis(columns, order, axis=1)


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


def sector_neutral_long_short(grid: Grid, top_k: int) -> np.ndarray:
    """long_short within each sector, rescaled so the whole book has gross exposure 1 (module doc)."""
    if grid.sectors is None:
        raise StockcastError("backtest.neutralize: sector needs sectors (set universe.path to a universe file)")
    weights = np.zeros(grid.shape)
    pairs = np.zeros(grid.shape[0])
    for sector in np.unique(grid.sectors.astype(str)):
        columns = np.flatnonzero(grid.sectors.astype(str) == sector)
        part = Grid(grid.dates, grid.tickers, grid.prob[:, columns], grid.returns[:, columns],
                    grid.tradable[:, columns])
        k = np.minimum(top_k, np.count_nonzero(part.tradable, axis=1) // 2)
        weights[:, columns] = long_short(part, top_k) * (2 * np.maximum(k, 1))[:, None]  # +-1 per name
        pairs += k
    return weights / (2 * np.maximum(pairs, 1))[:, None]


def target_weights(grid: Grid, strategy: str, threshold: float, top_k: int, max_swaps: int,
                   neutralize: str = "none") -> np.ndarray:
    """Dispatch by name: long_flat uses `threshold`, long_short `top_k` (and `neutralize`), topk_dropout
    both k and swaps."""
    if strategy == "long_flat":
        return long_flat(grid, threshold)
    if strategy == "long_short":
        return sector_neutral_long_short(grid, top_k) if neutralize == "sector" else long_short(grid, top_k)
    if strategy == "topk_dropout":
        return topk_dropout(grid, top_k, max_swaps)
    raise StockcastError(f"backtest.strategy: unknown strategy {strategy!r} (known: {', '.join(STRATEGIES)})")
