"""Score out-of-sample predictions honestly: metrics beside baselines, with intervals and tests.

For each segment (val, test): classification metrics (evaluation.classification), the 95% Wilson
interval of accuracy, a one-sided exact binomial test against the null rate and the
Pesaran-Timmermann test (evaluation.significance), IC / rank IC and top/flop accuracy
(evaluation.cross_section). On the test segment also the baselines on the same rows and the plot
data (ROC, calibration, confusion, accuracy by ticker and by year, daily IC).

The null rate is the share of the segment's own majority class, max(up_rate, 1 - up_rate): what the
best constant guess scores on these very rows. It is stricter than the training majority class,
which can be the minority of the test segment (a bull market after a bear one).

With three classes (down, up, flat: predictions carry prob_down and prob_flat) the call is the most
probable class; precision, recall and F1 are macro averages, AUC one-vs-rest macro, log loss
multiclass, the null rate the largest of the three class shares, and the confusion matrix 3 x 3.
Pesaran-Timmermann tests up/down calls, so it runs on the rows where neither the label nor the call
is flat: its keys end in `_up_down` (pt_n_up_down rows). `prob` stays P(up), so IC, top/flop, ROC,
calibration and the backtest read it unchanged. Binary metrics keep their keys.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.evaluation.breakdown import accuracy_by, by_sector
from stockcast.evaluation.classification import (baseline_accuracy, calls, class_probabilities,
                                                 classification_metrics, has_flat_class, multiclass_metrics,
                                                 yesterday_direction)
from stockcast.evaluation.cross_section import ic_summary, information_coefficients, top_flop_accuracy
from stockcast.evaluation.curves import calibration_points, confusion_counts, roc_points
from stockcast.evaluation.exported import export_headline
from stockcast.evaluation.significance import binomial_pvalue, pesaran_timmermann, wilson_interval
from stockcast.labels import FLAT, UP


HEADLINE = {
    "test": ("n", "accuracy", "accuracy_low", "accuracy_high", "null_rate", "p_binomial", "p_pesaran_timmermann",
             "p_pesaran_timmermann_up_down", "flat_rate", "auc", "log_loss", "f1", "ic_mean"),
    "val": ("accuracy", "auc", "log_loss"),
}
"""The keys of each segment that metrics/evaluate.json keeps (the rest: data/predictions/scores.json)."""


def headline(metrics: dict) -> dict:
    """metrics/evaluate.json: per segment scored the HEADLINE keys it has, the baselines, the train
    majority, the selection fit's val scores and, for an exported model, what exporting costs."""
    return {**{s: {k: metrics[s][k] for k in keys if k in metrics[s]} for s, keys in HEADLINE.items() if s in metrics},
            "baselines": metrics["baselines"], "train_majority_class": metrics["train_majority_class"],
            **({"selection": metrics["selection"]} if "selection" in metrics else {}),
            **({"export": export_headline(metrics["export"])} if "export" in metrics else {})}


def selection_scores(config: dict) -> dict[str, float | int]:
    """The val scores the model was selected on, from its config.json (the selection fit's, also when
    the saved model was refit on train+val and its own val predictions would be in-sample)."""
    return {"best_epoch": config["best_epoch"], "refit": int(config.get("refit", {}).get("mode") == "train_val"),
            **{k: v for k, v in (config.get("best") or {}).items() if "val_" in k}}


@dataclass(frozen=True)
class Evaluation:
    """`metrics`: every number per segment (data/predictions/scores.json; `headline` picks the few
    metrics/evaluate.json keeps); `plots`: name -> plot data."""

    metrics: dict[str, dict[str, float] | int]
    plots: dict[str, pl.DataFrame]


def score_segment(rows: pl.DataFrame, threshold: float, top_k: int) -> dict[str, float]:
    """Every metric of one segment's rows (ticker, date, label, prob[, prob_down, prob_flat], fwd_return);
    see module doc."""
    y = rows["label"].to_numpy().astype(np.int64)
    pred = calls(rows, threshold)
    hits, n = int((pred == y).sum()), len(y)
    low, high = wilson_interval(hits, n)
    up_rate = float(np.mean(y == UP)) if n else float("nan")
    if has_flat_class(rows):
        metrics = multiclass_metrics(y, class_probabilities(rows), pred)
        shares = np.bincount(y, minlength=3) / n if n else np.full(3, np.nan)
        null_rate = float(shares.max())
        up_down = (y != FLAT) & (pred != FLAT)
        statistic, p_value = pesaran_timmermann(y[up_down], pred[up_down])
        tests = {"flat_rate": float(shares[FLAT]), "pt_statistic_up_down": statistic,
                 "p_pesaran_timmermann_up_down": p_value, "pt_n_up_down": int(up_down.sum())}
    else:
        metrics = classification_metrics(y, rows["prob"].to_numpy().astype(np.float64), threshold)
        null_rate = max(up_rate, 1 - up_rate)
        statistic, p_value = pesaran_timmermann(y, pred)
        tests = {"pt_statistic": statistic, "p_pesaran_timmermann": p_value}
    return metrics | {
        "accuracy_low": float(low), "accuracy_high": float(high), "up_rate": up_rate, "null_rate": null_rate,
        "p_binomial": binomial_pvalue(hits, n, null_rate),
    } | tests | ic_summary(information_coefficients(rows)) | top_flop_accuracy(rows, top_k)


def plot_data(rows: pl.DataFrame, threshold: float) -> dict[str, pl.DataFrame]:
    """ROC and calibration of P(up) for up, confusion of the calls (2 x 2 or 3 x 3), accuracy by ticker and
    by year, and the daily IC with its running sum."""
    up = (rows["label"].to_numpy() == UP).astype(np.int64)
    prob = rows["prob"].to_numpy().astype(np.float64)
    pred = calls(rows, threshold)
    ic = information_coefficients(rows).with_columns(cumulative_ic=pl.col("ic").cum_sum(),
                                                     cumulative_rank_ic=pl.col("rank_ic").cum_sum())
    return {
        "roc": roc_points(up, prob),
        "calibration": calibration_points(up, prob),
        "confusion": confusion_counts(rows["label"].to_numpy(), pred, 3 if has_flat_class(rows) else 2),
        "accuracy_by_ticker": accuracy_by(rows, pl.col("ticker"), threshold),
        "accuracy_by_year": accuracy_by(rows, pl.col("date").dt.year().alias("year"), threshold),
        "ic": ic,
    }


def evaluate(predictions: pl.DataFrame, labels: pl.DataFrame, train_majority: int, threshold: float,
             top_k: int, segments: tuple[str, ...] = ("val", "test")) -> Evaluation:
    """Score `predictions` (Predictions contract) of `segments` (test alone for a model refit on
    train+val: its val is in-sample); baselines and plot data on test.

    `labels` (Labels contract) supplies yesterday's direction; `train_majority` is the training
    segment's majority class (classification.majority_class).
    """
    metrics: dict[str, dict[str, float] | int] = {
        segment: score_segment(predictions.filter(pl.col("segment") == segment), threshold, top_k)
        for segment in segments}
    test = (predictions.filter(pl.col("segment") == "test")
            .join(yesterday_direction(labels), on=["ticker", "date"], how="left"))
    metrics["baselines"] = baseline_accuracy(test["label"].to_numpy(), train_majority,
                                             test["yesterday_up"].to_numpy())
    metrics["train_majority_class"] = train_majority
    plots = plot_data(test, threshold)
    if "sector" in test.columns:  # from the universe file: accuracy, its interval, IC and n per sector
        plots["accuracy_by_sector"] = by_sector(test, threshold)
        metrics["by_sector"] = {row.pop("sector"): row for row in plots["accuracy_by_sector"].select(
            "sector", "n", "accuracy", "accuracy_low", "accuracy_high", "ic_mean").to_dicts()}
    return Evaluation(metrics, plots)
