"""Coverage: a ticker too short for a segment is left out of it with a finding, one with no segment left is
dropped, and a row is usable only when every feature is finite. The labels_split mutation shard runs these.
"""

from datetime import date

import polars as pl
import pytest

from stockcast import coverage
from stockcast.errors import StockcastError
from stockcast.labels import make_labels
from stockcast.schemas import Labels
from stockcast.segments import assign_segments

from .conftest import random_bars


def _usable(labels: pl.DataFrame, unusable: pl.Expr | None = None) -> pl.DataFrame:
    return labels.select("ticker", "date", usable=~unusable if unusable is not None else pl.lit(True))


def test_a_ticker_too_short_for_a_segment_is_left_out_of_it_with_a_finding():
    labels, _ = assign_segments(make_labels(random_bars({"LLL": 600, "SSS": 600}), 1), 0.6, 0.2, 10)
    ss_train = (pl.col("ticker") == "SSS") & (pl.col("segment") == "train")
    last_8 = labels.filter(ss_train)["date"].sort()[-8]
    usable = _usable(labels, ss_train & (pl.col("date") < last_8))  # only 8 usable training rows (a NaN feature)
    out, report = coverage.enforce(labels, usable, 60)
    assert out.height == labels.height and out.drop("segment").equals(labels.drop("segment"))
    moved = out.filter(pl.col("segment") == coverage.SHORT)
    assert moved.height == labels.filter(ss_train).height and set(moved["ticker"]) == {"SSS"}
    assert out.filter(pl.col("ticker") == "SSS")["segment"].value_counts().sort("segment")["segment"].to_list() \
        == ["embargo", "short", "test", "val"]
    labelled = labels.filter(ss_train & pl.col("label").is_not_null()).height
    assert report["left_out"] == [{"ticker": "SSS", "segment": "train", "usable": 8, "labelled": labelled}]
    assert report["tickers"] == {"train": ["LLL"], "val": ["LLL", "SSS"], "test": ["LLL", "SSS"]}
    assert report["usable_rows"]["SSS"]["train"] == 8 and report["dropped"] == []
    assert coverage.findings(report) == [(f"SSS left out of train: 8 usable rows of {labelled} labelled, "
                                          "fewer than split.min_rows_per_segment=60")]
    Labels.validate(out)


def test_a_ticker_with_no_rows_in_a_segment_is_no_finding_and_one_with_none_left_is_dropped():
    bars = pl.concat([random_bars({"LLL": 600}), random_bars({"OLD": 200}, seed=2)])  # OLD ends inside train
    labels, _ = assign_segments(make_labels(bars, 1), 0.6, 0.2, 10)
    out, report = coverage.enforce(labels, _usable(labels), 60)
    assert report["left_out"] == [] and report["tickers"]["train"] == ["LLL", "OLD"]
    assert report["usable_rows"]["OLD"] == {"train": 199, "val": 0, "test": 0}
    old = pl.col("ticker") == "OLD"
    fiftieth_last = labels.filter(old & pl.col("label").is_not_null())["date"].sort()[-50]
    out, report = coverage.enforce(labels, _usable(labels, old & (pl.col("date") < fiftieth_last)), 60)
    assert report["dropped"] == ["OLD"] and [r["ticker"] for r in report["left_out"]] == ["OLD"]
    assert coverage.findings(report)[-1] == "OLD dropped: it has no segment left"
    assert set(out.filter(old)["segment"]) == {coverage.SHORT}


def test_when_no_ticker_is_long_enough_one_line_says_what_is_short_and_what_to_change():
    labels, _ = assign_segments(make_labels(random_bars({"LLL": 600, "SSS": 600}), 1), 0.6, 0.2, 10)
    with pytest.raises(StockcastError, match=r"^split: no ticker has split.min_rows_per_segment=200 usable rows "
                                             r"\(labelled, every feature finite\) in val; the most is \w+ with \d+ of "
                                             r"\d+ labelled rows usable; add history, lower split.min_rows_per_segment"):
        coverage.enforce(labels, _usable(labels), 200)
    nan_in_test = pl.col("segment") == "test"  # e.g. an infinite price made every later feature NaN
    with pytest.raises(StockcastError, match=r"in test; the most is \w+ with 0 of \d+ labelled rows usable"):
        coverage.enforce(labels, _usable(labels, nan_in_test), 60)


def _hand_segments() -> pl.DataFrame:
    """AAA: 3 labelled rows in train, val and test, plus an embargo row and an unlabelled last row;
    BBB: 2 train, 3 val, 3 test rows; CCC: one embargo row only. One date per row, in order."""
    plan = [("AAA", "train", 3), ("AAA", "embargo", 1), ("AAA", "val", 3), ("AAA", "test", 4),
            ("BBB", "train", 2), ("BBB", "val", 3), ("BBB", "test", 3), ("CCC", "embargo", 1)]
    rows = [(t, seg, date(2021, 1, 1 + sum(k for u, _, k in plan[:i] if u == t) + j), None if seg == "test" and j == 3
             else 1) for i, (t, seg, k) in enumerate(plan) for j in range(k)]
    return pl.DataFrame(rows, schema=["ticker", "segment", "date", "label"], orient="row",
                        schema_overrides={"label": pl.Int8}).select("ticker", "date", "label", "segment")


def test_coverage_counts_labelled_usable_rows_and_keeps_a_ticker_with_exactly_min_rows():
    """Rule: per ticker and train/val/test segment, count labelled rows whose features are all
    finite (a row missing from the features table is not usable; unlabelled and embargo rows do not
    count); exactly min_rows is enough, fewer moves the pair to "short"; a ticker with no segment
    left is dropped."""
    labels = _hand_segments()
    bbb_val_first = pl.int_range(pl.len()) == 13  # BBB's first val row has no features row at all
    usable = labels.filter(~bbb_val_first).select("ticker", "date", usable=pl.lit(True))
    out, report = coverage.enforce(labels, usable, 3)
    assert report["usable_rows"] == {"AAA": {"train": 3, "val": 3, "test": 3}, "BBB": {"train": 2, "val": 2, "test": 3},
                                     "CCC": {"train": 0, "val": 0, "test": 0}}
    assert list(report["usable_rows"]) == ["AAA", "BBB", "CCC"]
    assert report["left_out"] == [{"ticker": "BBB", "segment": "train", "usable": 2, "labelled": 2},
                                  {"ticker": "BBB", "segment": "val", "usable": 2, "labelled": 3}]
    assert report["tickers"] == {"train": ["AAA"], "val": ["AAA"], "test": ["AAA", "BBB"]}
    assert report["dropped"] == ["CCC"] and report["min_rows_per_segment"] == 3
    expected = labels["segment"].to_list()
    expected[11:16] = ["short"] * 5  # BBB's train and val rows
    assert out["segment"].to_list() == expected and out.drop("segment").equals(labels.drop("segment"))
    assert coverage.findings(report) == [
        "BBB left out of train: 2 usable rows of 2 labelled, fewer than split.min_rows_per_segment=3",
        "BBB left out of val: 2 usable rows of 3 labelled, fewer than split.min_rows_per_segment=3",
        "CCC dropped: it has no segment left"]


def test_left_out_pairs_are_listed_by_ticker_then_segment_name():
    """Rule: the report lists left-out (ticker, segment) pairs sorted by ticker, then segment name, so
    coverage.json and the findings do not change order from run to run."""
    labels = _hand_segments()
    usable = labels.with_columns(usable=~pl.int_range(pl.len()).is_in([13, 16]))  # one BBB val and test row unusable
    _, report = coverage.enforce(labels, usable, 3)
    assert [(r["ticker"], r["segment"]) for r in report["left_out"]] == [("BBB", "test"), ("BBB", "train"), ("BBB", "val")]


def test_left_out_pairs_keep_segment_name_order_for_many_tickers_and_any_row_order():
    """Rule: as above, with 20 tickers each short in train, val and test, fed in reverse row order: the
    segment-name order must come from the sort, not from the order group_by happens to emit (one ticker
    can pass by chance, twenty cannot)."""
    plan = [("AAA", 3)] + [(f"T{i:02d}", 2) for i in range(20)]
    rows = [(ticker, date(2021, 1, 1 + 3 * k + j), 1, segment) for ticker, n in plan
            for k, segment in enumerate(["train", "val", "test"]) for j in range(n)]
    labels = pl.DataFrame(rows, schema=["ticker", "date", "label", "segment"], orient="row",
                          schema_overrides={"label": pl.Int8})
    usable = labels.select("ticker", "date", usable=pl.lit(True))
    _, report = coverage.enforce(labels.reverse(), usable, 3)
    assert [(r["ticker"], r["segment"]) for r in report["left_out"]] == [
        (f"T{i:02d}", segment) for i in range(20) for segment in ["test", "train", "val"]]
    assert report["tickers"] == {"train": ["AAA"], "val": ["AAA"], "test": ["AAA"]}


def test_the_nothing_left_error_names_the_ticker_with_the_most_usable_rows_or_says_none_is_labelled():
    """Rule: when no ticker reaches min_rows in a segment, the error names the ticker with the most
    usable rows there (not the fewest), and says so when the segment has no labelled row at all."""
    labels = _hand_segments()
    usable = labels.select("ticker", "date", usable=pl.lit(True))
    with pytest.raises(StockcastError, match=r"^split: no ticker has split.min_rows_per_segment=4 usable rows \(labelled, "
                                             r"every feature finite\) in train; the most is AAA with 3 of 3 labelled rows "
                                             r"usable; add history, lower split.min_rows_per_segment, or move the split "
                                             r"\(split.train_fraction, split.val_fraction, split.embargo_days\)$"):
        coverage.enforce(labels, usable, 4)
    unlabelled = labels.with_columns(label=pl.when(pl.col("segment") == "test").then(None).otherwise(pl.col("label")))
    with pytest.raises(StockcastError, match=r"in test; no ticker has a labelled row there; add history"):
        coverage.enforce(unlabelled, usable, 1)


def test_a_table_without_feature_columns_has_every_row_usable():
    """Rule: with no feature to be non-finite, every row is usable."""
    features = pl.LazyFrame({"ticker": ["A", "A"], "date": [date(2020, 1, 1), date(2020, 1, 2)]})
    assert coverage.usable_rows(features).equals(features.collect().with_columns(usable=pl.lit(True)))


def test_the_key_columns_are_not_features():
    """Rule: only feature columns decide usability: ticker and date are keys, kept as they are (a
    null date does not make the row unusable) and returned beside `usable`."""
    features = pl.LazyFrame({"ticker": ["A", "A"], "date": [date(2020, 1, 1), None], "f": [1.0, 2.0]})
    got = coverage.usable_rows(features)
    assert got.columns == ["ticker", "date", "usable"] and got["usable"].to_list() == [True, True]
    assert got.select("ticker", "date").equals(features.select("ticker", "date").collect())


def test_a_row_is_usable_only_when_every_feature_is_finite():
    features = pl.LazyFrame({"ticker": ["A"] * 5, "date": [date(2020, 1, d) for d in range(1, 6)],
                             "f": [1.0, float("inf"), float("nan"), None, 2.0], "g": [1, 2, 3, 4, None]})
    assert coverage.usable_rows(features)["usable"].to_list() == [True, False, False, False, False]
