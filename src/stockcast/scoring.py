"""The predicting half of the one path from features to predictions (fitting.py is the other).

A panel is normalised in place by the normaliser the model was trained with, cut into the windows
the model reads, and every usable window of the asked segments gets the model's class probabilities.
The evaluate stage, the walk-forward stage and the truth tests all predict through `predictions`,
so what the tests check is what the stages run. Nothing here imports the training loop.
"""

from __future__ import annotations

from collections.abc import Iterable

import polars as pl

from stockcast.dataset import Panel
from stockcast.models import Model, Windows, probability_columns
from stockcast.normalize import Normalizer


def normalize_in_place(panel: Panel, normalizer: Normalizer) -> Panel:
    """panel.x normalised by `normalizer` (fitted on a train segment), in place: no second copy of x."""
    normalizer.transform(panel.x, panel.keys["date"].to_numpy())
    return panel


def windows(panel: Panel, seq_len: int, segments: Iterable[str]) -> Windows:
    """The usable windows of each segment (dataset.Panel.window_ends) over the panel's normalised rows."""
    return Windows(panel.x, panel.y, seq_len, {s: panel.window_ends(seq_len, s) for s in segments})


def predictions(model: Model, panel: Panel, seq_len: int, segments: Iterable[str]) -> pl.DataFrame:
    """Keys (ticker, date, segment, label, returns) and probability columns of every usable window's
    end row in `segments`, from a normalised panel."""
    data = windows(panel, seq_len, segments)
    parts = [panel.keys[data.ends[s]].with_columns(**probability_columns(model.predict_proba(data, s)))
             for s in data.ends]
    return pl.concat(parts).drop_nulls("label")
