"""Score out-of-sample predictions honestly: metrics beside baselines, with intervals and tests.

For each segment (val, test): classification metrics (evaluation.classification), the 95% Wilson
interval of accuracy, a one-sided exact binomial test against the null rate and the
Pesaran-Timmermann test (evaluation.significance), IC / rank IC and top/flop accuracy
(evaluation.cross_section). On the test segment also the baselines on the same rows and the plot
data (ROC, calibration, confusion, accuracy by ticker and by year, daily IC).

The null rate is the share of the segment's own majority class, max(up_rate, 1 - up_rate): what the
best constant guess scores on these very rows. It is stricter than the training majority class,
which can be the minority of the test segment (a bull market after a bear one).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.evaluation.breakdown import accuracy_by
from stockcast.evaluation.classification import baseline_accuracy, classification_metrics, yesterday_direction
from stockcast.evaluation.cross_section import ic_summary, information_coefficients, top_flop_accuracy
from stockcast.evaluation.curves import calibration_points, confusion_counts, roc_points
from stockcast.evaluation.significance import binomial_pvalue, pesaran_timmermann, wilson_interval


@dataclass(frozen=True)
class Evaluation:
    """`metrics`: small and flat per segment (metrics/evaluate.json); `plots`: name -> plot data."""

    metrics: dict[str, dict[str, float] | int]
    plots: dict[str, pl.DataFrame]


def score_segment(rows: pl.DataFrame, threshold: float, top_k: int) -> dict[str, float]:
    """Every metric of one segment's rows (ticker, date, label, prob, fwd_return); see module doc."""
    y = rows["label"].to_numpy().astype(np.int64)
    prob = rows["prob"].to_numpy().astype(np.float64)
    pred = (prob > threshold).astype(np.int64)
    metrics = classification_metrics(y, prob, threshold)
    hits, n = int((pred == y).sum()), len(y)
    low, high = wilson_interval(hits, n)
    up_rate = float(y.mean()) if n else float("nan")
    null_rate = max(up_rate, 1 - up_rate)
    statistic, p_value = pesaran_timmermann(y, pred)
    return metrics | {
        "accuracy_low": float(low), "accuracy_high": float(high), "up_rate": up_rate, "null_rate": null_rate,
        "p_binomial": binomial_pvalue(hits, n, null_rate), "pt_statistic": statistic, "p_pesaran_timmermann": p_value,
    } | ic_summary(information_coefficients(rows)) | top_flop_accuracy(rows, top_k)


def plot_data(rows: pl.DataFrame, threshold: float) -> dict[str, pl.DataFrame]:
    """ROC, calibration, confusion, accuracy by ticker and by year, and the daily IC with its running sum."""
    y = rows["label"].to_numpy().astype(np.int64)
    prob = rows["prob"].to_numpy().astype(np.float64)
    ic = information_coefficients(rows).with_columns(cumulative_ic=pl.col("ic").cum_sum(),
                                                     cumulative_rank_ic=pl.col("rank_ic").cum_sum())
    return {
        "roc": roc_points(y, prob),
        "calibration": calibration_points(y, prob),
        "confusion": confusion_counts(y, (prob > threshold).astype(np.int64)),
        "accuracy_by_ticker": accuracy_by(rows, pl.col("ticker"), threshold),
        "accuracy_by_year": accuracy_by(rows, pl.col("date").dt.year().alias("year"), threshold),
        "ic": ic,
    }


def evaluate(predictions: pl.DataFrame, labels: pl.DataFrame, train_majority: int, threshold: float,
             top_k: int) -> Evaluation:
    """Score `predictions` (Predictions contract) of val and test; baselines and plot data on test.

    `labels` (Labels contract) supplies yesterday's direction; `train_majority` is the training
    segment's majority class (classification.majority_class).
    """
    metrics: dict[str, dict[str, float] | int] = {
        segment: score_segment(predictions.filter(pl.col("segment") == segment), threshold, top_k)
        for segment in ("val", "test")}
    test = (predictions.filter(pl.col("segment") == "test")
            .join(yesterday_direction(labels), on=["ticker", "date"], how="left"))
    metrics["baselines"] = baseline_accuracy(test["label"].to_numpy(), train_majority,
                                             test["yesterday_up"].to_numpy())
    metrics["train_majority_class"] = train_majority
    return Evaluation(metrics, plot_data(test, threshold))
