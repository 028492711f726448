"""End to end: the repository, copied into a fresh git repo, reproduces with tiny params."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from stockcast.schemas import OHLCV, Labels, Predictions, Quarantine, RawOHLCV, Returns, features_schema

from .project import reproduced_project, run, set_params

def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return reproduced_project(tmp_path_factory.mktemp("e2e") / "repo")


def test_every_output_honours_its_contract(repo):
    RawOHLCV.validate(pl.read_parquet(repo / "data/raw/ohlcv.parquet"))
    clean = OHLCV.validate(pl.read_parquet(repo / "data/clean/ohlcv.parquet"))
    quarantine = Quarantine.validate(pl.read_parquet(repo / "data/quarantine/ohlcv.parquet"))
    manifest = json.loads((repo / "data/features/manifest.json").read_text())
    features_schema([f["name"] for f in manifest["features"]]).validate(
        pl.read_parquet(repo / "data/features/features.parquet"))
    Labels.validate(pl.read_parquet(repo / "data/splits/labels.parquet"))
    Predictions.validate(pl.read_parquet(repo / "data/predictions/predictions.parquet"))
    Returns.validate(pl.read_parquet(repo / "data/backtest/returns.parquet"))
    quality = json.loads((repo / "metrics/quality.json").read_text())
    assert quality["rows_in"] == clean.height + quarantine.height == quality["rows_clean"] + quality["rows_quarantined"]
    assert (repo / "models/lstm/model.safetensors").exists() and any((repo / "logs/train").iterdir())
    html = (repo / "reports/index.html").read_text()
    assert "data:image/png;base64," in html and "https://" not in html


def test_metrics_files_keep_their_contract(repo):
    evaluate = json.loads((repo / "metrics/evaluate.json").read_text())
    assert {"accuracy", "precision", "recall", "f1", "auc"} <= set(evaluate["test"])
    assert {"majority_class", "always_up"} <= set(evaluate["baselines"])
    backtest = json.loads((repo / "metrics/backtest.json").read_text())
    for side in ("test", "benchmark"):
        assert {"annual_return", "sharpe", "max_drawdown", "win_rate"} <= set(backtest[side])


def test_second_repro_does_nothing(repo):
    out = run(["dvc", "repro"], repo)
    assert _ran(out) == set() and "up to date" in out


def test_a_train_param_reruns_exactly_train_and_what_follows(repo):
    set_params(repo, {"train": {"hidden_size": 6}})
    out = run(["dvc", "repro"], repo)
    assert _ran(out) == {"train", "evaluate", "backtest", "walkforward", "report"}
    run(["git", "checkout", "--", "params.yaml"], repo)
    run(["dvc", "checkout", "--force"], repo)


def test_an_experiment_is_listed_by_exp_show(repo):
    out = run(["dvc", "exp", "run", "-S", "train.hidden_size=4", "--name", "tiny4"], repo)
    assert _ran(out) == {"train", "evaluate", "backtest", "walkforward", "report"}
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo))
    names = {exp.get("name") for rev in shown for exp in (rev.get("experiments") or []) for exp in exp.get("revs", [])}
    assert "tiny4" in names
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", "--json"], repo))
    assert "test.accuracy" in diff["metrics/evaluate.json"] or "test.auc" in diff["metrics/evaluate.json"]
