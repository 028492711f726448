"""What exporting costs: the same windows scored by torch, the float ONNX and the int8 ONNX model.

Every variant's predictions come from scoring.predictions over the same windows, so their rows align
one to one. Accuracy, log loss and AUC are those of evaluation.classification, the very numbers the
scorecard reports for torch; `max_diff` is max |p_variant - p_torch| over rows and classes (the
float export is held to 1e-5 when it is written, see stockcast.export; int8 is only measured).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from stockcast.errors import StockcastError
from stockcast.evaluation.classification import (CLASS_COLUMNS, calls, class_probabilities,
                                                 classification_metrics, has_flat_class, multiclass_metrics)

REFERENCE = "torch"
KEPT = ("accuracy", "log_loss", "auc", "n")


def variant_scores(scored: dict[str, pl.DataFrame], segments: tuple[str, ...], threshold: float) -> dict:
    """{segment: {variant: {accuracy, log_loss, auc, n, max_diff}}} for predictions `scored` by variant
    (REFERENCE among them), the table data/predictions/scores.json keeps under `export`."""
    reference = scored[REFERENCE]
    for name, frame in scored.items():
        if not frame.select("ticker", "date", "segment").equals(reference.select("ticker", "date", "segment")):
            raise StockcastError(f"evaluate: the {name} predictions are not on torch's rows; score them "
                                 "through scoring.predictions on the same panel")
    table: dict = {}
    for segment in segments:
        rows = {name: frame.filter(pl.col("segment") == segment) for name, frame in scored.items()}
        table[segment] = {name: _scores(frame, threshold) | {"max_diff": _max_diff(frame, rows[REFERENCE])}
                          for name, frame in rows.items()}
    return table


def export_headline(table: dict) -> dict[str, float]:
    """metrics/evaluate.json's `export` (flat, so `dvc metrics diff` shows it): the largest distance of
    each export from torch over the segments, and int8's accuracy and log loss per segment (torch's
    stand beside them under val and test; the float file's equal them within its 1e-5)."""
    out = {f"{name}_max_diff": max(table[s][name]["max_diff"] for s in table)
           for name in next(iter(table.values())) if name != REFERENCE}
    for segment, variants in table.items():
        out |= {f"{segment}_int8_{key}": variants["int8"][key] for key in ("accuracy", "log_loss")}
    return out


def _scores(rows: pl.DataFrame, threshold: float) -> dict[str, float]:
    y = rows["label"].to_numpy().astype(np.int64)
    if has_flat_class(rows):
        metrics = multiclass_metrics(y, class_probabilities(rows), calls(rows, threshold))
    else:
        metrics = classification_metrics(y, rows["prob"].to_numpy().astype(np.float64), threshold)
    return {key: metrics[key] for key in KEPT}


def _max_diff(rows: pl.DataFrame, reference: pl.DataFrame) -> float:
    columns = [c for c in CLASS_COLUMNS if c in rows.columns]
    diff = rows.select(columns).to_numpy().astype(np.float64) - reference.select(columns).to_numpy()
    return float(np.abs(diff).max())
