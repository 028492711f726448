"""The pipeline's own truth tests (issue 5): synthetic markets whose answer is known.

- Null market (pure random walk): no model may beat the majority-class rate beyond its 99%
  binomial interval, or something leaks.
- Teeth: the same check fails when a leak is planted on purpose (a feature that peeks one day
  ahead), so a pass means something.
- Planted market: a known signal with a known best accuracy; the models must come close to it.

Each market goes through the library as the stages chain it: features, labels, the chronological
split with its embargo, then the stages' own fit/predict path (fitting.fit: normaliser fitted on
train, windows, fit; scoring.predictions: the test windows' probabilities).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from stockcast.data.synthetic import generate
from stockcast.dataset import Panel
from stockcast.features.registry import compute, feature_set
from stockcast.evaluation.classification import majority_class
from stockcast.fitting import fit
from stockcast.labels import make_labels, n_classes
from stockcast.params import TrainParams
from stockcast.scoring import predictions
from stockcast.segments import assign_segments

Z99 = 2.5758  # two-sided 99% normal quantile
SEQUENCE = {"seq_len": 5, "hidden_size": 16, "num_layers": 1, "epochs": 4, "patience": 2, "lr": 0.005,
            "batch_size": 256, "lr_schedule": "constant", "warmup_epochs": 0}
MODELS = ["lstm", "gru", "transformer", "logreg", "lightgbm"]


def _test_accuracy(bars: pl.DataFrame, model: str, tmp_path, peek: bool = False,
                   flat: float = 0.0) -> tuple[float, int, float]:
    """(test accuracy, test rows, majority-class rate on those rows) of `model` on `bars`; with `flat`
    > 0, moves below it are a third class (split.dead_zone_mode: flat) and the call is the likeliest class."""
    features = feature_set("basic")
    table = compute(bars, features)
    names = [f.name for f in features]
    if peek:  # the leak: tomorrow's return as a feature of today
        table = table.with_columns(peek=pl.col("logret_1").shift(-1).over("ticker"))
        names.append("peek")
    mode = "flat" if flat else "exclude"
    labels, _ = assign_segments(make_labels(bars, 1, dead_zone=flat, dead_zone_mode=mode), 0.6, 0.2, embargo_days=60)
    panel = Panel.from_tables(table, labels, names)
    params = TrainParams(model=model, **SEQUENCE)
    fitted = fit(panel, params, n_classes(mode), tmp_path / "logs")
    test = predictions(fitted.model, panel, fitted.normalizer, params.seq_len, ("test",))
    y = test["label"].to_numpy()
    majority = majority_class(pl.Series(fitted.windows.rows("train")[1]))
    if flat:
        proba = np.column_stack([test["prob_down"], test["prob"], test["prob_flat"]])
        return float(np.mean(proba.argmax(axis=1) == y)), len(y), float(np.mean(y == majority))
    return float(np.mean((test["prob"].to_numpy() > 0.5) == (y > 0.5))), len(y), float(np.mean(y == majority))


def assert_no_edge(accuracy: float, n: int, base_rate: float) -> None:
    """Accuracy inside the 99% binomial interval around the majority-class rate."""
    half = Z99 * math.sqrt(base_rate * (1 - base_rate) / n)
    assert abs(accuracy - base_rate) <= half, (
        f"accuracy {accuracy:.4f} is outside {base_rate:.4f} +/- {half:.4f} (n={n}): the pipeline leaks")


@pytest.fixture(scope="module")
def null_market() -> pl.DataFrame:
    return generate("null", n_tickers=12, n_days=1500, seed=11)[0]


@pytest.mark.parametrize("model", MODELS)
def test_no_model_beats_a_coin_flip_on_a_random_walk(null_market, model, tmp_path):
    assert_no_edge(*_test_accuracy(null_market, model, tmp_path))


@pytest.mark.parametrize("model", ["logreg", "lstm"])
def test_the_null_check_catches_a_planted_leak(null_market, model, tmp_path):
    accuracy, n, base = _test_accuracy(null_market, model, tmp_path, peek=True)
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
                                                                        tmp_path):
    assert_no_edge(*_test_accuracy(equal_volatility_null_market, model, tmp_path, flat=FLAT))


def test_the_three_class_null_check_catches_a_planted_leak(equal_volatility_null_market, tmp_path):
    accuracy, n, base = _test_accuracy(equal_volatility_null_market, "logreg", tmp_path, peek=True, flat=FLAT)
    with pytest.raises(AssertionError, match="the pipeline leaks"):
        assert_no_edge(accuracy, n, base)


@pytest.fixture(scope="module")
def planted_market() -> tuple[pl.DataFrame, float]:
    bars, meta = generate("planted", n_tickers=12, n_days=2500, seed=5, bayes_accuracy=0.58)
    return bars, meta["bayes_accuracy"]


@pytest.mark.parametrize("model", ["lightgbm", "lstm"])
def test_models_come_close_to_the_best_achievable_accuracy(planted_market, model, tmp_path):
    bars, bayes = planted_market
    accuracy, n, _ = _test_accuracy(bars, model, tmp_path)
    assert accuracy >= bayes - 0.02, f"{model}: {accuracy:.4f} on {n} test rows, best achievable {bayes}"
