"""Classification metrics of P(up) (or of down/up/flat probabilities), and the naive baselines they
must beat on the same rows.

Daily direction is close to a coin flip, so a model's accuracy means something only beside the
baselines: the training segment's majority class, always "up", and yesterday's direction.

With three classes (labels 0 down, 1 up, 2 flat; Predictions with prob_down and prob_flat) the call
is the most probable class (ties: down, then up, then flat), not `prob > threshold`.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score

from stockcast.labels import DOWN, FLAT, UP

CLASS_COLUMNS = ("prob_down", "prob", "prob_flat")
"""Predictions columns holding P(label = 0), P(label = 1) and P(label = 2), in label order."""


def has_flat_class(frame: pl.DataFrame) -> bool:
    """Are these predictions of a three-class model (down, up, flat)?"""
    return "prob_flat" in frame.columns


def predicted_class(frame: pl.DataFrame, threshold: float) -> pl.Expr:
    """The call (`call`, Int8): prob > threshold with two classes; the most probable class with three."""
    if not has_flat_class(frame):
        return (pl.col("prob") > threshold).cast(pl.Int8).alias("call")
    down, up, flat = (pl.col(c) for c in CLASS_COLUMNS)
    return (pl.when((down >= up) & (down >= flat)).then(pl.lit(DOWN, pl.Int8))
            .when(up >= flat).then(pl.lit(UP, pl.Int8))
            .otherwise(pl.lit(FLAT, pl.Int8)).alias("call"))


def calls(frame: pl.DataFrame, threshold: float) -> np.ndarray:
    """predicted_class as a numpy array (int64), computed in float64 like the metrics."""
    if not has_flat_class(frame):
        return (frame["prob"].to_numpy().astype(np.float64) > threshold).astype(np.int64)
    return class_probabilities(frame).argmax(axis=1)


def class_probabilities(frame: pl.DataFrame) -> np.ndarray:
    """(n, 3) float64 probabilities of down, up, flat from three-class predictions."""
    return frame.select(CLASS_COLUMNS).to_numpy().astype(np.float64)


def classification_metrics(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    """accuracy, precision, recall, F1 of the call `prob > threshold`; ROC-AUC and log loss of `prob`
    (scikit-learn's definitions; AUC and log loss are NaN when `y` holds one class)."""
    prob = np.asarray(prob, dtype=np.float64)
    pred = (prob > threshold).astype(int)
    two_classes = len(np.unique(y)) == 2
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auc": float(roc_auc_score(y, prob)) if two_classes else float("nan"),
        "log_loss": float(log_loss(y, prob, labels=[0, 1])) if two_classes else float("nan"),
        "n": int(len(y)),
    }


def multiclass_metrics(y: np.ndarray, proba: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    """Three classes (down, up, flat): accuracy of the call `pred`, macro precision, recall and F1 over the
    three, one-vs-rest macro ROC-AUC and multiclass log loss of `proba` (n, 3) (scikit-learn's
    definitions; AUC is NaN unless `y` holds all three classes, log loss NaN without rows)."""
    labels = [DOWN, UP, FLAT]
    proba = proba / proba.sum(axis=1, keepdims=True)  # float32 rows sum to 1 only within rounding
    all_classes = len(np.unique(y)) == len(labels)
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "recall": float(recall_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "f1": float(f1_score(y, pred, labels=labels, average="macro", zero_division=0)),
        "auc": float(roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels))
        if all_classes else float("nan"),
        "log_loss": float(log_loss(y, proba, labels=labels)) if len(y) else float("nan"),
        "n": int(len(y)),
    }


def majority_class(train_labels: pl.Series) -> int:
    """The most frequent label of the training segment (ties go to up, then down, then flat)."""
    counts = dict(train_labels.drop_nulls().value_counts().iter_rows())
    return max((UP, DOWN, FLAT), key=lambda label: counts.get(label, 0))


def yesterday_direction(labels: pl.DataFrame) -> pl.DataFrame:
    """ticker, date, yesterday_up: 1 if the ticker's last 1-day return, close[t] / close[t-1] - 1, is > 0.

    It is read from the labels table: next_return of the ticker's previous session is the return into
    t, so the baseline needs no feature (any feature set works) and uses only prices up to t. It is
    null on a ticker's first session. For a horizon h > 1 it still uses the 1-day return.
    """
    previous = pl.col("next_return").shift(1).over("ticker", order_by="date")
    return labels.select("ticker", "date", yesterday_up=(previous > 0).cast(pl.Int8))


def baseline_accuracy(y: np.ndarray, train_majority: int, yesterday_up: np.ndarray) -> dict[str, float]:
    """Accuracy on `y` of: the training majority class; always up; yesterday's direction
    (`yesterday_up`, where it is unknown the training majority class stands in). Yesterday's direction
    is up or down, never flat, with three classes too."""
    yesterday = np.where(np.isnan(yesterday_up.astype(np.float64)), train_majority, yesterday_up)
    return {"majority_class": float(np.mean(y == train_majority)), "always_up": float(np.mean(y == 1)),
            "yesterday": float(np.mean(y == yesterday))}
