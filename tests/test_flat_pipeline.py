"""End to end: `dvc exp run` with the flat class on the bundled sample, in a fresh copy of the project."""

from __future__ import annotations

import json

import polars as pl
import pytest

from stockcast.schemas import Labels, Predictions

from .project import copy_of, run


def test_an_experiment_with_a_flat_class_runs_the_pipeline_and_scores_three_classes(reproduced, tmp_path):
    repo = copy_of(reproduced, tmp_path / "repo")
    run(["dvc", "exp", "run", "-S", "split.dead_zone=0.005", "-S", "split.dead_zone_mode=flat"], repo)
    labels = Labels.validate(pl.read_parquet(repo / "data/splits/labels.parquet"))
    assert set(labels["label"].drop_nulls().unique()) == {0, 1, 2}
    assert json.loads((repo / "data/splits/boundaries.json").read_text())["n_classes"] == 3
    predictions = Predictions.validate(pl.read_parquet(repo / "data/predictions/predictions.parquet"))
    total = predictions.select(pl.col("prob_down") + pl.col("prob") + pl.col("prob_flat")).to_series()
    assert ((total - 1).abs() < 1e-5).all()
    metrics = json.loads((repo / "metrics/evaluate.json").read_text())
    assert {"accuracy", "auc", "log_loss", "null_rate", "flat_rate", "p_binomial",
            "p_pesaran_timmermann_up_down"} <= set(metrics["test"])
    test = predictions.filter(pl.col("segment") == "test")  # the call is the likeliest of the three classes
    call = test.select(pl.concat_list("prob_down", "prob", "prob_flat").list.arg_max().cast(pl.Int8)).to_series()
    assert metrics["test"]["accuracy"] == pytest.approx((call == test["label"]).mean())
    assert metrics["test"]["flat_rate"] == pytest.approx((test["label"] == 2).mean())
    assert "pt_n_up_down" in json.loads((repo / "data/predictions/scores.json").read_text())["test"]
    assert set(metrics["baselines"]) == {"majority_class", "always_up", "yesterday"}
    assert pl.read_csv(repo / "plots/confusion.csv").height == 9
    assert json.loads((repo / "models/lstm/model/config.json").read_text())["n_classes"] == 3
    assert (repo / "reports/index.html").exists()
