"""Daily portfolio returns of target weights, net of costs and slippage, beside the benchmark.

Timing: a prediction made with data up to the close of t sets the weights held from the close of t
to the close of t+1, so weight w[t, i] earns next_return[t, i] (no look-ahead: next_return is the
label side of the table, never an input of the weights).

Gross return of session t:  g[t] = sum_i w[t, i] * r[t, i]
Drifted weights before trading at t:  d[t, i] = w[t-1, i] * (1 + r[t-1, i]) / (1 + g[t-1]),  d[0] = 0
Turnover:  u[t] = sum_i |w[t, i] - d[t, i]|  (fraction of the book traded, both sides counted)
Net return:  n[t] = g[t] - c * u[t],  c = (cost_bps + slippage_bps) / 1e4 per side

Drift matters: an equal-weight book that is "held" still trades back to equal weights each day, and
that trade is charged. Costs are charged on the value traded at the close of t (zipline's and qlib's
per-side commission plus a fixed slippage in bps). Shorts pay the same costs and no borrow fee.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.backtest.benchmark import buy_and_hold
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.strategies import target_weights


@dataclass(frozen=True)
class Strategy:
    """A named strategy and its settings (strategies.py defines each)."""

    name: str
    threshold: float = 0.5
    top_k: int = 10
    max_swaps: int = 1


def cost_per_side(cost_bps: float, slippage_bps: float) -> float:
    """Fraction of traded value lost per side; both inputs are basis points in [0, 1000] (10%)."""
    for name, value in (("cost_bps", cost_bps), ("slippage_bps", slippage_bps)):
        if not 0 <= value <= 1000:
            raise ValueError(f"{name}={value}: expected basis points between 0 and 1000 (10%)")
    return (cost_bps + slippage_bps) / 1e4


def simulate(weights: np.ndarray, returns: np.ndarray, cost: float, chunk: int = 512
             ) -> tuple[np.ndarray, np.ndarray]:
    """(gross returns, turnover) per session of `weights` on `returns` (module doc); net = g - cost * u.
    The drift is computed `chunk` sessions at a time, so its temporaries stay small."""
    gross = np.einsum("ij,ij->i", weights, returns)
    turnover = np.empty(len(gross))
    turnover[0] = np.abs(weights[0]).sum()
    for first in range(1, len(gross), chunk):
        last = min(first + chunk, len(gross))
        drift = 1.0 + returns[first - 1:last - 1]
        drift *= weights[first - 1:last - 1]
        drift /= (1.0 + gross[first - 1:last - 1])[:, None]
        drift -= weights[first:last]
        np.abs(drift, out=drift)
        turnover[first:last] = drift.sum(axis=1)
    return gross, turnover


def run(predictions: pl.DataFrame, strategies: Sequence[Strategy], cost: float) -> dict[str, pl.DataFrame]:
    """Backtest each strategy on `predictions` (ticker, date, prob, next_return) against the benchmark.

    Returns, per strategy name, the daily frame: date, strategy (net), benchmark (net), turnover,
    strategy_gross, benchmark_gross, benchmark_turnover. The benchmark and the strategies are
    independent, so they run on two threads (numpy releases the GIL in its array loops).
    """
    grid = to_grid(predictions)
    with ThreadPoolExecutor(max_workers=2) as pool:
        benchmark = pool.submit(buy_and_hold, grid)
        books = {s.name: pool.submit(_returns, grid, s, cost) for s in strategies}
        bench_gross, bench_turnover = benchmark.result()
        frame = pl.DataFrame({"date": grid.dates, "benchmark": bench_gross - cost * bench_turnover,
                              "benchmark_gross": bench_gross, "benchmark_turnover": bench_turnover})
        return {name: _frame(frame, *book.result()) for name, book in books.items()}


def _returns(grid: Grid, strategy: Strategy, cost: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(net, gross, turnover) per session of one strategy."""
    weights = target_weights(grid, strategy.name, strategy.threshold, strategy.top_k, strategy.max_swaps)
    gross, turnover = simulate(weights, grid.returns, cost)
    return gross - cost * turnover, gross, turnover


def _frame(benchmark: pl.DataFrame, net: np.ndarray, gross: np.ndarray, turnover: np.ndarray) -> pl.DataFrame:
    return benchmark.with_columns(strategy=net, turnover=turnover, strategy_gross=gross).select(
        "date", "strategy", "benchmark", "turnover", "strategy_gross", "benchmark_gross", "benchmark_turnover")


def equity_curve(returns: pl.DataFrame, initial_capital: float, columns: Sequence[str] = ("strategy", "benchmark")
                 ) -> pl.DataFrame:
    """Portfolio value over time of each return column, starting from `initial_capital`."""
    return returns.select("date", *[(initial_capital * (1 + pl.col(c)).cum_prod()).alias(c) for c in columns])


def drawdown_curve(returns: pl.DataFrame, columns: Sequence[str] = ("strategy", "benchmark")) -> pl.DataFrame:
    """Drawdown from the running peak (the initial capital included) of each return column, <= 0."""
    wealth = [(1 + pl.col(c)).cum_prod() for c in columns]
    return returns.select("date", *[(w / pl.max_horizontal(w.cum_max(), 1.0) - 1).alias(c)
                                    for w, c in zip(wealth, columns, strict=True)])
