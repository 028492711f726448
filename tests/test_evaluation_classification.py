"""Evaluation's calls and scores, function by function on tiny hand-made rows: the three-class call and
metrics against scikit-learn, the baselines, what exporting costs, the headline file and evaluate() by hand.
Fast (no model, no pipeline): the evaluation mutation shard runs these beside tests/test_evaluate.py.
"""

from __future__ import annotations

import warnings
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import (accuracy_score, f1_score, log_loss, precision_score, recall_score, roc_auc_score,
                             roc_curve)

from stockcast.errors import StockcastError
from stockcast.evaluation.classification import (baseline_accuracy, calls, class_probabilities, classification_metrics,
                                                 has_flat_class, majority_class, multiclass_metrics, predicted_class,
                                                 yesterday_direction)
from stockcast.evaluation.exported import export_headline, variant_scores
from stockcast.evaluation.scorecard import HEADLINE, evaluate, headline, score_segment, selection_scores
from stockcast.evaluation.significance import binomial_pvalue, pesaran_timmermann, wilson_interval


DAY = date(2021, 3, 1)


def _three(proba: list[tuple[float, float, float]], labels: list[int], **extra) -> pl.DataFrame:
    """Three-class prediction rows (prob_down, prob, prob_flat) on one date, one ticker each."""
    p = np.array(proba, dtype=np.float32)
    return pl.DataFrame({"ticker": [f"T{i}" for i in range(len(p))], "date": DAY,
                         "label": pl.Series(labels, dtype=pl.Int8), "prob_down": p[:, 0], "prob": p[:, 1],
                         "prob_flat": p[:, 2], **extra})


def test_the_three_class_call_is_the_most_probable_class_ties_to_down_then_up():
    """Rule: with prob_down and prob_flat the call is the argmax of (down, up, flat), a tie going to
    down, then up, then flat; polars' expression and the numpy array agree; two classes call prob > t."""
    rows = _three([(0.5, 0.3, 0.2), (0.2, 0.5, 0.3), (0.2, 0.3, 0.5), (0.4, 0.4, 0.2), (0.4, 0.2, 0.4),
                   (0.2, 0.4, 0.4), (0.3, 0.4, 0.3)], [0] * 7)
    expected = [0, 1, 2, 0, 0, 1, 1]
    assert has_flat_class(rows) and not has_flat_class(rows.drop("prob_down", "prob_flat"))
    call = rows.select(predicted_class(rows, 0.5))
    assert call.columns == ["call"] and call.schema["call"] == pl.Int8 and call["call"].to_list() == expected
    assert calls(rows, 0.5).tolist() == expected and calls(rows, 0.5).dtype == np.int64
    np.testing.assert_array_equal(class_probabilities(rows), rows.select("prob_down", "prob", "prob_flat")
                                  .to_numpy().astype(np.float64))
    assert class_probabilities(rows).dtype == np.float64
    binary = pl.DataFrame({"prob": pl.Series([0.2, 0.5, 0.50001, 0.9], dtype=pl.Float32)})
    assert binary.select(predicted_class(binary, 0.5))["call"].to_list() == [0, 0, 1, 1]
    assert binary.select(predicted_class(binary, 0.5)).schema["call"] == pl.Int8
    assert calls(binary, 0.5).tolist() == [0, 0, 1, 1] and calls(binary, 0.5).dtype == np.int64
    assert calls(binary, 0.1).tolist() == [1, 1, 1, 1]  # the threshold is the caller's


def test_multiclass_metrics_are_scikit_learns_macro_averages():
    """Rule: three classes: accuracy, macro precision / recall / F1 over down, up, flat (a class never
    called scores 0), one-vs-rest macro AUC and log loss of the row-normalised probabilities."""
    rng = np.random.default_rng(4)
    y = np.array([0, 1, 2, 1, 0, 2, 1, 1, 0, 2, 2, 1])
    proba = rng.dirichlet([1, 1, 1], len(y))
    pred = np.array([0, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1])  # flat never called
    m = multiclass_metrics(y, proba * 1.5, pred)  # rows summing to 1.5 are normalised first
    labels = [0, 1, 2]
    assert m == pytest.approx({
        "accuracy": accuracy_score(y, pred),
        "precision": precision_score(y, pred, labels=labels, average="macro", zero_division=0),
        "recall": recall_score(y, pred, labels=labels, average="macro", zero_division=0),
        "f1": f1_score(y, pred, labels=labels, average="macro", zero_division=0),
        "auc": roc_auc_score(y, proba, multi_class="ovr", average="macro", labels=labels),
        "log_loss": log_loss(y, proba, labels=labels), "n": 12}, rel=1e-12)
    assert m["precision"] == pytest.approx((2 / 5 + 4 / 7 + 0) / 3)  # by hand: down 2 of 5, up 4 of 7
    two = multiclass_metrics(np.array([0, 1, 1]), np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.3, 0.4]]),
                             np.array([0, 1, 2]))
    assert np.isnan(two["auc"]) and two["log_loss"] == pytest.approx(-np.mean(np.log([0.6, 0.7, 0.3])))
    assert two["n"] == 3 and two["accuracy"] == pytest.approx(2 / 3)


def test_a_three_class_segment_is_scored_by_hand():
    """Rule: with a flat class the null rate is the largest class share, flat_rate the share of label
    2, and Pesaran-Timmermann runs on the rows where neither the label nor the call is flat."""
    rows = _three([(0.6, 0.3, 0.1), (0.1, 0.7, 0.2), (0.2, 0.2, 0.6), (0.5, 0.4, 0.1), (0.1, 0.8, 0.1),
                   (0.2, 0.3, 0.5), (0.3, 0.6, 0.1), (0.7, 0.2, 0.1)], [0, 1, 2, 1, 1, 1, 0, 0],
                  fwd_return=np.linspace(-0.02, 0.02, 8))
    m = score_segment(rows, 0.5, 1)
    y, pred = np.array([0, 1, 2, 1, 1, 1, 0, 0]), np.array([0, 1, 2, 0, 1, 2, 1, 0])
    assert m["accuracy"] == pytest.approx(5 / 8) and m["null_rate"] == pytest.approx(4 / 8)
    assert m["flat_rate"] == pytest.approx(1 / 8) and m["up_rate"] == pytest.approx(4 / 8)
    keep = (y != 2) & (pred != 2)
    statistic, p_value = pesaran_timmermann(y[keep], pred[keep])
    assert m["pt_n_up_down"] == 6 and m["pt_statistic_up_down"] == pytest.approx(statistic)
    assert m["p_pesaran_timmermann_up_down"] == pytest.approx(p_value)
    assert m["p_binomial"] == pytest.approx(binomial_pvalue(5, 8, 0.5))
    low, high = wilson_interval(5, 8)
    assert (m["accuracy_low"], m["accuracy_high"]) == pytest.approx((float(low), float(high)))
    assert "pt_statistic" not in m and "p_pesaran_timmermann" not in m


def test_a_binary_segment_tests_every_row_and_its_own_majority():
    """Rule: two classes: the null rate is max(up_rate, 1 - up_rate) of the segment, Pesaran-Timmermann
    runs on all rows, and no three-class key appears."""
    prob = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.7, 0.4]
    y = [1, 1, 0, 0, 0, 0, 1, 1]
    rows = pl.DataFrame({"ticker": [f"T{i}" for i in range(8)], "date": DAY, "label": pl.Series(y, dtype=pl.Int8),
                         "prob": pl.Series(prob, dtype=pl.Float32), "fwd_return": np.linspace(-0.02, 0.02, 8)})
    m = score_segment(rows, 0.5, 2)
    pred = (np.array(prob) > 0.5).astype(int)
    statistic, p_value = pesaran_timmermann(np.array(y), pred)
    assert m["pt_statistic"] == pytest.approx(statistic) and m["p_pesaran_timmermann"] == pytest.approx(p_value)
    assert m["null_rate"] == 0.5 and m["up_rate"] == 0.5 and m["accuracy"] == pytest.approx(6 / 8)
    assert m["p_binomial"] == pytest.approx(binomial_pvalue(6, 8, 0.5))
    assert not {"flat_rate", "pt_n_up_down"} & set(m)
    skewed = score_segment(rows.with_columns(label=pl.Series([1, 1, 1, 0, 0, 1, 1, 1], dtype=pl.Int8)), 0.5, 2)
    assert skewed["null_rate"] == pytest.approx(6 / 8) and skewed["up_rate"] == pytest.approx(6 / 8)
    # the day's ranking: top 2 (0.9, 0.8) both up, flop 2 (0.1, 0.2) both down
    assert m["top_flop_accuracy"] == 1.0 and m["ic_days"] == 1


def _variant(prob: list[float], labels: list[int], segments: list[str], flat: list[float] | None = None):
    frame = pl.DataFrame({"ticker": [f"T{i}" for i in range(len(prob))], "date": DAY, "segment": segments,
                          "label": pl.Series(labels, dtype=pl.Int8), "prob": pl.Series(prob, dtype=pl.Float32)})
    if flat is not None:
        down = 1 - np.array(prob) - np.array(flat)
        frame = frame.with_columns(prob_down=pl.Series(down, dtype=pl.Float32), prob_flat=pl.Series(flat, dtype=pl.Float32))
    return frame


def test_export_scores_each_variant_on_torchs_rows_and_measures_its_distance():
    """Rule: every variant is scored like torch on each segment (accuracy, log loss, AUC, n) and
    max_diff = max |p_variant - p_torch| over that segment's rows; rows not torch's are refused."""
    segments = ["val", "val", "val", "test", "test", "test", "test"]
    labels = [1, 0, 1, 1, 0, 0, 1]
    torch = [0.8, 0.3, 0.6, 0.7, 0.4, 0.2, 0.45]
    onnx = [p + 1e-6 for p in torch]
    int8 = [0.75, 0.35, 0.4, 0.72, 0.55, 0.2, 0.45]
    scored = {"torch": _variant(torch, labels, segments), "onnx": _variant(onnx, labels, segments),
              "int8": _variant(int8, labels, segments)}
    table = variant_scores(scored, ("val", "test"), 0.5)
    assert set(table) == {"val", "test"} and set(table["test"]) == {"torch", "onnx", "int8"}
    test_y, test_int8 = np.array([1, 0, 0, 1]), np.array(int8[3:], dtype=np.float32).astype(np.float64)
    assert table["test"]["int8"] == pytest.approx({
        "accuracy": 0.5, "log_loss": log_loss(test_y, test_int8), "auc": roc_auc_score(test_y, test_int8), "n": 4,
        "max_diff": float(np.float32(0.55)) - float(np.float32(0.4))}, rel=1e-6)
    assert table["val"]["int8"]["max_diff"] == pytest.approx(float(np.float32(0.6)) - float(np.float32(0.4)))
    assert table["val"]["torch"]["max_diff"] == 0.0 and table["val"]["onnx"]["max_diff"] == pytest.approx(1e-6, rel=0.1)
    assert table["val"]["torch"]["accuracy"] == 1.0 and table["val"]["torch"]["n"] == 3
    head = export_headline(table)
    assert head == pytest.approx({"onnx_max_diff": max(table[s]["onnx"]["max_diff"] for s in table),
                                  "int8_max_diff": table["val"]["int8"]["max_diff"],
                                  "val_int8_accuracy": table["val"]["int8"]["accuracy"],
                                  "val_int8_log_loss": table["val"]["int8"]["log_loss"],
                                  "test_int8_accuracy": 0.5, "test_int8_log_loss": log_loss(test_y, test_int8)})
    shuffled = scored | {"int8": scored["int8"].reverse()}
    with pytest.raises(StockcastError, match="the int8 predictions are not on torch's rows"):
        variant_scores(shuffled, ("test",), 0.5)


def test_export_of_a_three_class_model_compares_every_class_probability():
    """Rule: with a flat class the variants are scored with the multiclass metrics and max_diff runs
    over prob_down, prob and prob_flat (a change in prob_flat alone shows)."""
    segments = ["test"] * 6
    labels = [0, 1, 2, 1, 0, 2]
    prob, flat = [0.2, 0.6, 0.2, 0.5, 0.1, 0.3], [0.2, 0.2, 0.6, 0.2, 0.1, 0.5]
    torch = _variant(prob, labels, segments, flat)
    int8 = torch.with_columns(prob_flat=pl.col("prob_flat") + pl.Series([0.0, 0.0, 0.0, 0.0, 0.0, 0.125]),
                              prob_down=pl.col("prob_down") - pl.Series([0.0, 0.0, 0.0, 0.0, 0.0, 0.125]))
    table = variant_scores({"torch": torch, "int8": int8}, ("test",), 0.5)
    assert table["test"]["int8"]["max_diff"] == pytest.approx(0.125, rel=1e-6)
    y = np.array(labels)
    proba = torch.select("prob_down", "prob", "prob_flat").to_numpy().astype(np.float64)
    proba /= proba.sum(axis=1, keepdims=True)
    assert table["test"]["torch"] == pytest.approx({
        "accuracy": accuracy_score(y, proba.argmax(axis=1)), "log_loss": log_loss(y, proba),
        "auc": roc_auc_score(y, proba, multi_class="ovr", average="macro"), "n": 6, "max_diff": 0.0}, rel=1e-6)


def test_headline_keeps_the_listed_keys_of_each_segment_and_the_optional_blocks():
    """Rule: metrics/evaluate.json holds, per scored segment, the HEADLINE keys it has, the baselines,
    the train majority, and the selection and export blocks only when the model has them."""
    test = {k: float(i) for i, k in enumerate(HEADLINE["test"])} | {"precision": 0.5}
    metrics = {"test": test, "val": {"accuracy": 0.6, "auc": 0.55, "log_loss": 0.69, "f1": 0.1},
               "baselines": {"always_up": 0.52}, "train_majority_class": 1}
    out = headline(metrics)
    assert out == {"test": {k: test[k] for k in HEADLINE["test"]}, "val": {"accuracy": 0.6, "auc": 0.55,
                                                                           "log_loss": 0.69},
                   "baselines": {"always_up": 0.52}, "train_majority_class": 1}
    refit = headline({k: v for k, v in metrics.items() if k != "val"} | {"selection": {"best_epoch": 3}})
    assert "val" not in refit and refit["selection"] == {"best_epoch": 3}
    table = {"test": {"torch": {"max_diff": 0.0}, "int8": {"max_diff": 0.01, "accuracy": 0.5, "log_loss": 0.7}}}
    assert headline(metrics | {"export": table})["export"] == {"int8_max_diff": 0.01, "test_int8_accuracy": 0.5,
                                                                "test_int8_log_loss": 0.7}


def test_selection_scores_are_the_val_scores_the_model_was_picked_on():
    """Rule: best_epoch, refit = 1 only for a train_val refit, and the `best` entries naming val."""
    config = {"best_epoch": 7, "refit": {"mode": "train_val"},
              "best": {"val_accuracy": 0.53, "val_loss": 0.69, "train_loss": 0.6}}
    assert selection_scores(config) == {"best_epoch": 7, "refit": 1, "val_accuracy": 0.53, "val_loss": 0.69}
    assert selection_scores({"best_epoch": 2, "refit": {"mode": "none"}}) == {"best_epoch": 2, "refit": 0}
    assert selection_scores({"best_epoch": 2, "best": None}) == {"best_epoch": 2, "refit": 0}


def test_evaluate_scores_only_the_segments_asked_and_the_baselines_on_test():
    """Rule: a refit model is scored on test alone; the baselines and plots are of the test rows, with
    yesterday's direction read from the labels (the training majority where it is unknown)."""
    days = [DAY + timedelta(i) for i in range(4)]
    rows = pl.DataFrame({"ticker": ["A"] * 4 + ["B"] * 4, "date": days * 2,
                         "segment": ["val", "val", "test", "test"] * 2,
                         "label": pl.Series([1, 0, 1, 0, 0, 1, 1, 1], dtype=pl.Int8),
                         "prob": pl.Series([0.6, 0.4, 0.7, 0.6, 0.3, 0.6, 0.2, 0.9], dtype=pl.Float32),
                         "fwd_return": [0.01, -0.01, 0.02, -0.02, -0.01, 0.01, 0.02, 0.03]})
    labels = rows.select("ticker", "date", next_return="fwd_return")
    result = evaluate(rows, labels, train_majority=0, threshold=0.5, top_k=1, segments=("test",))
    assert "val" not in result.metrics and result.metrics["test"]["n"] == 4
    # test rows: A day 3 (label 1, yesterday down), A day 4 (0, up), B day 3 (1, up), B day 4 (1, up)
    assert result.metrics["baselines"] == {"majority_class": 0.25, "always_up": 0.75, "yesterday": 0.5}
    assert result.metrics["train_majority_class"] == 0
    assert result.plots["accuracy_by_ticker"]["n"].to_list() == [2, 2]
    assert result.plots["confusion"]["n"].to_list() == [0, 1, 1, 2]  # (0,0) (0,1) (1,0) (1,1)
    ic = result.plots["ic"]
    assert ic.height == 0 and {"cumulative_ic", "cumulative_rank_ic"} <= set(ic.columns)


def test_the_majority_class_breaks_ties_towards_up_then_down():
    """Rule: the most frequent training label; a tie goes to up, then down, then flat; nulls ignored."""
    assert majority_class(pl.Series([1, 0], dtype=pl.Int8)) == 1
    assert majority_class(pl.Series([2, 0], dtype=pl.Int8)) == 0
    assert majority_class(pl.Series([2, 2, 1, None, None, None], dtype=pl.Int8)) == 2
    assert majority_class(pl.Series([None, None, 0], dtype=pl.Int8)) == 0


def test_baselines_with_a_flat_class():
    """Rule: yesterday's direction is up or down, never flat: a flat label is a miss for it, and the
    training majority (flat here) stands in where yesterday is unknown."""
    y = np.array([2, 1, 0, 2])
    out = baseline_accuracy(y, 2, np.array([1.0, 1.0, 0.0, np.nan]))
    assert out == {"majority_class": 0.5, "always_up": 0.25, "yesterday": 0.75}


def test_binary_metrics_call_above_the_threshold_in_float64_and_quietly():
    """Rule: the call is prob > threshold compared in float64 (a float32 0.3 is 0.30000001, above 0.3;
    exactly 0.5 is not above 0.5); a class never called or never present scores 0 without a warning,
    and a single class leaves AUC and log loss NaN without one."""
    y = np.array([1, 0, 1, 0])
    m = classification_metrics(y, np.array([0.3, 0.2, 0.5, 0.1], dtype=np.float32), 0.3)
    assert m["accuracy"] == 1.0 and m["precision"] == 1.0 and m["recall"] == 1.0  # 0.3f and 0.5 called up
    at = classification_metrics(y, np.array([0.5, 0.2, 0.6, 0.1]), 0.5)
    assert at["recall"] == 0.5 and at["accuracy"] == 0.75
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        never = classification_metrics(y, np.full(4, 0.2), 0.5)  # nothing called up
        assert never["precision"] == 0.0 and never["f1"] == 0.0 and never["recall"] == 0.0
        absent = classification_metrics(np.zeros(4, dtype=int), np.array([0.2, 0.7, 0.1, 0.3]), 0.5)
        assert absent["recall"] == 0.0 and absent["f1"] == 0.0 and np.isnan(absent["auc"])
        assert np.isnan(absent["log_loss"])


def test_multiclass_metrics_average_over_all_three_classes_quietly():
    """Rule: the macro averages run over down, up and flat even when flat is neither a label nor a
    call (it scores 0, without a warning); AUC is NaN unless all three classes occur, quietly."""
    y, pred = np.array([0, 1, 1, 0, 1]), np.array([0, 1, 0, 0, 1])
    proba = np.array([[0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.5, 0.4, 0.1], [0.7, 0.2, 0.1], [0.3, 0.6, 0.1]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = multiclass_metrics(y, proba, pred)
    assert m["precision"] == pytest.approx((2 / 3 + 1 + 0) / 3) and m["recall"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert m["f1"] == pytest.approx((0.8 + 0.8 + 0) / 3) and np.isnan(m["auc"])


def test_export_distance_of_a_one_row_segment():
    """Rule: max_diff is measured on any non-empty segment, one row included."""
    torch = _variant([0.6, 0.3], [1, 0], ["val", "test"])
    int8 = _variant([0.6, 0.25], [1, 0], ["val", "test"])
    table = variant_scores({"torch": torch, "int8": int8}, ("test",), 0.5)
    assert table["test"]["int8"]["max_diff"] == pytest.approx(float(np.float32(0.3)) - float(np.float32(0.25)))


def test_evaluate_plots_and_baselines_by_hand():
    """Rule: the test segment's plots: ROC of P(up) for label 1 (scikit-learn's), the running IC sums,
    the accuracy by ticker at the caller's threshold, by year under "year"; a test row without a labels
    row still counts in the baselines (yesterday unknown: the training majority); top/flop use top_k."""
    days = [DAY + timedelta(i) for i in range(3)]
    tickers = ["A", "B", "C", "D"]
    rng = np.random.default_rng(3)
    prob = rng.uniform(0.2, 0.8, 12)
    fwd = rng.normal(0, 0.02, 12)
    rows = pl.DataFrame({"ticker": np.repeat(tickers, 3), "date": days * 4, "segment": "test",
                         "label": pl.Series((fwd > 0).astype(np.int8)), "prob": pl.Series(prob, dtype=pl.Float32),
                         "fwd_return": fwd})
    labels = rows.select("ticker", "date", next_return="fwd_return").filter(pl.col("ticker") != "D")
    result = evaluate(rows, labels, train_majority=1, threshold=0.4, top_k=1, segments=("test",))
    y, p = rows["label"].to_numpy(), rows["prob"].to_numpy().astype(np.float64)
    fpr, tpr, _ = roc_curve(y, p)
    np.testing.assert_array_equal(result.plots["roc"]["fpr"], fpr)
    np.testing.assert_array_equal(result.plots["roc"]["tpr"], tpr)
    ic = result.plots["ic"]
    np.testing.assert_allclose(ic["cumulative_ic"], np.cumsum(ic["ic"]), rtol=1e-12)
    np.testing.assert_allclose(ic["cumulative_rank_ic"], np.cumsum(ic["rank_ic"]), rtol=1e-12)
    a = rows.filter(pl.col("ticker") == "A")
    assert result.plots["accuracy_by_ticker"]["accuracy"][0] == pytest.approx(
        float(((a["prob"].to_numpy() > 0.4).astype(int) == a["label"].to_numpy()).mean()))
    assert result.plots["accuracy_by_year"].columns[0] == "year"
    assert result.plots["accuracy_by_year"]["accuracy"][0] == pytest.approx(float(((p > 0.4) == y).mean()))
    assert result.metrics["test"]["top_flop_n"] == 6  # one top and one flop name on each of 3 days
    yesterday = rows.join(yesterday_direction(labels), on=["ticker", "date"], how="left")["yesterday_up"]
    expected = np.where(yesterday.is_null().to_numpy(), 1, yesterday.fill_null(0).to_numpy())
    assert result.metrics["baselines"]["yesterday"] == pytest.approx(float(np.mean(y == expected)))
    assert result.metrics["baselines"]["always_up"] == pytest.approx(float(y.mean()))


def test_a_three_class_evaluation_draws_a_three_by_three_confusion():
    """Rule: with a flat class the confusion plot lists all nine cells; a segment without a flat label
    still reports flat_rate 0."""
    rows = _three([(0.6, 0.3, 0.1), (0.1, 0.7, 0.2), (0.2, 0.2, 0.6), (0.5, 0.4, 0.1)], [0, 1, 2, 1],
                  fwd_return=[0.01, 0.02, -0.01, 0.0], segment="test")
    result = evaluate(rows, rows.select("ticker", "date", next_return="fwd_return"), 1, 0.5, 1, ("test",))
    assert result.plots["confusion"]["n"].to_list() == [1, 0, 0, 1, 1, 0, 0, 0, 1]
    no_flat = score_segment(rows.filter(pl.col("label") != 2), 0.5, 1)
    assert no_flat["flat_rate"] == 0.0 and no_flat["null_rate"] == pytest.approx(2 / 3)
