"""Logistic regression on the feature row at the window's end date: the linear baseline (scikit-learn).

The fitted line is kept as two arrays and predicted as sigmoid(x @ coef + intercept), which is what
scikit-learn's predict_proba computes for two classes; loading needs neither its pickles nor its
estimator.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from safetensors.numpy import load_file, save_file
from sklearn.linear_model import LogisticRegression

from stockcast.errors import StockcastError
from stockcast.models.base import Model, Windows
from stockcast.params import TrainParams
from stockcast.train import EpochCallback, FitResult, binary_scores, log_history

WEIGHTS = "logreg.safetensors"


class LogReg(Model):
    """L2-regularised (train.logreg.c) logistic regression; one "epoch" in the logs."""

    def __init__(self, n_features: int, params: TrainParams):
        super().__init__(n_features, params)
        self.coef = np.zeros(n_features)
        self.intercept = np.zeros(1)

    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        x, y = data.rows("train")
        if len(np.unique(y)) < 2:
            raise StockcastError("train: logreg needs both labels in the train segment")
        estimator = LogisticRegression(C=self.params.logreg.c, max_iter=self.params.logreg.max_iter,
                                       random_state=self.params.seed).fit(x, y)
        self.coef, self.intercept = estimator.coef_[0].astype(np.float64), estimator.intercept_.astype(np.float64)
        metrics = {"train_loss": binary_scores(self._proba(x), y)["val_loss"],
                   **binary_scores(self.predict_proba(data, "val"), data.rows("val")[1])}
        log_history(log_dir, [metrics], on_epoch)
        return FitResult(0, metrics, [metrics])

    def _proba(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(x.astype(np.float64) @ self.coef + self.intercept[0])))

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        return self._proba(data.rows(segment)[0]).astype(np.float32)

    def save(self, directory: Path) -> list[str]:
        save_file({"coef": self.coef, "intercept": self.intercept}, directory / WEIGHTS)
        return [WEIGHTS]

    def restore(self, directory: Path) -> None:
        state = load_file(directory / WEIGHTS)
        if state["coef"].shape != (self.n_features,):
            raise ValueError(f"coef has shape {state['coef'].shape}, expected ({self.n_features},)")
        self.coef, self.intercept = state["coef"], state["intercept"]
