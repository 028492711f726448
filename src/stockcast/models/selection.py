"""The validation scores every model reports and is selected on (early stopping, best epoch)."""

from __future__ import annotations

import numpy as np


def binary_scores(prob: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Validation BCE (log loss) and accuracy at 0.5 of P(up) against labels 0/1."""
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    y = y.astype(np.float64)
    return {"val_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
            "val_accuracy": float(np.mean((p > 0.5) == (y > 0.5)))}


def class_scores(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """val_loss and val_accuracy of (n, n_classes) probabilities: with two classes exactly
    binary_scores of P(up); with three, cross-entropy and the accuracy of the most probable class."""
    if proba.shape[1] == 2:
        return binary_scores(proba[:, 1], y)
    p = np.clip(proba.astype(np.float64), 1e-7, 1.0)
    labels = y.astype(np.int64)
    return {"val_loss": float(-np.mean(np.log(p[np.arange(len(labels)), labels]))),
            "val_accuracy": float(np.mean(p.argmax(axis=1) == labels))}
