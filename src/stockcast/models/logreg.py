"""Logistic regression on the feature row at the window's end date: the linear baseline (scikit-learn).

The fitted model is kept as two arrays and predicted as sigmoid(x @ coef + intercept) for two classes,
softmax(x @ coef.T + intercept) for three (multinomial), which is what scikit-learn's predict_proba
computes; loading needs neither its pickles nor its estimator.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file, save_file
from scipy.special import softmax
from sklearn.linear_model import LogisticRegression

from stockcast.errors import StockcastError
from stockcast.models.base import FitResult, Model, NetTrainer, Windows
from stockcast.params import TrainParams
from stockcast.models.selection import class_scores
from stockcast.training_log import EpochCallback, log_history

WEIGHTS = "logreg.safetensors"


class LogReg(Model):
    """L2-regularised (train.logreg.c) logistic regression, multinomial with three classes; one "epoch" in the logs."""

    def __init__(self, n_features: int, params: TrainParams, n_classes: int = 2, trainer: NetTrainer | None = None):
        super().__init__(n_features, params, n_classes, trainer)
        self.coef = np.zeros(self._coef_shape)
        self.intercept = np.zeros(1 if n_classes == 2 else n_classes)

    @property
    def _coef_shape(self) -> tuple[int, ...]:
        return (self.n_features,) if self.n_classes == 2 else (self.n_classes, self.n_features)

    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        x, y = data.rows("train")
        self._solve(x, y)
        metrics = {"train_loss": class_scores(self._proba(x), y)["val_loss"],
                   **class_scores(self.predict_proba(data, "val"), data.rows("val")[1])}
        log_history(log_dir, [metrics], on_epoch)
        return FitResult(0, metrics, [metrics])

    def refit(self, data: Windows, selection: FitResult, log_dir: Path) -> dict[str, Any]:
        """No length to carry over: the solver runs to convergence (at most logreg.max_iter) on train+val."""
        self._solve(*data.rows("train"))
        return {"max_iter": self.params.logreg.max_iter}

    def _solve(self, x: np.ndarray, y: np.ndarray) -> None:
        if len(np.unique(y)) < self.n_classes:
            raise StockcastError(f"train: logreg needs all {self.n_classes} labels in the train segment")
        estimator = LogisticRegression(C=self.params.logreg.c, max_iter=self.params.logreg.max_iter,
                                       random_state=self.params.seed).fit(x, y)
        coef = estimator.coef_[0] if self.n_classes == 2 else estimator.coef_
        # C order: safetensors writes raw bytes, and scikit-learn's multinomial coef_ can be Fortran-ordered
        self.coef = np.ascontiguousarray(coef, dtype=np.float64)
        self.intercept = np.ascontiguousarray(estimator.intercept_, dtype=np.float64)

    def _proba(self, x: np.ndarray) -> np.ndarray:
        x = x.astype(np.float64)
        if self.n_classes == 2:
            up = 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept[0])))
            return np.column_stack([1 - up, up])
        return softmax(x @ self.coef.T + self.intercept, axis=1)

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        return self._proba(data.rows(segment)[0]).astype(np.float32)

    def save(self, directory: Path) -> list[str]:
        save_file({"coef": self.coef, "intercept": self.intercept}, directory / WEIGHTS)
        return [WEIGHTS]

    def restore(self, directory: Path) -> None:
        state = load_file(directory / WEIGHTS)
        if state["coef"].shape != self._coef_shape:
            raise ValueError(f"coef has shape {state['coef'].shape}, expected {self._coef_shape}")
        self.coef, self.intercept = state["coef"], state["intercept"]
