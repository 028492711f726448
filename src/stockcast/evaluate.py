"""Classification metrics of out-of-sample predictions, next to naive baselines on the same rows.

Daily direction is close to a coin flip, so a model's accuracy only means something beside the
baselines: the training segment's majority class, and always predicting "up".
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score, roc_curve


def classification_metrics(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    """accuracy, precision, recall, F1 of `prob > threshold`, and ROC-AUC of `prob` (NaN if one class)."""
    pred = (prob > threshold).astype(int)
    auc = roc_auc_score(y, prob) if len(np.unique(y)) == 2 else float("nan")
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "auc": float(auc),
        "n": int(len(y)),
    }


def baseline_accuracy(y: np.ndarray, train_majority: int) -> dict[str, float]:
    """Accuracy of predicting the training majority class, and of always predicting up."""
    return {"majority_class": float(np.mean(y == train_majority)), "always_up": float(np.mean(y == 1))}


def majority_class(train_labels: pl.Series) -> int:
    """The more frequent label of the training segment (ties go to up)."""
    return int(train_labels.drop_nulls().mean() >= 0.5)


def roc_points(y: np.ndarray, prob: np.ndarray) -> pl.DataFrame:
    """ROC curve as plot data (fpr, tpr)."""
    fpr, tpr, _ = roc_curve(y, prob)
    return pl.DataFrame({"fpr": fpr, "tpr": tpr})
