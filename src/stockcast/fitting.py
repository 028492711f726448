"""The fitting half of the one path from features to predictions (scoring.py is the other).

fit: the normaliser is fitted on the panel's train rows only (the leakage rule, enforced here and
nowhere else), the model built from the registry with the torch loop as its trainer, given its
windows by scoring.model_windows (the same rows and normalisation it is later scored on), fitted on
train and selected on val. With train.refit: train_val, `refit` then fits the final model again on
train+val for the length selection chose (see its doc). The train stage, the walk-forward stage
(once per fold) and the truth tests all fit through it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    result: FitResult                # the selection fit's: best epoch and val scores, whether refit or not
    windows: Windows                 # what `model` was fitted on
    rows: dict[str, np.ndarray]      # per segment, the panel rows those windows end at
    refit: dict[str, Any] = field(default_factory=lambda: {"mode": "none"})  # what config.json records

    def date_ranges(self, panel: Panel) -> dict[str, dict[str, str]]:
        """Per segment, the first and last date its windows end at: what the monitor takes as the
        reference (train) however the split moves as new bars arrive."""
        return {segment: {"first": str(dates.min()), "last": str(dates.max())}
                for segment, rows in self.rows.items() if len(rows)
                for dates in [panel.keys["date"].gather(rows)]}

    def windows_by_ticker(self, panel: Panel) -> dict[str, dict[str, int]]:
        """Per segment, each ticker's windows: who the model was trained (and selected) on."""
        return {segment: dict(panel.keys["ticker"].gather(rows).value_counts().sort("ticker").iter_rows())
                for segment, rows in self.rows.items()}


def trainable(name: str, n_features: int, params: TrainParams, n_classes: int = 2) -> Model:
    """A registered model that can be fitted: built with the torch loop as its nets' trainer."""
    return build(name, n_features, params, n_classes, trainer=train)


def fit(panel: Panel, params: TrainParams, n_classes: int, log_dir: Path, on_epoch: EpochCallback | None = None,
        checkpoint_dir: Path | None = None, spill_dir: Path | None = None) -> Fitted:
    """Fit params.model on the panel's train segment, selected on val, then refit on train+val when
    train.refit says so (for a sequence model panel.x ends normalised in place by the returned
    normaliser; a tabular model leaves it raw). With `spill_dir`, a tabular model's panel is first
    moved to a file there (Panel.spill), so memory holds only the rows it reads."""
    model = trainable(params.model, len(panel.features), params, n_classes)
    if spill_dir is not None and not model.reads_sequences and isinstance(panel.x, np.ndarray):
        panel.spill(spill_dir)
    refitting = params.refit == "train_val"
    raw = panel.x.copy() if refitting and model.reads_sequences else None  # normalised in place next
    normalizer = fit_normalizer(params.normalize, panel.x, panel.segment_rows("train"), panel.features)
    data, rows = model_windows(model, panel, normalizer, params.seq_len, ("train", "val"))
    for segment, ends in rows.items():
        if len(ends) == 0:
            raise StockcastError(f"train: no usable window in the {segment} segment: "
                                 f"{panel.why_no_windows(params.seq_len, segment)}")
    result = model.fit(data, log_dir, on_epoch, checkpoint_dir)
    selected = Fitted(model, normalizer, result, data, rows)
    return refit(panel, raw, params, selected, log_dir / "refit") if refitting else selected


def train_val_segments(segment: pl.Series) -> pl.Series:
    """Val joins train; every other row keeps its segment, so the embargo between train and val stays
    out of the fit (and still cuts windows there) and the embargo before test still guards it."""
    frame = pl.DataFrame({"segment": segment})
    return frame.select(pl.when(pl.col("segment") == "val").then(pl.lit("train")).otherwise(pl.col("segment"))
                        .alias("segment")).to_series()


def refit(panel: Panel, raw_x: np.ndarray | None, params: TrainParams, selected: Fitted, log_dir: Path) -> Fitted:
    """The final model: a fresh one (seeded as the selection fit was), fitted on the train and val
    windows together for the length selection chose (Model.refit: nets the epochs early stopping
    chose, trees the best iteration's rounds), with its normaliser fitted again on the train and val
    rows. Test is not touched. `raw_x` is the unnormalised x of a sequence model's panel (its panel.x
    was normalised in place by the selection fit), None for a tabular model (the panel stays raw)."""
    merged = panel.with_segments(train_val_segments(panel.keys["segment"]))
    if raw_x is not None:
        merged.x = raw_x
    normalizer = fit_normalizer(params.normalize, merged.x, merged.segment_rows("train"), panel.features)
    train.seed_everything(params.seed)
    model = trainable(params.model, len(panel.features), params, selected.model.n_classes)
    data, rows = model_windows(model, merged, normalizer, params.seq_len, ("train",))
    length = model.refit(data, selected.result, log_dir)
    if raw_x is not None:  # the caller's panel now holds x as the final model reads it
        panel.x, panel.normalized_by = merged.x, normalizer
    dates = merged.keys["date"].gather(rows["train"])
    return Fitted(model, normalizer, selected.result, data, rows, {
        "mode": "train_val", "length": length, "windows": len(rows["train"]),
        "first_date": str(dates.min()), "last_date": str(dates.max()),
        "selection_windows": {s: len(e) for s, e in selected.rows.items()}})


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
