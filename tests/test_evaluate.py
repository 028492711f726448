"""Evaluation: metrics by their definitions, baselines on the same rows, intervals and tests."""

import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score

from stockcast.evaluation.scorecard import evaluate, score_segment
from stockcast.evaluation.breakdown import accuracy_by
from stockcast.evaluation.classification import (baseline_accuracy, classification_metrics, majority_class,
                                                 yesterday_direction)
from stockcast.evaluation.cross_section import information_coefficients, top_flop_accuracy
from stockcast.evaluation.curves import calibration_points, confusion_counts, roc_points
from stockcast.evaluation.significance import binomial_pvalue, pesaran_timmermann, wilson_interval


def _panel(n_tickers: int = 6, n_days: int = 120, signal: float = 0.0, seed: int = 0) -> pl.DataFrame:
    """Predictions-shaped rows; P(up) carries `signal` times the standardised forward return."""
    rng = np.random.default_rng(seed)
    days = [date(2019, 1, 1) + timedelta(i) for i in range(n_days)]
    n = n_tickers * n_days
    fwd = rng.normal(0, 0.02, n)
    prob = np.clip(0.5 + signal * fwd / 0.02 * 0.1 + rng.normal(0, 0.05, n), 0.01, 0.99)
    return pl.DataFrame({
        "ticker": np.repeat([f"T{i}" for i in range(n_tickers)], n_days), "date": days * n_tickers,
        "segment": ["val" if d < date(2019, 3, 1) else "test" for d in days] * n_tickers,
        "label": (fwd > 0).astype(np.int8), "fwd_return": fwd, "next_return": fwd,
        "prob": prob.astype(np.float32)})


def test_classification_metrics_on_a_known_confusion():
    y = np.array([1, 1, 1, 0, 0, 0])
    prob = np.array([0.9, 0.8, 0.3, 0.7, 0.2, 0.1])
    m = classification_metrics(y, prob, 0.5)
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3) and m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3) and m["auc"] == pytest.approx(8 / 9)
    assert m["log_loss"] == pytest.approx(-np.mean(np.log([0.9, 0.8, 0.3, 0.3, 0.8, 0.9])))


def test_one_class_leaves_auc_and_log_loss_undefined_rather_than_failing():
    m = classification_metrics(np.ones(4, dtype=int), np.full(4, 0.7), 0.5)
    assert m["accuracy"] == 1.0 and np.isnan(m["auc"]) and np.isnan(m["log_loss"])


def test_baselines_are_scored_on_the_same_rows():
    y = np.array([1, 1, 1, 0])
    yesterday = np.array([1.0, 0.0, np.nan, 0.0])  # unknown falls back to the training majority (0)
    assert baseline_accuracy(y, 0, yesterday) == {"majority_class": 0.25, "always_up": 0.75, "yesterday": 0.5}
    assert majority_class(pl.Series([0, 0, 1, None])) == 0
    assert majority_class(pl.Series([0, 1])) == 1


def test_yesterdays_direction_is_the_sign_of_the_return_into_the_day():
    close = {"A": [10.0, 11.0, 10.5, 10.5], "B": [5.0, 4.0, 4.4, 4.5]}
    days = [date(2020, 1, d) for d in (2, 3, 6, 7)]
    rows = []
    for ticker, prices in close.items():
        nxt = [b / a - 1 for a, b in zip(prices, prices[1:])] + [None]
        rows += [{"ticker": ticker, "date": d, "next_return": r} for d, r in zip(days, nxt)]
    labels = pl.DataFrame(rows).sample(fraction=1.0, shuffle=True, seed=1)  # order must not matter
    out = yesterday_direction(labels).sort("ticker", "date")
    assert out["yesterday_up"].to_list() == [None, 1, 0, 0, None, 0, 1, 1]


@given(hits=st.integers(0, 500), extra=st.integers(0, 500))
def test_wilson_interval_brackets_the_rate_inside_zero_one(hits, extra):
    n = hits + extra
    if n == 0:
        return
    low, high = wilson_interval(hits, n)
    assert 0 <= low <= hits / n <= high <= 1


def test_wilson_interval_by_its_closed_form():
    # 8 hits of 10 at z = 1.96: (0.8 + 0.19208 -+ 1.96 * sqrt(0.016 + 0.0096040)) / 1.38416
    low, high = wilson_interval(8, 10, z=1.96)
    half = 1.96 * np.sqrt(0.8 * 0.2 / 10 + 1.96**2 / 400)
    assert low == pytest.approx((0.8 + 1.96**2 / 20 - half) / (1 + 1.96**2 / 10))
    assert high == pytest.approx((0.8 + 1.96**2 / 20 + half) / (1 + 1.96**2 / 10))
    assert (low, high) == pytest.approx((0.4902, 0.9433), abs=1e-4)


def test_binomial_pvalue_is_the_upper_tail():
    assert binomial_pvalue(10, 10, 0.5) == pytest.approx(0.5**10)
    assert binomial_pvalue(0, 10, 0.5) == pytest.approx(1.0)
    assert binomial_pvalue(6, 10, 0.5) == pytest.approx(sum(math.comb(10, k) for k in range(6, 11)) / 1024)


def test_pesaran_timmermann_by_hand_and_at_its_limits():
    y = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 0])
    pred = np.array([1, 1, 0, 0, 0, 1, 1, 1, 0, 0])
    n, py, px, p = 10, 0.6, 0.5, 0.7
    star = py * px + (1 - py) * (1 - px)
    v = star * (1 - star) / n
    v_star = (2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n \
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    statistic, p_value = pesaran_timmermann(y, pred)
    assert statistic == pytest.approx((p - star) / np.sqrt(v - v_star))
    assert 0 < p_value < 0.5
    assert all(np.isnan(pesaran_timmermann(y, np.ones(10))))  # a constant call has nothing to test
    assert pesaran_timmermann(y, y)[0] > 2


def test_a_null_model_is_not_significant_and_a_skilled_one_is():
    null = score_segment(_panel(signal=0.0, n_days=400).filter(pl.col("segment") == "test"), 0.5, 2)
    skilled = score_segment(_panel(signal=1.0, n_days=400).filter(pl.col("segment") == "test"), 0.5, 2)
    assert null["accuracy_low"] < 0.5 + 0.05 and null["p_binomial"] > 0.001 and null["p_pesaran_timmermann"] > 0.001
    assert skilled["p_binomial"] < 1e-6 and skilled["p_pesaran_timmermann"] < 1e-6 and skilled["ic_tstat"] > 5
    assert null["null_rate"] == max(null["up_rate"], 1 - null["up_rate"])


def test_information_coefficients_are_daily_pearson_and_spearman():
    rows = _panel(signal=0.5, n_days=10)
    ic = information_coefficients(rows)
    day = rows.filter(pl.col("date") == ic["date"][3])
    assert ic["ic"][3] == pytest.approx(np.corrcoef(day["prob"], day["fwd_return"])[0, 1], rel=1e-6)
    assert ic["rank_ic"][3] == pytest.approx(spearmanr(day["prob"], day["fwd_return"]).statistic)
    two_names = rows.filter(pl.col("ticker").is_in(["T0", "T1"]))
    assert information_coefficients(two_names).height == 0  # two points always correlate +-1


def test_top_flop_scores_the_most_confident_calls_of_each_day():
    frame = pl.DataFrame({"date": [date(2020, 1, 1)] * 5 + [date(2020, 1, 2)] * 3,
                          "prob": [0.9, 0.8, 0.5, 0.2, 0.1, 0.7, 0.6, 0.1],
                          "label": [1, 0, 1, 0, 1, 1, 0, 0]})
    out = top_flop_accuracy(frame, k=2)  # day 2 has 3 names, so k_t = 1 there
    assert out["top_accuracy"] == pytest.approx(2 / 3)  # 0.9 (1), 0.8 (0), 0.7 (1)
    assert out["flop_accuracy"] == pytest.approx(2 / 3)  # 0.1 (1), 0.2 (0), 0.1 (0): right when label 0
    assert out["top_flop_accuracy"] == pytest.approx(4 / 6) and out["top_flop_n"] == 6


def test_roc_points_are_bounded_and_keep_both_ends():
    rng = np.random.default_rng(0)
    y, prob = rng.integers(0, 2, 10_000), rng.random(10_000)
    roc = roc_points(y, prob, max_points=50)
    assert roc.height <= 50 and roc.row(0) == (0.0, 0.0) and roc.row(-1) == (1.0, 1.0)
    assert (np.diff(roc["fpr"].to_numpy()) >= 0).all()


def test_calibration_bins_hold_equal_counts_and_observed_rates():
    rng = np.random.default_rng(1)
    prob = rng.uniform(0.4, 0.6, 10_000)
    y = (rng.random(10_000) < prob).astype(int)  # calibrated by construction
    cal = calibration_points(y, prob, bins=10)
    assert cal.height == 10 and cal["n"].sum() == 10_000 and cal["n"].min() >= 999
    np.testing.assert_allclose(cal["observed"], cal["mean_prob"], atol=0.05)


def test_confusion_counts_list_every_cell():
    out = confusion_counts(np.array([1, 1, 0]), np.array([1, 1, 1]))
    assert out.select("actual", "predicted", "n").rows() == [(0, 0, 0), (0, 1, 1), (1, 0, 0), (1, 1, 2)]


def test_breakdown_by_group_matches_scikit_learn_per_group():
    rows = _panel(signal=0.5)
    table = accuracy_by(rows, pl.col("ticker"), 0.5)
    part = rows.filter(pl.col("ticker") == "T2")
    row = table.filter(pl.col("ticker") == "T2").row(0, named=True)
    assert row["n"] == part.height
    assert row["accuracy"] == pytest.approx(((part["prob"] > 0.5).cast(pl.Int8) == part["label"]).mean())
    assert row["auc"] == pytest.approx(roc_auc_score(part["label"], part["prob"]))
    assert row["accuracy_low"] < row["accuracy"] < row["accuracy_high"]
    by_year = accuracy_by(rows, pl.col("date").dt.year().alias("year"), 0.5)
    assert by_year["year"].to_list() == [2019] and by_year["n"].item() == rows.height


def _by_hand(y: np.ndarray, prob: np.ndarray) -> dict[str, float]:
    """The segment's headline numbers from their definitions: the call prob > 0.5; AUC as the share of
    (up, down) pairs ranked right (Mann-Whitney); Wilson's interval; the binomial tail against the
    segment's own majority share."""
    pred = (prob > 0.5).astype(int)
    tp, fp, fn = int(((pred == 1) & (y == 1)).sum()), int(((pred == 1) & (y == 0)).sum()), \
        int(((pred == 0) & (y == 1)).sum())
    hits, n = int((pred == y).sum()), len(y)
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    up, down = prob[y == 1], prob[y == 0]
    auc = ((up[:, None] > down[None, :]).sum() + 0.5 * (up[:, None] == down[None, :]).sum()) / (len(up) * len(down))
    z, p = 1.959963984540054, hits / n
    centre, half = p + z**2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    null = max(y.mean(), 1 - y.mean())
    tail = sum(math.comb(n, k) * null**k * (1 - null) ** (n - k) for k in range(hits, n + 1))
    return {"accuracy": hits / n, "precision": precision, "recall": recall,
            "f1": 2 * precision * recall / (precision + recall), "auc": auc,
            "accuracy_low": (centre - half) / (1 + z**2 / n), "accuracy_high": (centre + half) / (1 + z**2 / n),
            "null_rate": null, "p_binomial": tail, "n": n}


def test_evaluation_scores_each_segment_by_the_definitions():
    """Rule: every headline number of val and test is its textbook definition on that segment's rows."""
    rows = _panel(signal=0.3)
    labels = rows.select("ticker", "date", "next_return")
    result = evaluate(rows, labels, train_majority=1, threshold=0.5, top_k=2)
    for segment in ("val", "test"):
        part = rows.filter(pl.col("segment") == segment)
        expected = _by_hand(part["label"].to_numpy(), part["prob"].to_numpy().astype(np.float64))
        got = {k: result.metrics[segment][k] for k in expected}
        assert got == pytest.approx(expected, rel=1e-9), segment
        assert {"p_pesaran_timmermann", "ic_mean", "rank_ic_mean", "top_flop_accuracy"} <= set(result.metrics[segment])
    assert set(result.metrics["baselines"]) == {"majority_class", "always_up", "yesterday"}
    assert set(result.plots) == {"roc", "calibration", "confusion", "accuracy_by_ticker", "accuracy_by_year", "ic"}
    test = rows.filter(pl.col("segment") == "test")
    assert result.metrics["test"]["n"] == test.height
    assert result.metrics["baselines"]["always_up"] == pytest.approx(test["label"].mean())



def test_each_sector_gets_its_accuracy_interval_ic_and_count():
    rows = _panel(n_tickers=8, signal=0.3).with_columns(
        sector=pl.when(pl.col("ticker").is_in(["T0", "T1", "T2", "T3", "T4"])).then(pl.lit("tech"))
        .otherwise(pl.lit("energy")))
    result = evaluate(rows, rows.select("ticker", "date", "next_return"), train_majority=1, threshold=0.5, top_k=2)
    test = rows.filter(pl.col("segment") == "test")
    tech = test.filter(pl.col("sector") == "tech")
    hits = int(((tech["prob"] > 0.5).cast(pl.Int8) == tech["label"]).sum())
    low, high = wilson_interval(hits, tech.height)
    assert result.metrics["by_sector"]["tech"] == pytest.approx(
        {"n": tech.height, "accuracy": hits / tech.height, "accuracy_low": float(low), "accuracy_high": float(high),
         "ic_mean": information_coefficients(tech)["ic"].mean()})
    assert result.metrics["by_sector"]["energy"]["n"] == test.height - tech.height
    assert "accuracy_by_sector" in result.plots
