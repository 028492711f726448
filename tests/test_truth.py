"""The pipeline's own truth tests (issue 5): synthetic markets whose answer is known.

- Null market (pure random walk): no model may beat the majority-class rate beyond its 99%
  binomial interval, or something leaks.
- Teeth: the same check fails when a leak is planted on purpose (a feature that peeks one day
  ahead, written into the features stage), so a pass means something.
- Planted market: a known signal with a known best achievable accuracy; the models must come close to it.

Each market runs through the stage scripts themselves (tests/stages.py): stages/quality.py,
features.py and split.py once per market, then stages/train.py and evaluate.py per model, in a
temporary project folder with its own params.yaml. The accuracy is read from the predictions the
evaluate stage wrote, so a leak written into any of those stages (or into the one fit/predict path
they call, fitting.fit and scoring.predictions) fails these tests.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockcast.data.synthetic import generate
from stockcast.evaluation.classification import majority_class
from stockcast.features.bars import Bars
from stockcast.features.registry import Feature, feature_set

from .stages import project, run_stage, set_params, stage
from .test_backtest_metrics import _hand_dsr

Z99 = 2.5758  # two-sided 99% normal quantile
SEQUENCE = {"seq_len": 5, "hidden_size": 16, "num_layers": 1, "epochs": 4, "patience": 2, "lr": 0.005,
            "batch_size": 256, "lr_schedule": "constant", "warmup_epochs": 0, "normalize": "zscore",
            "device": "cpu", "resume": False}
MODELS = ["lstm", "gru", "transformer", "logreg", "lightgbm"]
SPLIT = {"label": "direction", "horizon": 1, "train_fraction": 0.6, "val_fraction": 0.2, "fraction_of": "rows",
         "val_start": None, "test_start": None, "embargo_days": 60}


def _peek(bars: Bars) -> np.ndarray:
    """The leak: tomorrow's log return as a feature of today."""
    return np.append(np.diff(np.log(bars.close)), np.nan)


PEEK = Feature("peek", "price", 0, "log(close[t+1] / close[t]): a planted leak", True, ("basic",), _peek)


def _prepared(folder: Path, bars: pl.DataFrame, flat: float = 0.0, peek: bool = False) -> Path:
    """A project folder with `bars` as its raw data, run through the quality, features and split
    stages; with `peek`, the features stage is given the leaky feature too."""
    mode = "flat" if flat else "exclude"
    project(folder, {"features": {"set": "basic", "families": None},
                     "split": SPLIT | {"dead_zone": flat, "dead_zone_mode": mode}})
    (folder / "data" / "raw").mkdir(parents=True)
    bars.write_parquet(folder / "data" / "raw" / "ohlcv.parquet")
    (folder / "data" / "raw" / "ohlcv.meta.json").write_text('{"source": "synthetic"}')  # as ingest leaves it
    run_stage(folder, "quality")
    features = stage("features")
    if peek:
        features.feature_set = lambda name, families: [*feature_set(name, families), PEEK]
    run_stage(folder, "features", module=features)
    run_stage(folder, "split")
    return folder


def _test_accuracy(prepared: Path, model: str, tmp_path: Path) -> tuple[float, int, float]:
    """(test accuracy, test rows, majority-class rate on those rows) of `model` trained and scored by
    the train and evaluate stages on a copy of the prepared project; with three classes the call
    is the likeliest class."""
    folder = shutil.copytree(prepared, tmp_path / "project")
    set_params(folder, {"train": {"model": model, **SEQUENCE}})
    run_stage(folder, "train")
    run_stage(folder, "evaluate", f"models/{model}")
    scored = pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet")
    test = scored.filter(pl.col("segment") == "test")
    labels = pl.read_parquet(folder / "data" / "splits" / "labels.parquet")
    majority = majority_class(labels.filter(pl.col("segment") == "train")["label"])
    y = test["label"].to_numpy()
    if "prob_flat" in test.columns:
        proba = np.column_stack([test["prob_down"], test["prob"], test["prob_flat"]])
        accuracy = float(np.mean(proba.argmax(axis=1) == y))
    else:
        accuracy = float(np.mean((test["prob"].to_numpy() > 0.5) == (y > 0.5)))
        reported = json.loads((folder / "data" / "predictions" / "scores.json").read_text())["test"]
        assert (reported["accuracy"], reported["n"]) == (pytest.approx(accuracy), len(y))
    return accuracy, len(y), float(np.mean(y == majority))


def assert_no_edge(accuracy: float, n: int, base_rate: float) -> None:
    """Accuracy inside the 99% binomial interval around the majority-class rate."""
    half = Z99 * math.sqrt(base_rate * (1 - base_rate) / n)
    assert abs(accuracy - base_rate) <= half, (
        f"accuracy {accuracy:.4f} is outside {base_rate:.4f} +/- {half:.4f} (n={n}): the pipeline leaks")


@pytest.fixture(scope="module")
def null_market() -> pl.DataFrame:
    return generate("null", n_tickers=12, n_days=1500, seed=11)[0]


@pytest.fixture(scope="module")
def null_project(null_market, tmp_path_factory) -> Path:
    return _prepared(tmp_path_factory.mktemp("null"), null_market)


@pytest.fixture(scope="module")
def leaky_null_project(null_market, tmp_path_factory) -> Path:
    return _prepared(tmp_path_factory.mktemp("leaky"), null_market, peek=True)


@pytest.mark.parametrize("model", MODELS)
def test_no_model_beats_a_coin_flip_on_a_random_walk(null_project, model, tmp_path):
    assert_no_edge(*_test_accuracy(null_project, model, tmp_path))


@pytest.mark.parametrize("model", ["logreg", "lstm"])
def test_the_null_check_catches_a_planted_leak(leaky_null_project, model, tmp_path):
    accuracy, n, base = _test_accuracy(leaky_null_project, model, tmp_path)
    with pytest.raises(AssertionError, match="the pipeline leaks"):
        assert_no_edge(accuracy, n, base)


FLAT = 0.01  # about 40% of daily moves at 2% volatility are flat


@pytest.fixture(scope="module")
def equal_volatility_null_market(null_market) -> pl.DataFrame:
    """The null market with every ticker's volatility brought to 2%.

    The null market draws a volatility per ticker, so how often a ticker's move is flat is knowable
    from its past (volatility features): a real edge on the flat class, not a leak. With one volatility
    for all, P(flat) is the same everywhere and nothing beats the majority class. Prices are raised to
    the power 0.02 / sigma around the first close, which scales every log move (and the OHLC noise drawn
    in proportion to sigma) alike and keeps the bars consistent.
    """
    log_close = pl.col("close").log()
    sigma = log_close.diff().std().over("ticker")
    anchor = pl.col("close").first().over("ticker")
    return null_market.sort("ticker", "date").with_columns(
        (anchor * (pl.col(c) / anchor) ** (0.02 / sigma)).alias(c) for c in ("open", "high", "low", "close"))


@pytest.mark.parametrize("model", ["lightgbm", "gru"])
def test_no_three_class_model_beats_the_majority_class_on_a_random_walk(equal_volatility_null_market, model,
                                                                        tmp_path_factory, tmp_path):
    prepared = _prepared(tmp_path_factory.mktemp("flat"), equal_volatility_null_market, flat=FLAT)
    assert_no_edge(*_test_accuracy(prepared, model, tmp_path))


def test_the_three_class_null_check_catches_a_planted_leak(equal_volatility_null_market, tmp_path_factory, tmp_path):
    prepared = _prepared(tmp_path_factory.mktemp("flat_leaky"), equal_volatility_null_market, flat=FLAT, peek=True)
    accuracy, n, base = _test_accuracy(prepared, "logreg", tmp_path)
    with pytest.raises(AssertionError, match="the pipeline leaks"):
        assert_no_edge(accuracy, n, base)


@pytest.fixture(scope="module")
def planted_market(tmp_path_factory) -> tuple[Path, float]:
    bars, meta = generate("planted", n_tickers=12, n_days=2500, seed=5, bayes_accuracy=0.58)
    return _prepared(tmp_path_factory.mktemp("planted"), bars), meta["bayes_accuracy"]


@pytest.mark.parametrize("model", ["lightgbm", "lstm"])
def test_models_come_close_to_the_best_achievable_accuracy(planted_market, model, tmp_path):
    prepared, bayes = planted_market
    accuracy, n, _ = _test_accuracy(prepared, model, tmp_path)
    assert accuracy >= bayes - 0.02, f"{model}: {accuracy:.4f} on {n} test rows, best achievable {bayes}"


def test_the_backtest_stage_deflates_the_sharpe_by_its_trials(null_project, tmp_path):
    """Rule: stages/backtest.py deflates the Sharpe ratios by backtest.trials plus the RL agents it trained
    (Bailey & Lopez de Prado 2014), not by one trial: its summary equals the paper's formula on the
    returns it wrote."""
    _test_accuracy(null_project, "logreg", tmp_path)
    folder = tmp_path / "project"
    set_params(folder, {"backtest": {"trials": 7, "risk_free": 0.0, "ppo": {"seeds": [3, 4], "timesteps": 256}}})
    run_stage(folder, "backtest")
    report = json.loads((folder / "data" / "backtest" / "summary.json").read_text())
    summary = report["test"]
    returns = pl.read_parquet(folder / "data" / "backtest" / "returns.parquet")
    strategy, spread = returns["strategy"].to_numpy(), (returns["strategy"] - returns["benchmark"]).to_numpy()
    assert report["trials"] == 7 + 2
    assert summary["deflated_sharpe"] == pytest.approx(_hand_dsr(strategy, 9), rel=1e-9)
    assert summary["excess_deflated_sharpe"] == pytest.approx(_hand_dsr(spread, 9), rel=1e-9)
