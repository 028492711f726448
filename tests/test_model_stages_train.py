"""The train and evaluate stages' scripts do their own part of the job: each reads the deps dvc.yaml gives it,
hands its params to the library whole, and writes what the library returns to the outs dvc.yaml names
(the folders they run in: tests/model_chain.py). In the model stages' shard of benchmarks/mutation.py.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from stockcast.artifacts import load_model
from stockcast.errors import StockcastError
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.evaluation.classification import majority_class
from stockcast.evaluation.scorecard import evaluate, headline
from stockcast.fitting import fit
from stockcast.normalize import normalizer_from_dict, normalizer_to_dict
from stockcast.params import load_section
from stockcast.scoring import predictions

from .conftest import ROOT
from .model_chain import CHAIN, MODEL, charted, copy_before, inside, panel_of, read_json, upstream
from .stages import run_stage, set_params


def test_each_stage_finds_the_outputs_of_the_stages_dvc_yaml_has_it_read_and_no_others(chain):
    """The chain follows dvc.yaml's deps: walkforward retrains per fold and reads no model, predict reads no
    scores, the report every model stage's outputs but predict's. A stage
    reading a file its deps do not list fails its test here, as it would in `dvc repro` on a fresh clone."""
    assert {s: [c for c in CHAIN if c in upstream(s)] for s in CHAIN} == {
        "train": [], "evaluate": ["train"], "backtest": ["train", "evaluate"], "walkforward": [],
        "predict": ["train"], "monitor": ["train", "evaluate"],
        "report": ["train", "evaluate", "backtest", "walkforward", "monitor"]}
    assert not (chain.before("walkforward") / "models").exists()
    predict = chain.before("predict")
    assert (predict / "models").is_dir() and not (predict / "data" / "predictions").exists()



def test_the_train_stage_saves_the_model_the_library_fits(chain, tmp_path, capsys):
    folder = copy_before(chain, "train", tmp_path)
    pipeline = shutil.copy(ROOT / "dvc.yaml", folder / "dvc.yaml").read_bytes()
    run_stage(folder, "train")
    charted(folder, "train")
    said = capsys.readouterr().out
    with inside(folder):
        params = load_section("train")
    names = [f["name"] for f in read_json(folder, "data/features/manifest.json")["features"]]
    panel = panel_of(folder, names)
    fitted = fit(panel, params, 2, tmp_path / "logs")
    model, config = load_model(folder / "models" / MODEL / "model")
    assert (config["model"], config["n_features"], config["features"]) == (MODEL, len(names), names)
    assert config["params"] == params.model_dump(exclude={"resume"}) and "resume" not in config["params"]
    assert config["normalizer"] == normalizer_to_dict(fitted.normalizer) == read_json(
        folder, f"models/{MODEL}/model/normalizer.json")
    assert config["normalizer"]["kind"] == "robust"
    assert (config["best_epoch"], config["best"]) == (fitted.result.best_epoch, pytest.approx(fitted.result.best))
    assert config["windows"] == {s: len(e) for s, e in fitted.windows.ends.items()}
    assert config["windows_by_ticker"] == fitted.windows_by_ticker(panel)
    assert config["dates"] == fitted.date_ranges(panel) and config["refit"] == {"mode": "none"}
    importance = read_json(folder, f"models/{MODEL}/model/importance.json")
    expected = fitted.model.feature_importance()
    assert set(importance) == set(expected) and all(
        importance[kind] == pytest.approx(dict(zip(names, values.tolist()))) for kind, values in expected.items())
    val = fitted.windows
    assert np.allclose(model.predict_proba(val, "val"), fitted.model.predict_proba(val, "val"))
    summary = read_json(folder, "dvclive/metrics.json")
    assert summary["best_epoch"] == fitted.result.best_epoch
    assert {k: summary[k] for k in summary if k.startswith("best_") and k != "best_epoch"} == pytest.approx(
        {f"best_{k}": v for k, v in fitted.result.best.items()})
    assert said.count("epoch ") >= 1 and f"-> models/{MODEL}/model" in said
    assert re.search(r"^epoch 0: \w+=\d\.\d{4}", said, re.M)
    assert (folder / "checkpoints" / "chain").is_dir() and (folder / "logs" / "train").is_dir()
    # dvc.yaml declares dvclive's plots: dvclive neither rewrites it nor writes its own
    assert (folder / "dvc.yaml").read_bytes() == pipeline and not (folder / "dvclive" / "dvc.yaml").exists()


def test_a_train_process_other_than_rank_0_trains_but_writes_nothing(chain, tmp_path, monkeypatch, capsys):
    """Under torchrun every rank trains its shard; rank 0 alone holds the lock and writes the bundle,
    dvclive and the epoch lines (here a second rank with rank 0's lock held, as it is under torchrun)."""
    from stockcast.runlock import exclusive

    folder = copy_before(chain, "train", tmp_path)
    (folder / "checkpoints" / "chain").mkdir(parents=True)
    monkeypatch.setenv("RANK", "1")
    with exclusive(folder / "checkpoints" / "chain" / "train.lock", "trainer"):
        run_stage(folder, "train")
    assert not (folder / "models").exists() and not (folder / "dvclive").exists()
    assert "epoch " not in capsys.readouterr().out


def test_the_train_stage_refuses_to_train_beside_another_trainer(chain, tmp_path):
    from stockcast.runlock import exclusive

    folder = copy_before(chain, "train", tmp_path)
    (folder / "checkpoints" / "chain").mkdir(parents=True)
    with exclusive(folder / "checkpoints" / "chain" / "train.lock", "trainer"):
        with pytest.raises(StockcastError, match=r"train.lock: another trainer \(pid \d+\) is using "):
            run_stage(folder, "train")
    assert not (folder / "models").exists()


def test_an_exported_sequence_model_is_trained_and_scored_through_its_onnx_files(chain, tmp_path, capsys):
    """A sequence model's bundle carries its ONNX float and int8 files (exported on the training windows);
    evaluate scores them on the same windows beside torch."""
    from stockcast.evaluation.exported import variant_scores
    from stockcast.export import onnx_variants

    gru = {"train": {"model": "gru", "hidden_size": 4, "num_layers": 1, "epochs": 1, "batch_size": 512,
                     "lr_schedule": "constant", "warmup_epochs": 0}}
    folder = shutil.copytree(chain.trained("trained-gru", gru), tmp_path / "project")
    run_stage(folder, "evaluate", "models/gru")
    said = capsys.readouterr().out
    bundle = folder / "models" / "gru" / "model"
    model, config = load_model(bundle)
    assert "export" in config and (folder / "checkpoints" / "chain" / "gru").is_dir()
    panel = panel_of(folder, config["features"])
    normalizer = normalizer_from_dict(config["normalizer"])
    scored = {"torch": predictions(model, panel, normalizer, 3, ("val", "test"))} | {
        name: predictions(variant, panel, normalizer, 3, ("val", "test"))
        for name, variant in onnx_variants(model, bundle, config).items()}
    scores = read_json(folder, "data/predictions/scores.json")
    assert json.dumps(scores["export"], sort_keys=True) == json.dumps(
        variant_scores(scored, ("val", "test"), 0.52), sort_keys=True)
    cost = scores["export"]["test"]
    assert (f"evaluate: test accuracy torch {cost['torch']['accuracy']:.4f} onnx {cost['onnx']['accuracy']:.4f} "
            f"int8 {cost['int8']['accuracy']:.4f}") in said


def _scored_like_the_stage(folder: Path, segments: tuple[str, ...], fitted_on: list[str]):
    """The bundle's predictions of `segments`, and the library's scorecard of them."""
    model, config = load_model(folder / "models" / _model_of(folder) / "model")
    labels = pl.read_parquet(folder / "data" / "splits" / "labels.parquet")
    panel = panel_of(folder, config["features"])
    expected = predictions(model, panel, normalizer_from_dict(config["normalizer"]), config["params"]["seq_len"],
                           segments)
    with inside(folder):
        params = load_section("evaluate")
        universe, _ = universe_of(expected["ticker"], read_universe_file(load_section("universe").path))
    majority = majority_class(labels.filter(pl.col("segment").is_in(fitted_on))["label"])
    result = evaluate(expected.join(universe.select("ticker", "sector"), on="ticker", how="left"), labels, majority,
                      params.threshold, params.top_k, segments)
    return expected, result, config


def _model_of(folder: Path) -> str:
    return yaml.safe_load((folder / "params.yaml").read_text())["train"]["model"]


def test_the_evaluate_stage_scores_the_models_val_and_test_predictions(chain, tmp_path, capsys):
    folder = copy_before(chain, "evaluate", tmp_path)
    run_stage(folder, "evaluate", f"models/{MODEL}")
    charted(folder, "evaluate")
    said = capsys.readouterr().out
    expected, result, config = _scored_like_the_stage(folder, ("val", "test"), ["train"])
    assert pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet").equals(expected)
    scores = read_json(folder, "data/predictions/scores.json")
    assert scores["selection"] == {"best_epoch": config["best_epoch"], "refit": 0,
                                   **{k: v for k, v in config["best"].items() if "val_" in k}}
    assert {k: v for k, v in scores.items() if k != "selection"} == json.loads(json.dumps(result.metrics))
    assert read_json(folder, "metrics/evaluate.json") == headline(scores)
    assert set(scores) >= {"val", "test"} and "export" not in scores
    for name, frame in result.plots.items():
        assert pl.read_csv(folder / "plots" / f"{name}.csv").shape == frame.shape, name
    test = scores["test"]
    assert f"evaluate: test accuracy {test['accuracy']:.4f} [{test['accuracy_low']:.4f}, " in said
    assert "onnx" not in said


@pytest.mark.parametrize("case", ["val flips the majority", "val alone would flip it"])
def test_the_evaluate_stage_scores_test_alone_for_a_model_refit_on_train_and_val(chain, tmp_path, case):
    """Refit on train+val, val is in-sample: only test is scored, and the majority baseline is the
    majority of all the model was fitted on, not of train alone nor of val alone (the labels are
    rewritten so that each of those would give the other class)."""
    folder = copy_before(chain, "evaluate", tmp_path)
    path = folder / "data" / "splits" / "labels.parquet"
    labels = pl.read_parquet(path)
    m = majority_class(labels.filter(pl.col("segment") == "train")["label"])
    segment, row = pl.col("segment"), pl.int_range(pl.len()).over("segment")
    if case == "val flips the majority":
        label = pl.when(segment == "val").then(1 - m).otherwise("label")
    else:  # train 80 % m, val 60 % the other class: still m together, the other class in val alone
        share = pl.when(segment == "train").then(0.2).otherwise(0.6)
        label = pl.when(segment.is_in(["train", "val"])).then(
            pl.when(row < share * pl.len().over("segment")).then(1 - m).otherwise(m)).otherwise("label")
    labels = labels.with_columns(label=label.cast(pl.Int8))
    labels.write_parquet(path)
    fitted_majority = majority_class(labels.filter(pl.col("segment") != "test")["label"])
    alone = {s: majority_class(labels.filter(pl.col("segment") == s)["label"]) for s in ("train", "val")}
    assert fitted_majority != alone["train" if case == "val flips the majority" else "val"]
    set_params(folder, {"train": {"model": "logreg", "refit": "train_val"}})
    run_stage(folder, "train")
    run_stage(folder, "evaluate", "models/logreg")
    expected, result, config = _scored_like_the_stage(folder, ("test",), ["train", "val"])
    assert config["refit"]["mode"] == "train_val"
    assert pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet").equals(expected)
    scores = read_json(folder, "data/predictions/scores.json")
    assert "val" not in scores and scores["selection"]["refit"] == 1
    assert scores["train_majority_class"] == fitted_majority
    assert {k: v for k, v in scores.items() if k != "selection"} == json.loads(json.dumps(result.metrics))
