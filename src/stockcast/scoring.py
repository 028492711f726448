"""The predicting half of the one path from features to predictions (fitting.py is the other).

`model_windows` gives a model the rows it reads, normalised by the normaliser it was trained with:
- a sequence model reads windows of consecutive rows, so the whole panel is normalised in place
  (no second copy of x);
- a tabular model reads only the row at each window's end, so exactly those rows are gathered, in
  segment order, into one new array and normalised there: the raw panel stays untouched (walk-forward
  refits on it fold after fold without copying it) and each segment is a slice of the array, so no
  model copies its rows again. z-score and robust scaling are per feature, so the values are those
  of the whole-panel path; a per-date rank ranks among the scored rows of that date.
The evaluate stage, the walk-forward stage and the truth tests all predict through `predictions`,
so what the tests check is what the stages run. Nothing here imports the training loop.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from stockcast.dataset import Panel
from stockcast.errors import StockcastError
from stockcast.models import Model, Windows, probability_columns
from stockcast.normalize import Normalizer
from stockcast.rowfile import gather_rows


def normalize_in_place(panel: Panel, normalizer: Normalizer) -> None:
    """panel.x normalised by `normalizer`, in place, once (a second, different normaliser is refused:
    it would stack on the first)."""
    if panel.normalized_by is normalizer:
        return
    if panel.normalized_by is not None:
        raise StockcastError("panel already normalised by another normaliser; load the raw features again")
    normalizer.transform(panel.x, panel.keys["date"].to_numpy())
    panel.normalized_by = normalizer


def model_windows(model: Model, panel: Panel, normalizer: Normalizer, seq_len: int,
                  segments: Iterable[str]) -> tuple[Windows, dict[str, np.ndarray]]:
    """The normalised windows `model` reads for each segment, and the panel rows they end at."""
    rows = {s: panel.window_ends(seq_len, s) for s in segments}
    if model.reads_sequences:
        if not isinstance(panel.x, np.ndarray):
            raise StockcastError(f"{model.params.model} reads whole windows: its panel must stay in memory")
        normalize_in_place(panel, normalizer)
        return Windows(panel.x, panel.y, seq_len, rows), rows
    order = np.concatenate(list(rows.values()))
    starts = np.cumsum([0, *(len(r) for r in rows.values())])
    x = np.empty((len(order), len(panel.features)), dtype=np.float32)
    for (segment, a), b in zip(zip(rows, starts[:-1]), starts[1:]):
        gather_rows(panel.x, rows[segment], x[a:b])
    if panel.normalized_by is None:
        normalizer.transform(x, panel.keys["date"].to_numpy()[order])
    ends = {s: np.arange(a, b) for s, a, b in zip(rows, starts[:-1], starts[1:])}
    return Windows(x, panel.y[order], 1, ends), rows


def predictions(model: Model, panel: Panel, normalizer: Normalizer, seq_len: int,
                segments: Iterable[str]) -> pl.DataFrame:
    """Keys (ticker, date, segment, label, returns) and probability columns of every usable window's
    end row in `segments`, one segment at a time (a tabular model's gathered rows are one segment's)."""
    parts = []
    for segment in segments:
        data, rows = model_windows(model, panel, normalizer, seq_len, (segment,))
        proba = model.predict_proba(data, segment)
        parts.append(panel.keys[rows[segment]].with_columns(**probability_columns(proba)))
    return pl.concat(parts).drop_nulls("label")
