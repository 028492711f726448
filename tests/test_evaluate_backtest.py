from datetime import date

import numpy as np
import polars as pl
import pytest

from stockcast.backtest.engine import equity_curve, long_flat
from stockcast.backtest.metrics import annual_return, max_drawdown, sharpe, summarize, win_rate
from stockcast.evaluate import baseline_accuracy, classification_metrics, majority_class


def test_classification_metrics_on_a_known_confusion():
    y = np.array([1, 1, 1, 0, 0, 0])
    prob = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    m = classification_metrics(y, prob, 0.5)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["auc"] == pytest.approx(8 / 9)


def test_baselines_are_scored_on_the_same_rows():
    y = np.array([1, 1, 1, 0])
    assert baseline_accuracy(y, train_majority=0) == {"majority_class": 0.25, "always_up": 0.75}
    assert majority_class(pl.Series([0, 0, 1, None])) == 0


def _predictions(probs, returns):
    days = [date(2020, 1, d) for d in range(1, len(probs) + 1)]
    return pl.DataFrame({"ticker": "AAA", "date": days, "prob": probs, "next_return": returns})


def test_a_position_earns_the_return_of_the_following_session_net_of_costs():
    pred = _predictions([0.9, 0.9, 0.1], [0.02, -0.01, 0.05])
    out = long_flat(pred, threshold=0.5, cost_bps=5, slippage_bps=5)
    cost = 10 / 1e4
    np.testing.assert_allclose(out["strategy"].to_numpy(), [0.02 - cost, -0.01, -cost])
    np.testing.assert_allclose(out["benchmark"].to_numpy(), [0.02, -0.01, 0.05])
    np.testing.assert_allclose(out["turnover"].to_numpy(), [1, 0, 1])


def test_capital_is_split_across_the_tickers_of_the_day():
    days = [date(2020, 1, 1)] * 2
    pred = pl.DataFrame({"ticker": ["A", "B"], "date": days, "prob": [0.9, 0.1], "next_return": [0.1, -0.1]})
    out = long_flat(pred, 0.5, 0, 0)
    assert out["strategy"][0] == pytest.approx(0.05) and out["benchmark"][0] == pytest.approx(0.0)
    assert equity_curve(out, 100.0)["strategy"][0] == pytest.approx(105.0)


def test_performance_metrics_by_their_definitions():
    r = np.array([0.1, -0.5, 0.2, 0.0])
    assert max_drawdown(r) == pytest.approx(0.55 / 1.1 - 1)  # peak 1.1, trough 0.55
    assert annual_return(np.full(252, 0.001)) == pytest.approx(1.001**252 - 1)
    assert sharpe(r, 252) == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert win_rate(r) == pytest.approx(2 / 3)
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0
    assert set(summarize(r)) >= {"annual_return", "sharpe", "max_drawdown", "win_rate"}
