"""Daily portfolio returns of target weights, net of costs, slippage and borrow, beside the benchmark.

Timing: the weights w[t] set on the signal of date t are traded at the fill after it (fills.py:
by default the next open) and held to the next fill, earning hold_return[t, i] = r[t, i]. Nothing a
weight uses is later than the close of t; r is the label side of the table, never an input.

Gross return of period t:  g[t] = sum_i w[t, i] * r[t, i]
Drifted weights before trading at t:  d[t, i] = w[t-1, i] * (1 + r[t-1, i]) / (1 + g[t-1]),  d[0] = 0
Turnover:  u[t] = sum_i |w[t, i] - d[t, i]|  (fraction of the book traded, both sides counted)
Borrow:  b[t] = sum_i max(-w[t, i], 0) * fee_i / periods_per_year  (fee_i: the ticker's borrow_bps
         from the universe file, else backtest.borrow_bps_per_year; a general-collateral rate)
Net return:  n[t] = g[t] - c * u[t] - b[t],  c = (cost_bps + slippage_bps) / 1e4 per side

Drift matters: an equal-weight book that is "held" still trades back to equal weights each day, and
that trade is charged. Costs are charged on the value traded at the fill price (zipline's and qlib's
per-side commission plus a fixed slippage in bps).

Participation (`Capacity`): with a book of `capital` dollars (growing with its net returns), no trade
in a ticker may exceed max_participation x its median dollar volume (fills.py), zipline's volume
share limit: |w[t, i] - d[t, i]| <= p * V[t, i] / (capital * equity[t-1]). A trade the cap cuts leaves
the rest of the order undone (the book holds d + the capped trade), so a capped book follows its own
path, simulated one period at a time. Without the cap, or when it binds nowhere, the whole-matrix
computation above is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from stockcast.backtest.benchmark import buy_and_hold
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.strategies import target_weights
from stockcast.errors import StockcastError


@dataclass(frozen=True)
class Strategy:
    """A named strategy and its settings (strategies.py defines each), or a sizing policy's target
    `weights` (sessions x tickers of the grid it trades), computed before the backtest because a
    policy reads more than the grid (history.py, calibration.py, ppo.py)."""

    name: str
    threshold: float = 0.5
    top_k: int = 10
    max_swaps: int = 1
    neutralize: str = "none"  # long_short: none | sector
    weights: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Costs:
    """Per side (commission + slippage, fraction of traded value) and the default borrow fee on shorts."""

    per_side: float
    borrow_bps_per_year: float = 0.0
    periods_per_year: int = 252


@dataclass(frozen=True)
class Capacity:
    """The book's starting capital in dollars and the largest share of a ticker's median dollar volume
    one trade may take."""

    capital: float
    max_participation: float


@dataclass(frozen=True)
class Book:
    """What a strategy held and earned: weights held (sessions x tickers), and per session its gross
    return, turnover and borrow cost."""

    weights: np.ndarray
    gross: np.ndarray
    turnover: np.ndarray
    borrow: np.ndarray

    def net(self, cost: float) -> np.ndarray:
        return self.gross - cost * self.turnover - self.borrow


def cost_per_side(cost_bps: float, slippage_bps: float) -> float:
    """Fraction of traded value lost per side; both inputs are basis points in [0, 1000] (10%)."""
    for name, value in (("cost_bps", cost_bps), ("slippage_bps", slippage_bps)):
        if not 0 <= value <= 1000:
            raise ValueError(f"{name}={value}: expected basis points between 0 and 1000 (10%)")
    return (cost_bps + slippage_bps) / 1e4


def borrow_rates(grid: Grid, costs: Costs) -> np.ndarray:
    """Per-period borrow fee of each ticker: its own borrow_bps where the universe gives one."""
    fee = np.full(grid.shape[1], costs.borrow_bps_per_year, dtype=np.float64)
    if grid.borrow_bps is not None:
        own = np.asarray(grid.borrow_bps, dtype=np.float64)
        fee = np.where(np.isnan(own), fee, own)
    return fee / 1e4 / costs.periods_per_year


def simulate(weights: np.ndarray, returns: np.ndarray, borrow: np.ndarray, chunk: int = 512,
             cost: float = 0.0, dollar_volume: np.ndarray | None = None, capacity: Capacity | None = None
             ) -> tuple[Book, bool]:
    """The book of target `weights` on `returns` without a participation cap (module doc), and whether
    the cap of `capacity` (with `dollar_volume` and `cost`) would cut any of its trades. The drift is
    computed `chunk` sessions at a time, so its temporaries stay small, and the cap is checked on the
    same chunk of trades."""
    gross = np.einsum("ij,ij->i", weights, returns)
    fees = np.minimum(weights, 0.0) @ -borrow
    turnover = np.empty(len(gross))
    turnover[0] = np.abs(weights[0]).sum()
    check = capacity is not None and dollar_volume is not None
    share = capacity.max_participation / capacity.capital if check else 0.0
    equity = 1.0
    capped = check and bool(np.any(np.abs(weights[0]) > np.nan_to_num(share * dollar_volume[0], nan=np.inf)))
    for first in range(1, len(gross), chunk):
        last = min(first + chunk, len(gross))
        drift = 1.0 + returns[first - 1:last - 1]
        drift *= weights[first - 1:last - 1]
        drift /= (1.0 + gross[first - 1:last - 1])[:, None]
        drift -= weights[first:last]
        np.abs(drift, out=drift)
        turnover[first:last] = drift.sum(axis=1)
        if check and not capped:  # trades of sessions first..last-1 against the book's equity before each
            net = gross[first - 1:last - 1] - cost * turnover[first - 1:last - 1] - fees[first - 1:last - 1]
            before = equity * np.cumprod(1.0 + net)
            room = dollar_volume[first:last] * (share / before)[:, None]
            capped = bool(np.any(drift > np.nan_to_num(room, nan=np.inf) * (1 + 1e-12)))
            equity = before[-1]
    return Book(weights, gross, turnover, fees), capped


def simulate_capped(target: np.ndarray, returns: np.ndarray, borrow: np.ndarray, cost: float,
                    dollar_volume: np.ndarray, capacity: Capacity) -> Book:
    """The book of `target` weights under the participation cap, one period at a time (module doc).
    A cell with no known dollar volume is not capped (it is not tradable: the target is 0 there)."""
    days, names = target.shape
    held = np.zeros((days, names))
    gross, turnover, fees = np.zeros(days), np.zeros(days), np.zeros(days)
    limit = np.nan_to_num(capacity.max_participation * dollar_volume / capacity.capital, nan=np.inf)
    drifted, equity = np.zeros(names), 1.0
    for t in range(days):
        trade = np.clip(target[t] - drifted, -limit[t] / equity, limit[t] / equity)
        book = drifted + trade
        held[t] = book
        gross[t] = book @ returns[t]
        turnover[t] = np.abs(trade).sum()
        fees[t] = np.minimum(book, 0.0) @ -borrow
        equity *= max(1.0 + gross[t] - cost * turnover[t] - fees[t], 0.0)
        drifted = book * (1.0 + returns[t]) / (1.0 + gross[t]) if gross[t] > -1.0 else np.zeros(names)
    return Book(held, gross, turnover, fees)


def trade(grid: Grid, strategy: Strategy, costs: Costs, capacity: Capacity | None = None) -> Book:
    """One strategy's book on the grid, capped when `capacity` is given and the cap binds."""
    weights = strategy.weights
    if weights is None:
        weights = target_weights(grid, strategy.name, strategy.threshold, strategy.top_k, strategy.max_swaps,
                                 strategy.neutralize)
    elif weights.shape != grid.shape:
        raise StockcastError(f"backtest: {strategy.name}'s weights are {weights.shape}, the grid {grid.shape}")
    borrow = borrow_rates(grid, costs)
    book, capped = simulate(weights, grid.returns, borrow, cost=costs.per_side, dollar_volume=grid.dollar_volume,
                            capacity=capacity)
    if not capped:
        return book
    return simulate_capped(weights, grid.returns, borrow, costs.per_side, grid.dollar_volume, capacity)


@dataclass(frozen=True)
class Backtest:
    """Per strategy name its daily frame (see `backtest`) and its book; the grid they traded on."""

    daily: dict[str, pl.DataFrame]
    books: dict[str, Book]
    grid: Grid


def run(predictions: pl.DataFrame, strategies: Sequence[Strategy], costs: Costs,
        capacity: Capacity | None = None) -> dict[str, pl.DataFrame]:
    """The daily frames of `backtest`, by strategy name."""
    return backtest(predictions, strategies, costs, capacity).daily


def backtest(predictions: pl.DataFrame, strategies: Sequence[Strategy], costs: Costs,
             capacity: Capacity | None = None) -> Backtest:
    """Backtest each strategy on `predictions` (ticker, date, prob, hold_return[, median_dollar_volume,
    sector, borrow_bps]) against the benchmark.

    The daily frame of each strategy: date, strategy (net), benchmark (net), turnover, strategy_gross,
    benchmark_gross, benchmark_turnover, borrow, trading_cost. The benchmark and the strategies are
    independent, so they run on two threads (numpy releases the GIL in its array loops).
    """
    return backtest_grid(to_grid(predictions), strategies, costs, capacity)


def backtest_grid(grid: Grid, strategies: Sequence[Strategy], costs: Costs, capacity: Capacity | None = None
                  ) -> Backtest:
    """`backtest` on a grid already built (the one the sizing policies' weights were computed on)."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        benchmark = pool.submit(buy_and_hold, grid)
        futures = {s.name: pool.submit(trade, grid, s, costs, capacity) for s in strategies}
        bench_gross, bench_turnover = benchmark.result()
        books = {name: future.result() for name, future in futures.items()}
    frame = pl.DataFrame({"date": grid.dates, "benchmark": bench_gross - costs.per_side * bench_turnover,
                          "benchmark_gross": bench_gross, "benchmark_turnover": bench_turnover})
    return Backtest({name: _frame(frame, book, costs.per_side) for name, book in books.items()}, books, grid)


def _frame(benchmark: pl.DataFrame, book: Book, cost: float) -> pl.DataFrame:
    return benchmark.with_columns(strategy=book.net(cost), turnover=book.turnover, strategy_gross=book.gross,
                                  borrow=book.borrow, trading_cost=cost * book.turnover).select(
        "date", "strategy", "benchmark", "turnover", "strategy_gross", "benchmark_gross", "benchmark_turnover",
        "borrow", "trading_cost")


def sector_contributions(grid: Grid, book: Book) -> pl.DataFrame:
    """Each sector's share of the gross return: sum over days of sum_{i in sector} w[t, i] * r[t, i]."""
    if grid.sectors is None:
        return pl.DataFrame(schema={"sector": pl.String, "contribution": pl.Float64})
    sectors, index = np.unique(grid.sectors.astype(str), return_inverse=True)
    per_name = np.einsum("ij,ij->j", book.weights, grid.returns)
    return pl.DataFrame({"sector": sectors, "contribution": np.bincount(index, per_name, len(sectors))})


def equity_curve(returns: pl.DataFrame, initial_capital: float, columns: Sequence[str] = ("strategy", "benchmark")
                 ) -> pl.DataFrame:
    """Portfolio value over time of each return column, starting from `initial_capital`."""
    return returns.select("date", *[(initial_capital * (1 + pl.col(c)).cum_prod()).alias(c) for c in columns])


def drawdown_curve(returns: pl.DataFrame, columns: Sequence[str] = ("strategy", "benchmark")) -> pl.DataFrame:
    """Drawdown from the running peak (the initial capital included) of each return column, <= 0."""
    wealth = {c: (1 + pl.col(c)).cum_prod() for c in columns}
    return returns.select("date", *[(w / pl.max_horizontal(w.cum_max(), 1.0) - 1).alias(c)
                                    for c, w in wealth.items()])
