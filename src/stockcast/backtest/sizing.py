"""Sizing policies with closed forms: vol_target and kelly (mean_variance.py and ppo.py are the others).

Every policy sizes on what is known at the close of t: the model's P(up) of t and the close-to-close
returns up to t (history.py). Its weights go to the engine like any strategy's, with the same fills,
costs and borrow. Two limits bind every policy: |w[t, i]| <= max_weight and sum_i |w[t, i]| <= max_gross.

- vol_target: long_short's book (the k most and least likely up, +-1/(2k)) scaled to an ex-ante
  volatility of target_vol a year: scale[t] = target_vol / (sd(b[t] . r[s], s in the window ending
  at t) * sqrt(periods_per_year)), today's book b[t] priced on the past window's returns (historical
  simulation: the book's own variance, correlations included; a missing return counts as 0), then
  cut to the limits. The book keeps long_short's names and its dollar neutrality; only its size moves
  (Moreira & Muir 2017, "Volatility-Managed Portfolios", sized on the ex-ante rather than the
  realised volatility of the strategy).
- kelly: each name a separate bet that wins or loses m[t, i] per unit staked, m the mean |r| over the
  window, won with P(up): the growth p log(1 + f m) + (1 - p) log(1 - f m) is greatest at
  f* = (2p - 1) / m = e / m, with e the edge calibrated on val (calibration.py). The book holds
  kelly_fraction * f* of each name (fractional Kelly: MacLean, Thorp & Ziemba 2010, full Kelly's
  drawdowns are not survivable with an estimated edge), clipped to max_weight, then scaled down
  as a whole to max_gross. Bets are treated as independent; mean_variance accounts for covariance.
"""

from __future__ import annotations

import numpy as np

from stockcast.backtest.calibration import Edge
from stockcast.backtest.grid import Grid
from stockcast.backtest.history import MIN_WINDOW_SHARE, History
from stockcast.backtest.strategies import long_short


def limit_scale(book: np.ndarray, max_weight: float, max_gross: float) -> np.ndarray:
    """Per session, the largest multiple of `book` (sessions x tickers) inside both limits (0 for an
    empty book)."""
    gross = np.abs(book).sum(axis=1)
    largest = np.abs(book).max(axis=1, initial=0.0)
    with np.errstate(divide="ignore"):
        return np.where(gross > 0, np.minimum(max_gross / gross, max_weight / largest), 0.0)


def book_volatility(book: np.ndarray, history: History, window: int) -> np.ndarray:
    """Per session, the daily standard deviation (ddof=1) of today's book on the returns of the window
    ending today (missing returns as 0); NaN for an empty book or a window shorter than
    MIN_WINDOW_SHARE of `window`."""
    out = np.full(len(book), np.nan)
    for t in range(len(book)):
        names = np.flatnonzero(book[t])
        past = history.window(t, window)
        if names.size and len(past) >= max(2, MIN_WINDOW_SHARE * window):
            out[t] = np.std(np.nan_to_num(past[:, names]) @ book[t, names], ddof=1)
    return out


def vol_target(grid: Grid, history: History, top_k: int, target_vol: float, window: int, max_weight: float,
               max_gross: float, periods_per_year: int = 252) -> np.ndarray:
    """long_short's book at target_vol a year, within the limits (module doc)."""
    book = long_short(grid, top_k)
    volatility = book_volatility(book, history, window) * np.sqrt(periods_per_year)
    with np.errstate(divide="ignore", invalid="ignore"):
        wanted = np.where(volatility > 0, target_vol / volatility, 0.0)
    return book * np.minimum(wanted, limit_scale(book, max_weight, max_gross))[:, None]


def kelly(grid: Grid, history: History, edge: Edge, fraction: float, window: int, max_weight: float,
          max_gross: float) -> np.ndarray:
    """kelly_fraction * e / m per name, clipped, then scaled to max_gross (module doc)."""
    move = history.mean_abs(window)
    with np.errstate(divide="ignore", invalid="ignore"):
        bet = fraction * edge(grid.prob) / move
    bet = np.clip(np.where(grid.tradable & np.isfinite(bet), bet, 0.0), -max_weight, max_weight)
    gross = np.abs(bet).sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        return bet * np.where(gross > max_gross, max_gross / gross, 1.0)
