"""The fitting half of the one path from features to predictions (scoring.py is the other).

fit: the normaliser is fitted on the panel's train rows only (the leakage rule, enforced here and
nowhere else), the model built from the registry with the torch loop as its trainer, given its
windows by scoring.model_windows (the same rows and normalisation it is later scored on), fitted on
train and selected on val. The train stage, the walk-forward stage (once per fold) and the truth
tests all fit through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from stockcast import train
from stockcast.dataset import Panel
from stockcast.errors import StockcastError
from stockcast.models import Model, Windows, build
from stockcast.models.base import FitResult
from stockcast.normalize import Normalizer, fit_normalizer
from stockcast.params import TrainParams
from stockcast.scoring import model_windows, predictions
from stockcast.segments import Fold, fold_segments
from stockcast.training_log import EpochCallback


@dataclass
class Fitted:
    model: Model
    normalizer: Normalizer
    result: FitResult
    windows: Windows
    rows: dict[str, np.ndarray]  # per segment, the panel rows its windows end at

    def windows_by_ticker(self, panel: Panel) -> dict[str, dict[str, int]]:
        """Per segment, each ticker's windows: who the model was trained (and selected) on."""
        return {segment: dict(panel.keys["ticker"].gather(rows).value_counts().sort("ticker").iter_rows())
                for segment, rows in self.rows.items()}


def trainable(name: str, n_features: int, params: TrainParams, n_classes: int = 2) -> Model:
    """A registered model that can be fitted: built with the torch loop as its nets' trainer."""
    return build(name, n_features, params, n_classes, trainer=train.fit)


def fit(panel: Panel, params: TrainParams, n_classes: int, log_dir: Path, on_epoch: EpochCallback | None = None,
        checkpoint_dir: Path | None = None, spill_dir: Path | None = None) -> Fitted:
    """Fit params.model on the panel's train segment, selected on val (for a sequence model panel.x
    ends normalised in place; a tabular model leaves it raw). With `spill_dir`, a tabular model's
    panel is first moved to a file there (Panel.spill), so memory holds only the rows it reads."""
    model = trainable(params.model, len(panel.features), params, n_classes)
    if spill_dir is not None and not model.reads_sequences and isinstance(panel.x, np.ndarray):
        panel.spill(spill_dir)
    normalizer = fit_normalizer(params.normalize, panel.x, panel.segment_rows("train"), panel.features)
    data, rows = model_windows(model, panel, normalizer, params.seq_len, ("train", "val"))
    for segment, ends in rows.items():
        if len(ends) == 0:
            raise StockcastError(f"train: no usable window in the {segment} segment: "
                                 f"{panel.why_no_windows(params.seq_len, segment)}")
    result = model.fit(data, log_dir, on_epoch, checkpoint_dir)
    return Fitted(model, normalizer, result, data, rows)


def fold_predictions(panel: Panel, fold: Fold, params: TrainParams, log_dir: Path, n_classes: int = 2) -> pl.DataFrame:
    """Walk-forward: a fresh model fitted on `fold`'s past (its own normaliser), predicting only the
    fold's test dates. The raw panel is left as it was: tabular models gather their rows from it
    (from its file once spilled), and a sequence model works on a copy of x."""
    fold_panel = panel.with_segments(fold_segments(panel.keys["date"], fold))
    if trainable(params.model, len(panel.features), params, n_classes).reads_sequences:
        if not isinstance(panel.x, np.ndarray):
            raise StockcastError(f"walkforward: {params.model} reads whole windows; keep the panel in memory")
        fold_panel.x = panel.x.copy()
    fitted = fit(fold_panel, params, n_classes, log_dir)
    return predictions(fitted.model, fold_panel, fitted.normalizer, params.seq_len, ("test",))
