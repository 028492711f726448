"""Accuracy by group (ticker, year): where the model's edge comes from, or where it is missing.

Per group: n, accuracy of the call (classification.predicted_class) with its 95% Wilson interval,
up_rate (the share of label 1: the accuracy of always-up), mean_prob (of P(up)), and ROC-AUC of P(up)
for up against the rest from ranks (Mann-Whitney: (R1 - n1(n1 + 1)/2) / (n1 n0), R1 the
sum of the positives' ranks within the group, ties averaged), NaN with one class.
"""

from __future__ import annotations

import polars as pl

from stockcast.evaluation.classification import predicted_class
from stockcast.evaluation.cross_section import ic_summary, information_coefficients
from stockcast.evaluation.significance import wilson_interval


def accuracy_by(frame: pl.DataFrame, key: pl.Expr, threshold: float) -> pl.DataFrame:
    """The breakdown of `frame` (prob, label, ...) by `key`, an expression naming its output column."""
    up = (pl.col("label") == 1).cast(pl.Float64)
    positives = up.sum()
    negatives = pl.len() - positives
    rank_sum = pl.col("prob").rank("average").filter(pl.col("label") == 1).sum()
    table = (frame.group_by(key)
             .agg(n=pl.len(),
                  hits=(predicted_class(frame, threshold) == pl.col("label")).sum(),
                  up_rate=up.mean(), mean_prob=pl.col("prob").cast(pl.Float64).mean(),
                  auc=pl.when((positives > 0) & (negatives > 0))
                  .then((rank_sum - positives * (positives + 1) / 2) / (positives * negatives)))
             .sort(key.meta.output_name()))
    low, high = wilson_interval(table["hits"].to_numpy(), table["n"].to_numpy())
    return table.with_columns(accuracy=pl.col("hits") / pl.col("n"), accuracy_low=low, accuracy_high=high).select(
        key.meta.output_name(), "n", "accuracy", "accuracy_low", "accuracy_high", "up_rate", "auc", "mean_prob")


def by_sector(frame: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """accuracy_by sector, with each sector's mean daily IC among its own tickers (NaN where no date has
    MIN_NAMES of them)."""
    table = accuracy_by(frame, pl.col("sector"), threshold)
    ic = [ic_summary(information_coefficients(frame.filter(pl.col("sector") == s)))["ic_mean"] for s in table["sector"]]
    return table.with_columns(ic_mean=pl.Series(ic, dtype=pl.Float64))
