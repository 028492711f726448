"""Walk-forward backtest: the out-of-sample predictions of successive folds, traded as one book.

Fold i's model is trained on data before its test period and predicts that period only; test
periods follow each other without overlap. Stitching concatenates the folds' predictions and trades
them in one run, so positions carry across a fold boundary as they would when a model is retrained in
production, and every day of the curve is traded on a prediction its model never trained on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import polars as pl

from stockcast.backtest.engine import Capacity, Costs, Strategy, run
from stockcast.backtest.metrics import summarize
from stockcast.errors import StockcastError


@dataclass(frozen=True)
class WalkForward:
    """The stitched daily returns (with a `fold` column), metrics per fold, and of the whole curve."""

    returns: pl.DataFrame
    folds: pl.DataFrame
    summary: dict[str, dict[str, float]]


def stitch(folds: Mapping[int, pl.DataFrame]) -> pl.DataFrame:
    """Concatenate per-fold predictions with a `fold` column (the fold's own number, as in
    data/splits/folds.json); each fold must start after the previous one ends, or the curve would
    trade two models' views of the same day."""
    if not folds:
        raise StockcastError("walk-forward: no folds to stitch")
    for (i, before), (j, after) in pairwise(folds.items()):
        if after["date"].min() <= before["date"].max():
            raise StockcastError(f"walk-forward: fold {j} starts {after['date'].min()}, not after fold {i} "
                                 f"ends {before['date'].max()}; test periods must follow each other")
    return pl.concat([f.with_columns(fold=pl.lit(i, pl.Int32)) for i, f in folds.items()], how="vertical_relaxed")


def walk_forward(folds: Mapping[int, pl.DataFrame], strategy: Strategy, costs: Costs, trials: int = 1,
                 capacity: Capacity | None = None) -> WalkForward:
    """Trade the stitched out-of-sample predictions (ticker, date, prob, hold_return) of `folds`
    (fold number -> its test predictions, in date order)."""
    predictions = stitch(folds)
    calendar = predictions.group_by("date").agg(pl.col("fold").first())
    periods_per_year = costs.periods_per_year
    returns = run(predictions, [strategy], costs, capacity)[strategy.name].join(calendar, on="date").sort("date")
    per_fold = returns.group_by("fold").agg(
        first=pl.col("date").min(), last=pl.col("date").max(), days=pl.len(),
        strategy=pl.col("strategy"), benchmark=pl.col("benchmark")).sort("fold")
    keys = ("annual_return", "sharpe", "max_drawdown", "win_rate")
    rows = [{"fold": row["fold"], "first": row["first"], "last": row["last"], "days": row["days"]}
            | {f"{side}_{k}": v for side in ("strategy", "benchmark")
               for k, v in summarize(np.asarray(row[side]), periods_per_year).items() if k in keys}
            for row in per_fold.iter_rows(named=True)]
    summary = {side: summarize(returns[side].to_numpy(), periods_per_year, trials=trials)
               for side in ("strategy", "benchmark")}
    return WalkForward(returns, pl.DataFrame(rows), summary)
