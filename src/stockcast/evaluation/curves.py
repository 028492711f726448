"""Plot data of a probabilistic classifier: ROC, calibration (reliability) and confusion counts.

ROC and calibration are of P(up) against label == 1 (up against the rest when there is a flat class).

Each is small whatever the number of predictions, so it can live in git as a DVC plot (cache: false).
"""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import roc_curve


def roc_points(y: np.ndarray, prob: np.ndarray, max_points: int = 201) -> pl.DataFrame:
    """ROC curve (fpr, tpr) through at most `max_points` of its vertices, first and last kept."""
    fpr, tpr, _ = roc_curve(y, prob)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(max_points, len(fpr))).round().astype(int))
    return pl.DataFrame({"fpr": fpr[keep], "tpr": tpr[keep]})


def calibration_points(y: np.ndarray, prob: np.ndarray, bins: int = 10) -> pl.DataFrame:
    """bin, mean_prob, observed (share of label 1), n: predictions cut into `bins` equal-count bins
    (scikit-learn's calibration_curve, strategy="quantile"). A calibrated model has observed ==
    mean_prob; direction models cluster near 0.5, where equal-width bins would leave most empty."""
    prob = np.asarray(prob, dtype=np.float64)
    edges = np.unique(np.quantile(prob, np.linspace(0, 1, bins + 1)))
    # a prediction equal to an inner edge falls in the bin below it, as in scikit-learn (searchsorted
    # on the inner edges, side="left"); the lowest prediction (index -1) in the first bin. No index
    # passes the last bin: every prediction is <= the last edge.
    index = np.maximum(np.searchsorted(edges, prob, side="left") - 1, 0)
    return (pl.DataFrame({"bin": index, "prob": prob, "label": np.asarray(y, dtype=np.float64)})
            .group_by("bin").agg(mean_prob=pl.col("prob").mean(), observed=pl.col("label").mean(), n=pl.len())
            .sort("bin"))


def confusion_counts(y: np.ndarray, pred: np.ndarray, n_classes: int = 2) -> pl.DataFrame:
    """actual, predicted, n, and cell ("actual 1 / predicted 0") for every cell of the n_classes x
    n_classes matrix (2 x 2, or 3 x 3 with flat = 2), zeros included."""
    counts = np.bincount(n_classes * np.asarray(y, dtype=int) + np.asarray(pred, dtype=int),
                         minlength=n_classes**2)
    actual, predicted = np.divmod(np.arange(n_classes**2), n_classes)
    return pl.DataFrame({"actual": actual, "predicted": predicted, "n": counts}).with_columns(
        cell=pl.format("actual {} / predicted {}", "actual", "predicted"))
