"""Evaluation's rankings and plot data, function by function on tiny hand-made rows: the IC summary and
top/flop, the ROC, calibration and confusion points against scikit-learn, and accuracy by group and sector.
Fast (no model, no pipeline): the evaluation mutation shard runs these beside tests/test_evaluate.py.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.calibration import calibration_curve
from sklearn.metrics import (roc_auc_score, roc_curve)

from stockcast.evaluation.breakdown import accuracy_by, by_sector
from stockcast.evaluation.cross_section import ic_summary, information_coefficients, top_flop_accuracy
from stockcast.evaluation.curves import calibration_points, confusion_counts, roc_points
from stockcast.evaluation.significance import wilson_interval


DAY = date(2021, 3, 1)


def test_ic_summary_by_hand():
    """Rule: per IC series, mean, ICIR = mean / std(ddof=1) and t = ICIR * sqrt(days); a single day has
    no ICIR, no day has no mean."""
    ic = pl.DataFrame({"ic": [0.1, 0.3, -0.1], "rank_ic": [0.2, 0.2, 0.5]})
    out = ic_summary(ic)
    std = np.std([0.1, 0.3, -0.1], ddof=1)
    assert out["ic_days"] == 3
    assert out["ic_mean"] == pytest.approx(0.1) and out["ic_ir"] == pytest.approx(0.1 / std)
    assert out["ic_tstat"] == pytest.approx(0.1 / std * np.sqrt(3))
    assert out["rank_ic_mean"] == pytest.approx(0.3) and out["rank_ic_ir"] == pytest.approx(0.3 / np.std([0.2, 0.2, 0.5], ddof=1))
    one = ic_summary(ic.head(1))
    assert one["ic_mean"] == pytest.approx(0.1) and np.isnan(one["ic_ir"]) and np.isnan(one["ic_tstat"])
    none = ic_summary(ic.head(0))
    assert none["ic_days"] == 0 and np.isnan(none["ic_mean"]) and np.isnan(none["rank_ic_ir"])
    flat = ic_summary(pl.DataFrame({"ic": [0.2, 0.2], "rank_ic": [0.1, 0.1]}))
    assert np.isnan(flat["ic_ir"]) and flat["ic_mean"] == pytest.approx(0.2)


def test_information_coefficients_need_three_names_and_a_spread():
    """Rule: a date counts with >= 3 names and a defined correlation: equal predictions are skipped."""
    rows = pl.DataFrame({"date": [DAY] * 3 + [DAY + timedelta(1)] * 3 + [DAY + timedelta(2)] * 2,
                         "prob": [0.1, 0.5, 0.9, 0.5, 0.5, 0.5, 0.2, 0.8],
                         "fwd_return": [0.01, 0.0, 0.03, 0.01, 0.02, 0.03, 0.0, 0.1]})
    ic = information_coefficients(rows)
    assert ic["date"].to_list() == [DAY] and ic["n"].to_list() == [3]
    assert ic["ic"][0] == pytest.approx(np.corrcoef([0.1, 0.5, 0.9], [0.01, 0.0, 0.03])[0, 1])
    assert ic["rank_ic"][0] == pytest.approx(0.5)


def test_top_flop_with_too_few_names_is_undefined():
    """Rule: k_t = min(k, floor(N_t / 2)): a date with one name trades neither side, so NaN."""
    out = top_flop_accuracy(pl.DataFrame({"date": [DAY], "prob": [0.9], "label": [1]}), k=3)
    assert out["top_flop_n"] == 0 and np.isnan(out["top_accuracy"]) and np.isnan(out["flop_accuracy"])
    assert np.isnan(out["top_flop_accuracy"])
    rows = pl.DataFrame({"date": [DAY] * 4, "prob": [0.9, 0.8, 0.2, 0.1], "label": [1, 0, 0, 0]})
    assert top_flop_accuracy(rows, k=1) == {"top_accuracy": 1.0, "flop_accuracy": 1.0, "top_flop_accuracy": 1.0,
                                            "top_flop_n": 2}
    assert top_flop_accuracy(rows, k=2) == {"top_accuracy": 0.5, "flop_accuracy": 1.0, "top_flop_accuracy": 0.75,
                                            "top_flop_n": 4}


def test_roc_points_are_scikit_learns_vertices_thinned_evenly():
    """Rule: all of roc_curve's vertices when there are at most max_points, else max_points of them at
    evenly spaced indices, the first and the last included."""
    y = np.array([0, 1, 0, 1, 1, 0, 1, 0, 1, 1])
    prob = np.array([0.1, 0.9, 0.35, 0.6, 0.8, 0.7, 0.4, 0.2, 0.65, 0.55])
    fpr, tpr, _ = roc_curve(y, prob)
    full = roc_points(y, prob)
    np.testing.assert_array_equal(full["fpr"], fpr)
    np.testing.assert_array_equal(full["tpr"], tpr)
    thin = roc_points(y, prob, max_points=3)
    keep = [0, (len(fpr) - 1) // 2 if (len(fpr) - 1) % 2 == 0 else round((len(fpr) - 1) / 2), len(fpr) - 1]
    np.testing.assert_array_equal(thin["fpr"], fpr[keep])
    np.testing.assert_array_equal(thin["tpr"], tpr[keep])
    assert thin.columns == ["fpr", "tpr"]


def test_calibration_points_are_scikit_learns_quantile_bins():
    """Rule: equal-count bins of P(up) (calibration_curve, strategy="quantile"): per bin the mean
    prediction, the observed share of ups and the count."""
    rng = np.random.default_rng(7)
    prob = rng.uniform(0.3, 0.7, 400)
    y = (rng.random(400) < prob).astype(int)
    cal = calibration_points(y, prob, bins=5)
    observed, predicted = calibration_curve(y, prob, n_bins=5, strategy="quantile")
    np.testing.assert_allclose(cal["observed"], observed, rtol=1e-12)
    np.testing.assert_allclose(cal["mean_prob"], predicted, rtol=1e-12)
    assert cal["bin"].to_list() == [0, 1, 2, 3, 4] and cal["n"].to_list() == [80] * 5
    tied = calibration_points(np.array([1, 0, 1, 1]), np.full(4, 0.5), bins=4)  # one edge: a single bin 0
    assert tied.rows() == [(0, 0.5, 0.75, 4)]
    top = calibration_points(np.array([0, 1, 1, 1]), np.array([0.1, 0.2, 0.3, 0.4]), bins=2)
    assert top.rows() == [(0, pytest.approx(0.15), 0.5, 2), (1, pytest.approx(0.35), 1.0, 2)]  # the maximum falls in the last bin


def test_confusion_counts_of_three_classes_name_their_cells():
    """Rule: the 3 x 3 matrix lists every (actual, predicted) cell row-major, zeros included, each
    named "actual a / predicted p"."""
    out = confusion_counts(np.array([0, 1, 2, 2, 1]), np.array([0, 2, 2, 2, 1]), 3)
    assert out["n"].to_list() == [1, 0, 0, 0, 1, 1, 0, 0, 2]
    assert out["cell"][5] == "actual 1 / predicted 2" and out.height == 9
    assert out.columns == ["actual", "predicted", "n", "cell"]


def test_accuracy_by_group_by_hand_with_one_class_groups_and_ties():
    """Rule: per group n, accuracy, Wilson interval, share of ups, mean P(up) and the Mann-Whitney AUC
    with tied probabilities averaged (scikit-learn's), NaN where the group holds one class."""
    rows = pl.DataFrame({"ticker": ["A"] * 5 + ["B"] * 3,
                         "prob": pl.Series([0.7, 0.5, 0.5, 0.2, 0.9, 0.6, 0.7, 0.4], dtype=pl.Float32),
                         "label": pl.Series([1, 1, 0, 0, 1, 1, 1, 1], dtype=pl.Int8)})
    table = accuracy_by(rows, pl.col("ticker"), 0.5)
    assert table.columns == ["ticker", "n", "accuracy", "accuracy_low", "accuracy_high", "up_rate", "auc",
                             "mean_prob"]
    a, b = table.row(0, named=True), table.row(1, named=True)
    assert a["ticker"] == "A" and a["n"] == 5 and a["accuracy"] == pytest.approx(4 / 5)  # 0.5 is a down call
    assert a["auc"] == pytest.approx(roc_auc_score([1, 1, 0, 0, 1], [0.7, 0.5, 0.5, 0.2, 0.9]))
    assert a["auc"] == pytest.approx((2 + 2 + 1.5) / 6)
    assert a["up_rate"] == pytest.approx(3 / 5) and a["mean_prob"] == pytest.approx(np.mean(
        np.array([0.7, 0.5, 0.5, 0.2, 0.9], dtype=np.float32).astype(np.float64)), rel=1e-12)
    low, high = wilson_interval(4, 5)
    assert (a["accuracy_low"], a["accuracy_high"]) == pytest.approx((float(low), float(high)))
    assert b["n"] == 3 and b["accuracy"] == pytest.approx(2 / 3) and b["up_rate"] == 1.0 and b["auc"] is None


def test_by_sector_adds_each_sectors_ic_or_nan_without_three_names():
    """Rule: a sector's ic_mean is the mean daily IC among its own tickers; NaN when no date has three."""
    days = [DAY, DAY + timedelta(1)]
    rows = pl.DataFrame({"ticker": ["A", "B", "C", "D"] * 2, "date": [DAY] * 4 + [DAY + timedelta(1)] * 4,
                         "sector": ["tech", "tech", "tech", "energy"] * 2,
                         "prob": pl.Series([0.1, 0.5, 0.9, 0.6, 0.3, 0.2, 0.8, 0.4], dtype=pl.Float32),
                         "fwd_return": [0.01, 0.0, 0.03, 0.01, 0.02, -0.01, 0.01, 0.0],
                         "label": pl.Series([1, 0, 1, 1, 1, 0, 1, 0], dtype=pl.Int8)})
    table = by_sector(rows, 0.5)
    assert table["sector"].to_list() == ["energy", "tech"] and np.isnan(table["ic_mean"][0])
    tech = rows.filter(pl.col("sector") == "tech")
    daily = [np.corrcoef(tech.filter(pl.col("date") == d)["prob"].to_numpy().astype(np.float64),
                         tech.filter(pl.col("date") == d)["fwd_return"])[0, 1] for d in days]
    assert table["ic_mean"][1] == pytest.approx(np.mean(daily), rel=1e-6)
    assert table.schema["ic_mean"] == pl.Float64 and table["n"].to_list() == [2, 6]


def test_calibration_bins_put_a_tie_on_an_edge_where_scikit_learn_does():
    """Rule: a prediction equal to an inner quantile edge falls in the bin below it (calibration_curve's
    np.searchsorted(inner edges, p)); the default is 10 bins; one bin holds everything."""
    prob = np.array([0.1, 0.2, 0.3, 0.3, 0.4, 0.5, 0.6, 0.7, 0.7, 0.9], dtype=np.float32)
    y = np.array([0, 0, 1, 0, 1, 0, 1, 1, 0, 1])
    cal = calibration_points(y, prob, bins=4)
    observed, predicted = calibration_curve(y, prob.astype(np.float64), n_bins=4, strategy="quantile")
    np.testing.assert_allclose(cal["observed"], observed, rtol=1e-12)
    np.testing.assert_allclose(cal["mean_prob"], predicted, rtol=1e-12)  # in float64, from float32 input
    assert cal["n"].to_list() == [4, 1, 2, 3]
    assert calibration_points(y, np.linspace(0.05, 0.95, 10)).height == 10  # default: 10 bins
    one = calibration_points(y, prob, bins=1)
    assert one.rows() == [(0, pytest.approx(float(prob.astype(np.float64).mean())), 0.5, 10)]


def test_the_ic_summary_of_two_days_and_of_fewer_is_quiet():
    """Rule: two days already give an ICIR; one day or none gives NaN for what it cannot estimate,
    without numpy's warnings."""
    two = ic_summary(pl.DataFrame({"ic": [0.1, 0.3], "rank_ic": [0.2, 0.0]}))
    assert two["ic_ir"] == pytest.approx(0.2 / np.std([0.1, 0.3], ddof=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(ic_summary(pl.DataFrame({"ic": [0.1], "rank_ic": [0.2]}))["ic_ir"])
        assert np.isnan(ic_summary(pl.DataFrame({"ic": [], "rank_ic": []}, schema={"ic": pl.Float64,
                                                                                   "rank_ic": pl.Float64}))["ic_mean"])


def test_top_flop_breaks_ties_by_row_order_not_by_average_rank():
    """Rule: ranks are ordinal: of two names tied for the top with k = 1, one is taken (not none)."""
    rows = pl.DataFrame({"date": [DAY] * 4, "prob": [0.8, 0.8, 0.2, 0.1], "label": [1, 1, 0, 1]})
    out = top_flop_accuracy(rows, k=1)
    assert out["top_flop_n"] == 2 and out["top_accuracy"] == 1.0 and out["flop_accuracy"] == 0.0


def test_roc_points_default_to_201_vertices():
    """Rule: at most 201 ROC vertices by default."""
    rng = np.random.default_rng(2)
    y, prob = rng.integers(0, 2, 2000), rng.random(2000)
    assert len(roc_curve(y, prob)[0]) > 300 and roc_points(y, prob).height == 201


def test_confusion_counts_read_float_labels_and_keep_empty_last_cells():
    """Rule: labels and calls given as floats (0.0, 1.0) count like ints; a 3 x 3 matrix keeps its
    nine cells when no row is flat."""
    out = confusion_counts(np.array([1.0, 0.0, 1.0]), np.array([1.0, 1.0, 0.0]))
    assert out["n"].to_list() == [0, 1, 1, 1]
    three = confusion_counts(np.array([0, 1, 1]), np.array([0, 1, 0]), 3)
    assert three["n"].to_list() == [1, 0, 0, 1, 1, 0, 0, 0, 0]


def test_the_group_auc_needs_one_up_and_one_down():
    """Rule: a group's AUC is defined from one up and one down row on (by hand: 1 up ranked above 1
    down is 1.0); a group without an up row, or without a down row, has none."""
    rows = pl.DataFrame({"ticker": ["A", "A", "B", "B", "C", "C"],
                         "prob": pl.Series([0.7, 0.4, 0.6, 0.3, 0.2, 0.9], dtype=pl.Float32),
                         "label": pl.Series([1, 0, 0, 0, 1, 0], dtype=pl.Int8)})
    assert accuracy_by(rows, pl.col("ticker"), 0.5)["auc"].to_list() == [1.0, None, 0.0]
    empty = by_sector(rows.head(0).with_columns(sector=pl.lit("x"), date=pl.lit(DAY), fwd_return=pl.lit(0.0)), 0.5)
    assert empty.height == 0 and empty.schema["ic_mean"] == pl.Float64
