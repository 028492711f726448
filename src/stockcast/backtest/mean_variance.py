"""mean_variance: a shrunk-covariance mean-variance book with a turnover penalty, solved by PyPortfolioOpt.

Every `rebalance_days` sessions (t = 0, n, 2n, ...) the book solves

    max_w  mu' w - (lambda / 2) w' S w - kappa * sum_i |w_i - d_i|
    s.t.   |w_i| <= max_weight,  sum_i |w_i| <= max_gross        (no budget: the rest is cash)

over the `max_names` tradable names with the largest calibrated |edge| that have a window of history:
- mu_i = e_i * m_i, the edge calibrated on val (calibration.py) times the mean |r| of the window:
  the expected return of a bet that wins or loses m with P(up) (the same model kelly sizes on;
  with S diagonal, no penalty and no limits the solution is kelly's with fraction 1 / lambda);
- S: the Ledoit-Wolf shrunk covariance of the window's close-to-close returns (history.py; missing
  returns as 0), toward a scaled identity (Ledoit & Wolf 2004, "A well-conditioned estimator for
  large-dimensional covariance matrices"): a sample covariance of 60 days is singular for more
  than 60 names, and an optimiser inverts it;
- d: the drifted book before the trade; kappa = turnover_penalty * the cost per side the engine
  charges, so the optimiser pays for a trade what the backtest will.
Between solves the book drifts untouched (no trade), except that a holding that stops being tradable
is sold and a book that has drifted past a limit is trimmed back to it (clipped, then scaled), so the
limits hold on every session. scikit-learn supplies the estimator (covariance.ledoit_wolf, which PyPortfolioOpt's
CovarianceShrinkage wraps: called directly, a window costs a quarter of the time, and a process skips the wrapper's
scan of the installed packages, ~0.7 s), PyPortfolioOpt the utility (objective_functions.quadratic_utility), the
turnover term (transaction_cost) and the solve (cvxpy with Clarabel); docs/backtest.md says why this library.
"""

from __future__ import annotations

import cvxpy as cp
import numpy as np
from pypfopt import EfficientFrontier, exceptions, objective_functions
from sklearn.covariance import ledoit_wolf

from stockcast.backtest.calibration import Edge
from stockcast.backtest.grid import Grid
from stockcast.backtest.history import MIN_WINDOW_SHARE, History
from stockcast.errors import StockcastError


def shrunk_covariance(returns: np.ndarray) -> np.ndarray:
    """The Ledoit-Wolf covariance (per period) of a window of returns (sessions x names), NaN as 0."""
    return ledoit_wolf(np.nan_to_num(returns))[0]


def solve(mu: np.ndarray, covariance: np.ndarray, previous: np.ndarray, risk_aversion: float, kappa: float,
          max_weight: float, max_gross: float) -> np.ndarray:
    """The weights of the problem in the module doc, for one session."""
    frontier = EfficientFrontier(mu, covariance, weight_bounds=(-max_weight, max_weight), solver="CLARABEL")
    frontier.add_objective(objective_functions.transaction_cost, w_prev=previous, k=kappa)
    frontier.add_constraint(lambda w: cp.norm(w, 1) <= max_gross)
    try:
        frontier.convex_objective(objective_functions.quadratic_utility, weights_sum_to_one=False,
                                  expected_returns=mu, cov_matrix=covariance, risk_aversion=risk_aversion)
    except exceptions.OptimizationError as err:
        raise StockcastError(f"backtest: mean_variance could not be solved ({err.__cause__ or err})") from None
    return within_limits(frontier.weights, max_weight, max_gross)  # the solver's tolerance, not a decision


def within_limits(book: np.ndarray, max_weight: float, max_gross: float) -> np.ndarray:
    """`book` clipped to +-max_weight, then scaled down to max_gross if it is above."""
    book = np.clip(book, -max_weight, max_weight)
    gross = np.abs(book).sum()
    return book * (max_gross / gross) if gross > max_gross else book


def mean_variance(grid: Grid, history: History, edge: Edge, risk_aversion: float, kappa: float, window: int,
                  max_weight: float, max_gross: float, max_names: int, rebalance_days: int) -> np.ndarray:
    """The mean_variance book of every session (module doc)."""
    days, names = grid.shape
    edges = edge(grid.prob)
    mu = edges * history.mean_abs(window)
    weights = np.zeros((days, names))
    book = np.zeros(names)
    for t in range(days):
        if t:
            growth = 1.0 + grid.returns[t - 1]
            book = book * growth / (1.0 + book @ grid.returns[t - 1])
        book[~grid.tradable[t]] = 0.0
        book = within_limits(book, max_weight, max_gross)
        if t % rebalance_days == 0:
            ready = grid.tradable[t] & np.isfinite(mu[t])
            past = history.window(t, window)
            if ready.any() and len(past) >= max(2, MIN_WINDOW_SHARE * window):
                pool = np.flatnonzero(ready)
                pool = pool[np.argsort(-np.abs(edges[t, pool]), kind="stable")[:max_names]]
                chosen = solve(mu[t, pool], shrunk_covariance(past[:, pool]), book[pool], risk_aversion, kappa,
                               max_weight, max_gross)
                book = np.zeros(names)
                book[pool] = chosen
        weights[t] = book
    return weights
