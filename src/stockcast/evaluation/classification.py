"""Classification metrics of P(up), and the naive baselines they must beat on the same rows.

Daily direction is close to a coin flip, so a model's accuracy means something only beside the
baselines: the training segment's majority class, always "up", and yesterday's direction.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score


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


def majority_class(train_labels: pl.Series) -> int:
    """The more frequent label of the training segment (ties go to up)."""
    return int(train_labels.drop_nulls().mean() >= 0.5)


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
    (`yesterday_up`, where it is unknown the training majority class stands in)."""
    yesterday = np.where(np.isnan(yesterday_up.astype(np.float64)), train_majority, yesterday_up)
    return {"majority_class": float(np.mean(y == train_majority)), "always_up": float(np.mean(y == 1)),
            "yesterday": float(np.mean(y == yesterday))}
