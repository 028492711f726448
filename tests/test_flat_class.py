"""The flat class (split.dead_zone_mode: flat): labels, params, three-class models and their evaluation."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
import torch
from safetensors import safe_open
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score, log_loss, precision_score, recall_score,
                             roc_auc_score)

from stockcast.artifacts import load_model, save_model
from stockcast.errors import StockcastError
from stockcast.evaluation.scorecard import evaluate
from stockcast.evaluation.classification import majority_class
from stockcast.evaluation.cross_section import top_flop_accuracy
from stockcast.evaluation.significance import binomial_pvalue, pesaran_timmermann
from stockcast.labels import make_labels
from stockcast.fitting import trainable
from stockcast.models import Windows, probability_columns
from stockcast.params import TrainParams, parse_section
from stockcast.schemas import Labels, Predictions

TINY = {"seq_len": 5, "hidden_size": 16, "num_layers": 1, "dropout": 0.0, "lr": 0.01, "epochs": 6, "patience": 3,
        "batch_size": 64, "warmup_epochs": 0, "lr_schedule": "constant"}


def _bars(closes: dict[str, list[float]]) -> pl.DataFrame:
    days = [date(2021, 1, 4) + timedelta(i) for i in range(len(next(iter(closes.values()))))]
    return pl.DataFrame([{"ticker": t, "date": d, "close": c} for t, cs in closes.items() for d, c in zip(days, cs)])


def test_direction_labels_with_a_dead_zone_on_a_hand_made_path():
    bars = _bars({"A": [100.0, 101.5, 101.6, 100.0, 100.6]})  # +1.5%, +0.1%, -1.6%, +0.6%, none
    assert make_labels(bars, 1, dead_zone=0.01)["label"].to_list() == [1, None, 0, None, None]
    flat = make_labels(bars, 1, dead_zone=0.01, dead_zone_mode="flat")
    assert flat["label"].to_list() == [1, 2, 0, 2, None]
    assert flat["label"].dtype == pl.Int8
    # two sessions ahead: +1.6%, -1.5%, -1.0% (100.6 / 101.6), none, none
    assert make_labels(bars, 2, dead_zone=0.01, dead_zone_mode="flat")["label"].to_list() == [1, 0, 2, None, None]


def test_excess_labels_with_a_dead_zone_on_a_hand_made_path():
    # per date, A and B against their median: +-1% (A up), +-0.2% (both flat), -+1% (B up), no label
    bars = _bars({"A": [100.0, 102.0, 102.408, 101.38392], "B": [50.0, 50.0, 50.0, 50.5]})
    labels = make_labels(bars, 1, kind="excess", dead_zone=0.005, dead_zone_mode="flat").sort("ticker", "date")
    assert labels["label"].to_list() == [1, 2, 0, None, 0, 2, 1, None]
    excluded = make_labels(bars, 1, kind="excess", dead_zone=0.005).sort("ticker", "date")
    assert excluded["label"].to_list() == [1, None, 0, None, 0, None, 1, None]


def test_flat_mode_needs_a_dead_zone_and_exclude_stays_the_default():
    assert parse_section("split", {}).dead_zone_mode == "exclude"
    assert parse_section("split", {"dead_zone": 0.005, "dead_zone_mode": "flat"}).dead_zone_mode == "flat"
    with pytest.raises(StockcastError, match="dead_zone_mode flat needs dead_zone > 0") as err:
        parse_section("split", {"dead_zone_mode": "flat"})
    assert "\n" not in str(err.value)
    with pytest.raises(StockcastError, match="split.dead_zone_mode"):
        parse_section("split", {"dead_zone": 0.01, "dead_zone_mode": "third"})


def _three_classes(n=1600, seed=0) -> Windows:
    """Label by the last row's first feature: down below -0.5, up above 0.5, flat between."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, 3)).astype(np.float32)
    y = np.where(x[:, 0] > 0.5, 1, np.where(x[:, 0] < -0.5, 0, 2)).astype(np.float32)
    cut = int(n * 0.75)
    return Windows(x, y, 5, {"train": np.arange(4, cut), "val": np.arange(cut + 4, n), "test": np.arange(cut + 4, n)})


@pytest.mark.parametrize("name", ["lightgbm", "gru", "logreg", "ensemble"])
def test_three_class_models_learn_and_predict_probabilities_that_sum_to_one(name, tmp_path):
    torch.manual_seed(0)
    data = _three_classes()
    params = TrainParams(model=name, lightgbm={"n_estimators": 60}, ensemble={"members": ["gru", "logreg", "lightgbm"]},
                         **TINY)
    model = trainable(name, 3, params, n_classes=3)
    result = model.fit(data, tmp_path / "logs")
    assert result.best["val_accuracy"] > 0.8
    proba = model.predict_proba(data, "test")
    assert proba.shape == (len(data.ends["test"]), 3) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(model.prob_up(data, "test"), proba[:, 1])  # prob stays P(up)
    save_model(tmp_path / "model", model, {"model": name, "n_features": 3, "params": model.params.model_dump()})
    assert json.loads((tmp_path / "model" / "config.json").read_text())["n_classes"] == 3
    loaded, _ = load_model(tmp_path / "model")
    assert loaded.n_classes == 3
    np.testing.assert_array_equal(loaded.predict_proba(data, "test"), proba)


def test_binary_sequence_models_keep_one_logit_and_three_classes_get_three():
    params = TrainParams(**TINY)
    assert trainable("lstm", 3, params).net.head.out_features == 1
    assert trainable("gru", 3, params, n_classes=3).net.head.out_features == 3
    with pytest.raises(StockcastError, match="2 \\(down, up\\) or 3"):
        trainable("logreg", 3, params, n_classes=4)


def test_a_three_class_checkpoint_records_its_classes_and_resumes(tmp_path):
    params = TrainParams(model="lstm", resume=True, **(TINY | {"epochs": 2}))
    data = _three_classes(n=800)

    def interrupt(epoch, metrics):
        raise KeyboardInterrupt

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):  # stopped after epoch 0: its checkpoint is unfinished
        trainable("lstm", 3, params, n_classes=3).fit(data, tmp_path / "logs", interrupt, tmp_path / "ck")
    with safe_open(str(tmp_path / "ck" / "last.safetensors"), framework="pt") as f:
        progress = json.loads(f.metadata()["stockcast"])["progress"]
    assert progress["n_classes"] == 3 and progress["epoch"] == 1 and not progress["done"]
    torch.manual_seed(7)
    resumed = trainable("lstm", 3, params, n_classes=3)
    resumed.fit(data, tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
    torch.manual_seed(0)
    straight = trainable("lstm", 3, params, n_classes=3)
    straight.fit(data, tmp_path / "straight")
    np.testing.assert_array_equal(resumed.predict_proba(data, "val"), straight.predict_proba(data, "val"))


def _predictions(n_days: int = 60, n_tickers: int = 5, seed: int = 3) -> pl.DataFrame:
    """Three-class predictions with some skill: the true class gets extra probability mass."""
    rng = np.random.default_rng(seed)
    n = n_days * n_tickers
    label = rng.choice(3, n, p=[0.35, 0.4, 0.25])
    proba = rng.dirichlet([2, 2, 2], n)
    proba[np.arange(n), label] += rng.uniform(0, 0.6, n)
    proba /= proba.sum(axis=1, keepdims=True)
    days = [date(2020, 1, 1) + timedelta(i) for i in range(n_days)]
    keys = pl.DataFrame({"ticker": np.repeat([f"T{i}" for i in range(n_tickers)], n_days),
                         "date": days * n_tickers,
                         "segment": ["val" if d < date(2020, 2, 1) else "test" for d in days] * n_tickers,
                         "label": label.astype(np.int8), "fwd_return": rng.normal(0, 0.02, n),
                         "next_return": rng.normal(0, 0.02, n)})
    return keys.with_columns(**probability_columns(proba.astype(np.float32)))


def test_three_class_metrics_match_scikit_learn():
    rows = _predictions()
    Predictions.validate(rows)
    result = evaluate(rows, rows.select("ticker", "date", "next_return"), train_majority=2, threshold=0.5, top_k=2)
    test = rows.filter(pl.col("segment") == "test")
    y = test["label"].to_numpy().astype(int)
    proba = test.select("prob_down", "prob", "prob_flat").to_numpy().astype(np.float64)
    proba /= proba.sum(axis=1, keepdims=True)
    pred = proba.argmax(axis=1)
    m = result.metrics["test"]
    assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred, average="macro"))
    assert m["recall"] == pytest.approx(recall_score(y, pred, average="macro"))
    assert m["f1"] == pytest.approx(f1_score(y, pred, average="macro"))
    assert m["auc"] == pytest.approx(roc_auc_score(y, proba, multi_class="ovr", average="macro"), rel=1e-6)
    assert m["log_loss"] == pytest.approx(log_loss(y, proba), rel=1e-5)
    shares = np.bincount(y, minlength=3) / len(y)
    assert m["null_rate"] == pytest.approx(shares.max()) and m["flat_rate"] == pytest.approx(shares[2])
    assert m["p_binomial"] == pytest.approx(binomial_pvalue(int((pred == y).sum()), len(y), shares.max()))
    up_down = (y != 2) & (pred != 2)
    assert m["pt_n_up_down"] == up_down.sum()
    assert m["pt_statistic_up_down"] == pytest.approx(pesaran_timmermann(y[up_down], pred[up_down])[0])
    assert "p_pesaran_timmermann" not in m  # the binary key never holds a test of other rows
    assert result.metrics["baselines"]["majority_class"] == pytest.approx(np.mean(y == 2))
    assert result.metrics["baselines"]["always_up"] == pytest.approx(np.mean(y == 1))
    confusion = result.plots["confusion"]
    counts = np.zeros((3, 3), dtype=int)
    counts[confusion["actual"].to_numpy(), confusion["predicted"].to_numpy()] = confusion["n"].to_numpy()
    np.testing.assert_array_equal(counts, confusion_matrix(y, pred, labels=[0, 1, 2]))
    by_ticker = result.plots["accuracy_by_ticker"]
    assert (by_ticker["n"] * by_ticker["accuracy"]).sum() == pytest.approx((pred == y).sum())


def test_binary_predictions_keep_their_metric_keys():
    rows = _predictions().drop("prob_down", "prob_flat").with_columns(pl.col("label").clip(0, 1))
    metrics = evaluate(rows, rows.select("ticker", "date", "next_return"), 1, 0.5, 2).metrics["test"]
    assert {"pt_statistic", "p_pesaran_timmermann"} <= set(metrics)
    assert not {"flat_rate", "pt_n_up_down", "p_pesaran_timmermann_up_down"} & set(metrics)


def test_majority_among_three_classes_and_flat_labels_miss_top_and_flop():
    assert majority_class(pl.Series([2, 2, 1, 0, None], dtype=pl.Int8)) == 2
    assert majority_class(pl.Series([2, 2, 0, 0], dtype=pl.Int8)) == 0  # ties: up, then down, then flat
    frame = pl.DataFrame({"date": [date(2020, 1, 1)] * 4, "prob": [0.9, 0.8, 0.2, 0.1], "label": [2, 1, 2, 0]})
    out = top_flop_accuracy(frame, k=2)
    assert out["top_accuracy"] == 0.5 and out["flop_accuracy"] == 0.5


def test_schemas_accept_the_flat_label_and_check_its_probabilities():
    Labels.validate(pl.DataFrame({"ticker": ["A"], "date": [date(2020, 1, 1)], "fwd_return": [0.001],
                                  "next_return": [0.001], "label": pl.Series([2], dtype=pl.Int8),
                                  "segment": ["train"]}))
    rows = _predictions(n_days=3)
    with pytest.raises(Exception, match="prob_flat"):
        Predictions.validate(rows.with_columns(prob_flat=pl.lit(1.5, pl.Float32)))
