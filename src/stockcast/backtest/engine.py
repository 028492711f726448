"""Long/flat portfolio from predicted probabilities, with costs, against equal-weight buy-and-hold.

Timing: a prediction made with data up to the close of t sets the position held from the close
of t to the close of t+1, so it earns `next_return` of t. Capital is split equally across the
tickers that trade on t: a ticker predicted up holds 1/N_t of the book, a ticker predicted down
holds cash. Costs of (cost_bps + slippage_bps) / 1e4 are charged on every unit of weight traded.
The benchmark holds every ticker at 1/N_t (rebalanced daily, no costs).
"""

from __future__ import annotations

import polars as pl


def long_flat(predictions: pl.DataFrame, threshold: float, cost_bps: float, slippage_bps: float) -> pl.DataFrame:
    """Daily returns (date, strategy, benchmark, turnover) of the long/flat rule on `predictions`
    (ticker, date, prob, next_return)."""
    cost = (cost_bps + slippage_bps) / 1e4
    frame = (
        predictions.sort("ticker", "date")
        .with_columns(n=pl.len().over("date"))
        .with_columns(weight=(pl.col("prob") > threshold).cast(pl.Float64) / pl.col("n"))
        .with_columns(traded=(pl.col("weight") - pl.col("weight").shift(1).over("ticker").fill_null(0.0)).abs())
    )
    daily = (
        frame.group_by("date")
        .agg(
            gross=(pl.col("weight") * pl.col("next_return")).sum(),
            turnover=pl.col("traded").sum(),
            benchmark=pl.col("next_return").mean(),
        )
        .sort("date")
    )
    return daily.select("date", strategy=pl.col("gross") - cost * pl.col("turnover"),
                        benchmark="benchmark", turnover="turnover")


def equity_curve(returns: pl.DataFrame, initial_capital: float) -> pl.DataFrame:
    """Portfolio value over time for the strategy and the benchmark, starting at `initial_capital`."""
    return returns.select(
        "date",
        strategy=initial_capital * (1 + pl.col("strategy")).cum_prod(),
        benchmark=initial_capital * (1 + pl.col("benchmark")).cum_prod(),
    )
