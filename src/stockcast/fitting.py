"""The fitting half of the one path from features to predictions (scoring.py is the other).

fit: the normaliser is fitted on the panel's train rows only (the leakage rule, enforced here and
nowhere else), the panel normalised in place, the model built from the registry with the torch loop
as its trainer, fitted on train and selected on val. The train stage, the walk-forward stage (once
per fold) and the truth tests all fit through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from stockcast import train
from stockcast.dataset import Panel
from stockcast.models import Model, Windows, build
from stockcast.models.base import FitResult
from stockcast.normalize import Normalizer, fit_normalizer
from stockcast.params import TrainParams
from stockcast.scoring import normalize_in_place, predictions, windows
from stockcast.segments import Fold, fold_segments
from stockcast.training_log import EpochCallback


@dataclass
class Fitted:
    model: Model
    normalizer: Normalizer
    result: FitResult
    windows: Windows


def fit(panel: Panel, params: TrainParams, n_classes: int, log_dir: Path, on_epoch: EpochCallback | None = None,
        checkpoint_dir: Path | None = None) -> Fitted:
    """Fit params.model on the panel's train segment, selected on val; panel.x ends normalised in place."""
    normalizer = fit_normalizer(params.normalize, panel.x, panel.segment_rows("train"), panel.features)
    normalize_in_place(panel, normalizer)
    data = windows(panel, params.seq_len, ("train", "val"))
    model = trainable(params.model, len(panel.features), params, n_classes)
    result = model.fit(data, log_dir, on_epoch, checkpoint_dir)
    return Fitted(model, normalizer, result, data)


def fold_predictions(panel: Panel, fold: Fold, params: TrainParams, log_dir: Path, n_classes: int = 2) -> pl.DataFrame:
    """Walk-forward: a fresh model fitted on `fold`'s past (its own normaliser), predicting only the
    fold's test dates. The raw panel is left as it was (the fold works on a copy of x)."""
    keys = panel.keys.with_columns(segment=fold_segments(panel.keys["date"], fold))
    fold_panel = Panel(keys, panel.x.copy(), panel.y, panel.features)
    fitted = fit(fold_panel, params, n_classes, log_dir)
    return predictions(fitted.model, fold_panel, params.seq_len, ("test",))


def trainable(name: str, n_features: int, params: TrainParams, n_classes: int = 2) -> Model:
    """A registered model that can be fitted: built with the torch loop as its nets' trainer."""
    return build(name, n_features, params, n_classes, trainer=train.fit)
