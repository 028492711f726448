"""Walk-forward retraining: a fresh model per fold, each predicting only its own test period.

For every fold the normaliser is refitted on that fold's training dates and the model is trained
on them (early-stopped on the fold's val dates), exactly as the train stage does on the main split,
so the stitched curve is out of sample on every day.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stockcast.dataset import Panel
from stockcast.models import Windows, build, probability_columns
from stockcast.normalize import fit_normalizer
from stockcast.params import TrainParams
from stockcast.split import Fold, fold_segments


def fold_predictions(panel: Panel, fold: Fold, params: TrainParams, log_dir: Path, n_classes: int = 2) -> pl.DataFrame:
    """Out-of-sample predictions (keys + probability columns) on `fold`'s test dates of a model trained
    on its past."""
    keys = panel.keys.with_columns(segment=fold_segments(panel.keys["date"], fold))
    fold_panel = Panel(keys, panel.x.copy(), panel.y, panel.features)
    dates = keys["date"].to_numpy()
    fit_normalizer(params.normalize, fold_panel.x, fold_panel.segment_rows("train"), panel.features) \
        .transform(fold_panel.x, dates)
    ends = {s: fold_panel.window_ends(params.seq_len, s) for s in ("train", "val", "test")}
    windows = Windows(fold_panel.x, panel.y, params.seq_len, ends)
    model = build(params.model, len(panel.features), params, n_classes)
    model.fit(windows, log_dir)
    proba = model.predict_classes(windows, "test")
    return keys[ends["test"]].with_columns(**probability_columns(proba)).drop_nulls("label")
