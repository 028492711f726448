"""Scale-out: `torchrun --nproc_per_node 2 stages/train.py` trains one model with DDP (gloo on CPU)."""

import json
import os
import subprocess
import sys
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import yaml

from stockcast.artifacts import load_model
from stockcast.dataset import Panel
from stockcast.models import Windows
from stockcast.normalize import normalizer_from_dict

from .conftest import ROOT

FEATURES = ["f0", "f1", "f2"]


def _tiny_stage_inputs(directory) -> None:
    """What the train stage reads, for 2 tickers x 300 days; the label is the sign of f0 that day."""
    rng = np.random.default_rng(0)
    days = [date(2020, 1, 1) + timedelta(i) for i in range(300)]
    frames = []
    for ticker in ("AAA", "BBB"):
        x = rng.normal(0, 1, (300, 3))
        segment = ["train"] * 180 + ["val"] * 60 + ["test"] * 60
        frames.append(pl.DataFrame({"ticker": ticker, "date": days, **{f: x[:, i] for i, f in enumerate(FEATURES)},
                                    "segment": segment, "label": (x[:, 0] > 0).astype(np.int8),
                                    "fwd_return": x[:, 0] / 100, "next_return": x[:, 0] / 100}))
    table = pl.concat(frames)
    (directory / "data/features").mkdir(parents=True)
    (directory / "data/splits").mkdir(parents=True)
    table.select("ticker", "date", *FEATURES).write_parquet(directory / "data/features/features.parquet")
    table.select("ticker", "date", "segment", "label", "fwd_return", "next_return").write_parquet(
        directory / "data/splits/labels.parquet")
    (directory / "data/features/manifest.json").write_text(json.dumps({"features": [{"name": f} for f in FEATURES]}))
    (directory / "data/splits/boundaries.json").write_text(json.dumps({"n_classes": 2}))
    train = {"seq_len": 5, "hidden_size": 8, "num_layers": 1, "batch_size": 16, "lr": 0.02, "epochs": 4,
             "warmup_epochs": 0, "device": "cpu"}
    (directory / "params.yaml").write_text(yaml.safe_dump({"train": train}))


@pytest.mark.slow
def test_torchrun_with_two_processes_trains_a_valid_model(tmp_path):
    _tiny_stage_inputs(tmp_path)
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(ROOT / "stages/train.py")], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "DistributedDataParallel over 2 processes (gloo)" in done.stdout

    model, config = load_model(tmp_path / "models/lstm")
    assert config["best"]["val_accuracy"] > 0.6
    assert len(list((tmp_path / "logs/train").glob("events.out.tfevents.*"))) == 1, "rank 0 alone logs"
    panel = Panel.from_tables(pl.read_parquet(tmp_path / "data/features/features.parquet"),
                              pl.read_parquet(tmp_path / "data/splits/labels.parquet"), FEATURES)
    x = normalizer_from_dict(config["normalizer"]).transform(panel.x, panel.keys["date"].to_numpy())
    windows = Windows(x, panel.y, 5, {"test": panel.window_ends(5, "test")})
    prob = model.prob_up(windows, "test")
    assert len(prob) == len(windows.ends["test"]) and np.all((prob > 0) & (prob < 1))
    assert np.mean((prob > 0.5) == (windows.rows("test")[1] > 0.5)) > 0.6, "better than chance"
