"""How diversified the universe and each book are: average pairwise correlation, effective number of bets.

- Average pairwise correlation of session t: the mean of the correlations rho_ij (i < j) of the
  close-to-close returns of the window ending at t (history.py), over the names tradable at t with
  a return on every session of the window and some variance. With z the window's standardised
  returns (ddof 0), sum_ij rho_ij = sum_s (sum_i z[s, i])^2 / L, so the mean of the N(N - 1) off-
  diagonal entries is (that - N) / (N (N - 1)): O(L N) a session instead of O(L N^2). Rising
  correlation is when diversification fails (a crash moves everything together).
- Effective number of bets of a book w (Meucci 2009, "Managing Diversification", Risk 22(5)): with
  the shrunk covariance S = E diag(lambda) E' of the held names (mean_variance.shrunk_covariance),
  the book's exposures to the uncorrelated principal portfolios are x = E' w and their shares of its
  variance p_k = x_k^2 lambda_k / w' S w; ENB = exp(-sum_k p_k log p_k), from 1 (one bet, however
  many names) to the number of names held (equal risk in independent bets). long_short's four names
  in one correlated sector are fewer than four bets. It is averaged over at most ENB_SESSIONS
  sessions spread evenly over the segment, on which the book holds something: an eigendecomposition
  of the held names' covariance each, cheap for a sample-sized book and bounded for a large one.
"""

from __future__ import annotations

import numpy as np

from stockcast.backtest.grid import Grid
from stockcast.backtest.history import History
from stockcast.backtest.mean_variance import shrunk_covariance

ENB_SESSIONS = 200


def average_correlation(grid: Grid, history: History, window: int) -> np.ndarray:
    """Per grid session, the average pairwise correlation of the module doc (NaN below two names or
    a full window)."""
    out = np.full(grid.shape[0], np.nan)
    for t in range(grid.shape[0]):
        past = history.window(t, window)
        if len(past) < window:
            continue
        names = grid.tradable[t] & ~np.isnan(past).any(axis=0)
        x = past[:, names]
        sd = x.std(axis=0)
        x = x[:, sd > 0]
        n = x.shape[1]
        if n < 2:
            continue
        z = (x - x.mean(axis=0)) / x.std(axis=0)
        out[t] = ((z.sum(axis=1) ** 2).sum() / len(z) - n) / (n * (n - 1))
    return out


def effective_bets(weights: np.ndarray, history: History, window: int) -> float:
    """ENB (module doc) of the book `weights` (grid sessions x tickers), averaged over the sampled
    sessions where it holds something; NaN if it never does."""
    values = []
    for t in np.unique(np.linspace(0, len(weights) - 1, min(ENB_SESSIONS, len(weights))).astype(int)):
        held = np.flatnonzero(weights[t])
        past = history.window(t, window)
        if held.size == 0 or len(past) < 2:
            continue
        variance, vectors = np.linalg.eigh(shrunk_covariance(past[:, held]))
        share = (vectors.T @ weights[t, held]) ** 2 * np.maximum(variance, 0.0)
        if share.sum() <= 0:
            continue
        share = share[share > 0] / share.sum()
        values.append(float(np.exp(-(share * np.log(share)).sum())))
    return float(np.mean(values)) if values else float("nan")
