"""A small trained project for the tests of tomorrow's signals (predict stage, CLI, HTTP service).

`prepare` runs quality, features and split on a synthetic market; `trained` copies such a project,
trains a tiny model and evaluates it, so each test has the pipeline's own predictions to compare with.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from stockcast.data.synthetic import generate

from .stages import project, run_stage, set_params

TINY = {"seq_len": 5, "hidden_size": 8, "num_layers": 1, "epochs": 2, "patience": 2, "batch_size": 256,
        "lr_schedule": "constant", "warmup_epochs": 0, "device": "cpu", "resume": False}
SPLIT = {"label": "direction", "horizon": 1, "train_fraction": 0.6, "val_fraction": 0.2, "fraction_of": "rows",
         "val_start": None, "test_start": None, "embargo_days": 50}


def raw_bars() -> pl.DataFrame:
    return generate("realistic", n_tickers=6, n_days=900, seed=3)[0]


def prepare(folder: Path) -> Path:
    """A project through quality, features and split on a synthetic market."""
    folder = project(folder, {"features": {"set": "basic", "families": None}, "split": SPLIT})
    (folder / "data" / "raw").mkdir(parents=True)
    raw_bars().write_parquet(folder / "data" / "raw" / "ohlcv.parquet")
    (folder / "data" / "raw" / "ohlcv.meta.json").write_text('{"source": "synthetic"}')
    for name in ("quality", "features", "split"):
        run_stage(folder, name)
    return folder


def trained(prepared: Path, tmp_path: Path, **train) -> Path:
    """A copy of `prepared` with a tiny model trained (TINY | train) and evaluated."""
    folder = shutil.copytree(prepared, tmp_path / "project")
    set_params(folder, {"train": TINY | train})
    run_stage(folder, "train")
    run_stage(folder, "evaluate", f"models/{train.get('model', 'lstm')}")
    return folder


def cut_dates(predictions: pl.DataFrame, n: int = 3) -> list[date]:
    """A few test dates spread over the segment, each with predictions for several tickers."""
    dates = predictions.filter(pl.col("segment") == "test")["date"].unique().sort()
    return [dates[int(i)] for i in np.linspace(0, len(dates) - 1, n)]
