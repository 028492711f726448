"""The one interface every model offers the stages, kept apart from the tiny nn.Modules (qlib's split).

A model is built from (n_features, TrainParams, n_classes), fitted on `Windows`, asked for class
probabilities on a segment (`predict_proba`, (n, n_classes) as in scikit-learn; `prob_up` is its
P(up) column), and saved to / restored from a folder of files it names. `refit` fits a fresh model
again on more rows for the length a selection fit chose (the final model on train+val, no val left
to stop on). Nets are fitted by the torch loop that the caller hands in (`trainer`, the
stockcast.train module): predicting needs no training code.
Two classes (0 down, 1 up) are the binary model of old: one logit, P(up); three add flat (label 2).
artifacts.py adds config.json and checksums around those files; the model itself never reads anything else.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import polars as pl

from stockcast.dataset import WindowDataset
from stockcast.errors import StockcastError
from stockcast.params import TrainParams
from stockcast.training_log import EpochCallback


class NetTrainer(Protocol):
    """What nets are fitted with: the stockcast.train module (its `fit` and `fit_epochs`)."""

    def fit(self, net: Any, train_set: WindowDataset, val_set: WindowDataset, params: TrainParams,
            log_dir: str | Path, on_epoch: EpochCallback | None = None, checkpoint_dir: Path | None = None,
            n_classes: int = 2) -> FitResult: ...

    def fit_epochs(self, net: Any, train_set: WindowDataset, params: TrainParams, epochs: int,
                   log_dir: str | Path) -> list[dict[str, float]]: ...


@dataclass
class FitResult:
    best_epoch: int
    best: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False  # by patience or by the target accuracy, before the last epoch
    members: dict[str, FitResult] = field(default_factory=dict)  # an ensemble's: each member's own selection


@dataclass(frozen=True)
class Windows:
    """Normalised rows (n, F), labels (n,) and, per segment, the rows that end a usable window.

    Sequence models see the window x[end-seq_len+1 : end+1]; tabular models see the row x[end]
    alone. Both are scored on the same `ends`, so evaluation compares like with like.
    """

    x: np.ndarray
    y: np.ndarray
    seq_len: int
    ends: dict[str, np.ndarray]  # ascending row numbers

    def dataset(self, segment: str) -> WindowDataset:
        return WindowDataset(self.x, self.y, self.ends[segment], self.seq_len)

    def rows(self, segment: str) -> tuple[np.ndarray, np.ndarray]:
        """The feature row and label at each window's end date: a view when the (ascending) ends are
        consecutive rows, as scoring.model_windows lays tabular segments out; a copy otherwise."""
        ends = self.ends[segment]
        if len(ends) and ends[-1] - ends[0] + 1 == len(ends):
            return self.x[ends[0]:ends[-1] + 1], self.y[ends[0]:ends[-1] + 1]
        return self.x[ends], self.y[ends]


class Model(ABC):
    """What train and evaluate see of any model, neural or not."""

    reads_sequences = False
    """True when the model reads whole windows (nets), False when it reads the end row alone."""

    def __init__(self, n_features: int, params: TrainParams, n_classes: int = 2, trainer: NetTrainer | None = None):
        if n_classes not in (2, 3):
            raise StockcastError(f"train: {n_classes} classes; models predict 2 (down, up) or 3 (down, up, flat)")
        self.n_features = n_features
        self.params = params
        self.n_classes = n_classes
        self.trainer = trainer

    @abstractmethod
    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        """Fit on data.ends["train"], select on data.ends["val"]; log scalars under `log_dir`."""

    @abstractmethod
    def refit(self, data: Windows, selection: FitResult, log_dir: Path) -> dict[str, Any]:
        """Fit from scratch on data.ends["train"] (no val: train+val merged) for the length `selection`
        chose; return that length as config.json records it (e.g. {"epochs": 7})."""

    @abstractmethod
    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        """(n, n_classes) probabilities of labels 0, 1[, 2] for each window ending at data.ends[segment]."""

    def prob_up(self, data: Windows, segment: str) -> np.ndarray:
        """P(up) = P(label = 1) for each window ending at data.ends[segment], in that order."""
        return self.predict_proba(data, segment)[:, 1]

    @abstractmethod
    def save(self, directory: Path) -> list[str]:
        """Write the fitted state under `directory`; return the file names written (relative)."""

    def feature_importance(self) -> dict[str, np.ndarray] | None:
        """Importance per input feature by kind (e.g. gain, split), for models that have one."""
        return None

    @abstractmethod
    def restore(self, directory: Path) -> None:
        """Load the state written by `save`; file errors propagate for artifacts.py to explain."""


def probability_columns(proba: np.ndarray) -> dict[str, pl.Series]:
    """The Predictions table's probability columns from (n, n_classes) class probabilities: prob is
    P(up) always; prob_down and prob_flat only with three classes."""
    columns = {"prob": pl.Series(proba[:, 1], dtype=pl.Float32)}
    if proba.shape[1] == 3:
        columns |= {"prob_down": pl.Series(proba[:, 0], dtype=pl.Float32),
                    "prob_flat": pl.Series(proba[:, 2], dtype=pl.Float32)}
    return columns
