import itertools
import subprocess
import sys
from datetime import date

import polars as pl
import pytest
import yaml

from stockcast import coverage
from stockcast.errors import StockcastError
from stockcast.labels import FLAT, make_labels, n_classes
from stockcast.schemas import Labels
from stockcast.segments import (
    Fold,
    assign_segments,
    check_embargo,
    fold_segments,
    folds_to_dict,
    walk_forward_folds,
)

from .conftest import ROOT, random_bars


def test_last_h_rows_of_each_ticker_have_no_label(bars):
    labels = make_labels(bars, horizon=3)
    tails = labels.group_by("ticker").tail(3)
    assert tails["label"].null_count() == tails.height == 6
    assert labels["label"].null_count() == 6


def test_label_is_direction_of_the_h_session_return(bars):
    labels = make_labels(bars, horizon=2).filter(pl.col("ticker") == "AAA")
    close = bars.filter(pl.col("ticker") == "AAA")["close"].to_numpy()
    assert labels["fwd_return"][10] == pytest.approx(close[12] / close[10] - 1)
    assert labels["label"][10] == int(close[12] > close[10])
    assert labels["next_return"][10] == pytest.approx(close[11] / close[10] - 1)


def test_segments_are_chronological_for_the_whole_universe(bars):
    labels, bounds = assign_segments(make_labels(bars, 1), 0.6, 0.2, embargo_days=5)
    per_date = labels.group_by("date").agg(pl.col("segment").n_unique())
    assert per_date["segment"].max() == 1, "a date must belong to one segment for every ticker"
    last = {s: labels.filter(pl.col("segment") == s)["date"].max() for s in ("train", "val")}
    first = {s: labels.filter(pl.col("segment") == s)["date"].min() for s in ("val", "test")}
    assert last["train"] < first["val"] and last["val"] < first["test"]
    assert str(first["val"]) == bounds.val_start and str(first["test"]) == bounds.test_start


def test_embargo_drops_that_many_dates_before_val_and_test(bars):
    labels, _ = assign_segments(make_labels(bars, 1), 0.6, 0.2, embargo_days=7)
    embargo_dates = labels.filter(pl.col("segment") == "embargo")["date"].n_unique()
    assert embargo_dates == 14


def test_fractions_are_shares_of_rows(bars):
    labels, _ = assign_segments(make_labels(bars, 1), 0.6, 0.2, embargo_days=0)
    share = labels.group_by("segment").len().with_columns(pl.col("len") / labels.height)
    share = dict(share.iter_rows())
    assert share["train"] == pytest.approx(0.6, abs=0.01)
    assert share["val"] == pytest.approx(0.2, abs=0.01)


def test_fractions_of_dates_cut_the_calendar_whatever_the_rows_per_date(bars):
    late = bars.filter(pl.col("ticker") != "AAA").with_columns(ticker=pl.lit("LATE"))
    late = late.filter(pl.col("date") >= late["date"].sort()[late["date"].n_unique() // 2])  # lists halfway
    labels = make_labels(pl.concat([bars, late]), 1)
    by_rows, _ = assign_segments(labels, 0.6, 0.2, embargo_days=0)
    by_dates, _ = assign_segments(labels, 0.6, 0.2, embargo_days=0, fraction_of="dates")
    dates = by_dates.group_by("segment").agg(pl.col("date").n_unique()).sort("segment")
    share = dict(zip(dates["segment"], dates["date"] / labels["date"].n_unique(), strict=True))
    assert share["train"] == pytest.approx(0.6, abs=0.01) and share["val"] == pytest.approx(0.2, abs=0.01)
    assert by_rows.filter(pl.col("segment") == "test")["date"].min() \
        < by_dates.filter(pl.col("segment") == "test")["date"].min(), "the late listing pulls the row cut earlier"


def test_too_long_an_embargo_is_a_clear_error(bars):
    with pytest.raises(StockcastError, match="embargo_days=500"):
        assign_segments(make_labels(bars, 1), 0.6, 0.2, embargo_days=500)


def test_dead_zone_leaves_small_moves_unlabelled(bars):
    labels = make_labels(bars, 1, dead_zone=0.01)
    small = labels.filter(pl.col("fwd_return").abs() < 0.01)
    assert small.height > 0 and small["label"].null_count() == small.height
    big = labels.filter(pl.col("fwd_return").abs() >= 0.01)
    assert big["label"].null_count() == 0


def test_excess_label_beats_the_median_of_the_same_date(bars):
    labels = make_labels(bars, 1, kind="excess")
    both = labels.filter(pl.col("label").is_not_null())
    per_date = both.group_by("date").agg(pl.col("label").sum(), pl.len())
    assert (per_date["label"] == 1).all(), "of two tickers, exactly one beats their median"
    only_one = labels.join(labels.group_by("date").len().filter(pl.col("len") == 1), on="date", how="semi")
    assert only_one.height > 0 and only_one["label"].null_count() == only_one.height


def test_explicit_dates_start_the_segments(bars):
    labels, bounds = assign_segments(make_labels(bars, 1), 0.6, 0.2, 3, date(2000, 6, 1), date(2000, 9, 1))
    assert bounds.val_start == "2000-06-01" and bounds.test_start == "2000-09-01"
    train_last = labels.filter(pl.col("segment") == "train")["date"].max()
    assert labels.filter(pl.col("date") > train_last)["date"].unique().sort()[3] == date(2000, 6, 1)


def test_an_embargo_shorter_than_horizon_plus_lookback_is_refused():
    check_embargo(21, horizon=1, lookback=20)
    with pytest.raises(StockcastError, match="below horizon \\+ feature lookback = 5 \\+ 20 = 25"):
        check_embargo(24, horizon=5, lookback=20)


@pytest.mark.parametrize("scheme", ["expanding", "rolling"])
def test_walk_forward_folds_never_let_training_reach_the_test_period(bars, scheme):
    dates = bars["date"].unique().sort()
    folds = walk_forward_folds(dates, scheme, step_days=40, min_train_days=100, train_days=80, embargo_days=5)
    index = {str(d): i for i, d in enumerate(dates)}
    assert len(folds) >= 3
    for f in folds:
        assert index[f.train[1]] + 5 < index[f.val[0]] and index[f.val[1]] + 5 < index[f.test[0]]
    tests = [(index[f.test[0]], index[f.test[1]]) for f in folds]
    assert all(a[1] + 1 == b[0] for a, b in itertools.pairwise(tests)), "test periods are back to back"
    assert tests[-1][1] == len(dates) - 1
    starts = {index[f.train[0]] for f in folds}
    assert (starts == {0}) == (scheme == "expanding")


def _flat_then_moves(closes: dict[str, list[float]]) -> pl.DataFrame:
    """Bars with the given closes per ticker (other prices equal to the close), one date per index."""
    rows = [(t, date(2001, 1, 1 + i), c) for t, cs in closes.items() for i, c in enumerate(cs)]
    frame = pl.DataFrame(rows, schema=["ticker", "date", "close"], orient="row")
    return frame.with_columns(open=pl.col("close"), high=pl.col("close"), low=pl.col("close"),
                              volume=pl.lit(100, pl.Int64))


def test_an_unchanged_close_is_labelled_down():
    """Rule: direction label is 1 only for fwd_return > 0 strictly; an exact 0 return is down (0)."""
    labels = make_labels(_flat_then_moves({"AAA": [10.0, 10.0, 11.0, 11.0, 9.0, 9.0]}), horizon=1)
    assert labels["fwd_return"].to_list()[:5] == pytest.approx([0.0, 0.1, 0.0, -2 / 11, 0.0])
    assert labels["label"].to_list() == [0, 1, 0, 0, 0, None]


def test_the_median_ticker_of_an_odd_cross_section_is_labelled_down():
    """Rule: excess label is 1 only for a return strictly above the date's median; with an odd number
    of tickers the median ticker's margin is exactly 0 and it is labelled 0, so each date has
    (n - 1) / 2 ups, not (n + 1) / 2."""
    closes = {"AAA": [10.0, 11.0, 12.0], "BBB": [10.0, 10.5, 10.5], "CCC": [10.0, 9.0, 9.5]}
    labels = make_labels(_flat_then_moves(closes), horizon=1, kind="excess").drop_nulls("label")
    got = {(t, d.day): lab for t, d, lab in labels.select("ticker", "date", "label").iter_rows()}
    # date 1: returns AAA +10%, BBB +5% (median), CCC -10%; date 2: AAA +9.1%, BBB 0%, CCC +5.6% (median)
    assert got == {("AAA", 1): 1, ("BBB", 1): 0, ("CCC", 1): 0, ("AAA", 2): 1, ("BBB", 2): 0, ("CCC", 2): 0}


def test_equal_returns_on_a_date_are_all_labelled_down():
    """Rule: ties with the median are down, so a date where every ticker moves alike has no up."""
    closes = {"AAA": [10.0, 11.0], "BBB": [20.0, 22.0]}
    labels = make_labels(_flat_then_moves(closes), horizon=1, kind="excess").drop_nulls("label")
    assert labels["label"].to_list() == [0, 0]


def test_the_dead_zone_mode_says_how_many_classes_the_model_has():
    """Rule: "flat" makes the dead zone a third class (down, up, flat); "exclude" leaves two."""
    assert n_classes("flat") == 3 and n_classes("exclude") == 2


DEAD_ZONE_CLOSES = {"AAA": [4.0, 5.0, 5.0, 3.75, 4.0, 4.0]}  # returns +0.25, 0, -0.25, +1/15, 0, (none)


def test_a_move_of_exactly_the_dead_zone_is_labelled_and_smaller_ones_are_flat_or_excluded():
    """Rule: |fwd_return| >= dead_zone is outside the zone (up or down by its sign); smaller moves are
    unlabelled under "exclude" and labelled FLAT (2) under "flat"; the last row has no label in both."""
    bars = _flat_then_moves(DEAD_ZONE_CLOSES)
    exclude = make_labels(bars, 1, dead_zone=0.25)
    assert exclude["label"].to_list() == [1, None, 0, None, None, None]
    flat = make_labels(bars, 1, dead_zone=0.25, dead_zone_mode="flat")
    assert flat["label"].to_list() == [1, FLAT, 0, FLAT, FLAT, None] and FLAT == 2
    assert flat["label"].dtype == pl.Int8


def test_the_dead_zone_of_excess_labels_is_around_the_median_and_a_lone_ticker_is_never_flat():
    """Rule: for excess labels the dead zone applies to fwd_return - median; a date with one labelled
    ticker has no label at all, even with dead_zone_mode="flat" (it is not a flat move)."""
    bars = _flat_then_moves({"AAA": [4.0, 5.0, 5.0, 4.0], "BBB": [4.0, 4.0, 6.0]})
    # date 0: AAA +0.25, BBB 0 (margins +-0.125); date 1: AAA 0, BBB +0.5 (margins -+0.25); date 2: AAA alone
    got = lambda **kw: make_labels(bars, 1, kind="excess", dead_zone=0.2, **kw)["label"].to_list()
    assert got(dead_zone_mode="flat") == [FLAT, 0, None, None, FLAT, 1, None]
    assert got() == [None, 0, None, None, None, 1, None]


def test_labels_do_not_depend_on_the_order_of_the_bars():
    """Rule: make_labels sorts by ticker then date, so shuffled bars give the same rows in that order."""
    bars = _flat_then_moves({"AAA": [4.0, 5.0, 6.0], "BBB": [4.0, 3.0, 6.0]})
    expected = make_labels(bars, 1)
    shuffled = make_labels(bars[[5, 0, 3, 2, 4, 1]], 1)
    assert shuffled.equals(expected) and expected["label"].to_list() == [1, 1, None, 0, 1, None]


def test_labels_are_direction_by_default():
    """Rule: kind defaults to "direction" (sign of fwd_return), not the cross-sectional excess."""
    bars = _flat_then_moves({"AAA": [4.0, 5.0, 6.0], "BBB": [4.0, 6.0, 7.0]})  # both up: excess would mark AAA 0
    assert make_labels(bars, 1)["label"].to_list() == [1, 1, None, 1, 1, None]


CALENDAR = [date(2021, 3, 1 + i) for i in range(20)]  # 20 dates, one a day: index i is March i+1


def _late_listing() -> pl.DataFrame:
    """Labels of AAA on all 20 dates and BBB on the last 10: 10 dates of one row, then 10 of two (30 rows)."""
    rows = [("AAA", d) for d in CALENDAR] + [("BBB", d) for d in CALENDAR[10:]]
    return pl.DataFrame(rows, schema=["ticker", "date"], orient="row").with_columns(label=pl.lit(1, pl.Int8))


def _spans(labels: pl.DataFrame) -> dict[str, list[date]]:
    return {s: sorted(labels.filter(pl.col("segment") == s)["date"].unique()) for s in ("train", "embargo", "val", "test")}


def test_cuts_by_rows_fall_on_the_exact_date_the_share_is_reached():
    """Rule: a segment ends on the first date by which at least its share of all rows has been seen
    (the cumulative count reaching the share exactly still ends there), then `embargo_days` dates
    are dropped. 30 rows: 0.4 -> 12 rows reached on date index 10; 0.8 -> 24 rows on index 16."""
    labels, bounds = assign_segments(_late_listing(), 0.4, 0.4, embargo_days=1)
    spans = _spans(labels)
    assert spans["train"] == CALENDAR[0:11]
    assert spans["embargo"] == [CALENDAR[11], CALENDAR[17]]
    assert spans["val"] == CALENDAR[12:17] and spans["test"] == CALENDAR[18:20]
    assert (bounds.train_start, bounds.val_start, bounds.test_start, bounds.end) == (
        "2021-03-01", "2021-03-13", "2021-03-19", "2021-03-20")
    # 0.45 -> 13.5 rows, first reached on index 11 (14 rows)
    labels, _ = assign_segments(_late_listing(), 0.45, 0.35, embargo_days=0)
    assert _spans(labels)["train"] == CALENDAR[0:12] and _spans(labels)["val"] == CALENDAR[12:17]


def test_cuts_by_dates_ignore_how_many_rows_each_date_has():
    """Rule: with fraction_of="dates", 0.5/0.25 of 20 dates is 10 train dates and 5 val dates (embargo
    taken from the start of val and of test)."""
    labels, bounds = assign_segments(_late_listing(), 0.5, 0.25, embargo_days=2, fraction_of="dates")
    spans = _spans(labels)
    assert spans["train"] == CALENDAR[0:10] and spans["embargo"] == CALENDAR[10:12] + CALENDAR[15:17]
    assert spans["val"] == CALENDAR[12:15] and spans["test"] == CALENDAR[17:20]
    assert bounds.val_start == "2021-03-13" and bounds.test_start == "2021-03-18"


def test_explicit_start_dates_begin_val_and_test_on_that_date_and_embargo_before_it():
    """Rule: with val_start/test_start, val and test begin on the first date on or after each, and
    the `embargo_days` dates before each are dropped from the segment before."""
    labels, bounds = assign_segments(_late_listing(), 0.6, 0.2, 2, date(2021, 3, 13), date(2021, 3, 19))
    spans = _spans(labels)
    assert spans["train"] == CALENDAR[0:10] and spans["embargo"] == CALENDAR[10:12] + CALENDAR[16:18]
    assert spans["val"] == CALENDAR[12:16] and spans["test"] == CALENDAR[18:20]
    assert (bounds.val_start, bounds.test_start) == ("2021-03-13", "2021-03-19")
    gap = _late_listing().filter(pl.col("date") != date(2021, 3, 13))  # val_start is not a date of the data
    labels, bounds = assign_segments(gap, 0.6, 0.2, 2, date(2021, 3, 13), date(2021, 3, 19))
    assert bounds.val_start == "2021-03-14" and _spans(labels)["train"] == CALENDAR[0:10]


def test_walk_forward_folds_cut_on_exact_dates():
    """Rule: test periods of step_days dates from min_train_days + embargo on; each fold fits on what
    precedes its embargo, of which the last val_share (rounded, at least one date) after another
    embargo is val. On 20 dates, step 4, min_train 8, embargo 1, val_share 0.25, by hand:"""
    folds = walk_forward_folds(pl.Series(CALENDAR), "expanding", step_days=4, min_train_days=8, train_days=8,
                               embargo_days=1)
    d = [str(x) for x in CALENDAR]
    assert [(f.train, f.val, f.test) for f in folds] == [
        ((d[0], d[4]), (d[6], d[7]), (d[9], d[12])),
        ((d[0], d[7]), (d[9], d[11]), (d[13], d[16])),
        ((d[0], d[10]), (d[12], d[15]), (d[17], d[19]))]
    rolling = walk_forward_folds(pl.Series(CALENDAR), "rolling", step_days=4, min_train_days=8, train_days=6,
                                 embargo_days=1)
    assert [f.train[0] for f in rolling] == [d[2], d[6], d[10]]  # fit_end - train_days


def test_segments_may_be_as_short_as_one_date_but_not_empty():
    """Rule: train needs at least one date before the embargo, val and test at least one date after
    theirs; one date fewer is the one-line error, one date is enough."""
    labels, _ = assign_segments(_late_listing(), 0.5, 0.25, embargo_days=4, fraction_of="dates")
    spans = _spans(labels)
    assert spans["train"] == CALENDAR[0:10] and spans["val"] == [CALENDAR[14]] and spans["test"] == [CALENDAR[19]]
    with pytest.raises(StockcastError, match="cannot hold a train, val and test segment with embargo_days=5"):
        assign_segments(_late_listing(), 0.5, 0.25, embargo_days=5, fraction_of="dates")
    split = lambda val, test, embargo: assign_segments(_late_listing(), 0.6, 0.2, embargo,
                                                       CALENDAR[val], CALENDAR[test] if test < 20 else date(2021, 3, 21))
    assert _spans(split(3, 10, 2)[0])["train"] == [CALENDAR[0]]  # train_end = 1
    assert _spans(split(10, 13, 2)[0])["val"] == [CALENDAR[10]]  # one val date
    assert _spans(split(10, 19, 2)[0])["test"] == [CALENDAR[19]]  # one test date
    for val, test, embargo in [(2, 10, 2), (10, 12, 2), (10, 20, 2)]:  # no train, no val, no test
        with pytest.raises(StockcastError, match="cannot hold a train, val and test segment"):
            split(val, test, embargo)


def test_one_start_date_alone_is_ignored_and_the_fractions_cut():
    """Rule: explicit dates take over only when both val_start and test_start are given."""
    labels, _ = assign_segments(_late_listing(), 0.5, 0.25, 0, val_start=date(2021, 3, 3), fraction_of="dates")
    assert _spans(labels)["train"] == CALENDAR[0:10] and _spans(labels)["val"] == CALENDAR[10:15]
    labels, _ = assign_segments(_late_listing(), 0.5, 0.25, 0, test_start=date(2021, 3, 3), fraction_of="dates")
    assert _spans(labels)["test"] == CALENDAR[15:20]


def test_split_output_is_sorted_by_ticker_then_date_whatever_the_input_order():
    """Rule: assign_segments returns rows ordered by ticker, then date."""
    labels, _ = assign_segments(_late_listing(), 0.5, 0.25, 0, fraction_of="dates")
    shuffled, _ = assign_segments(_late_listing().reverse(), 0.5, 0.25, 0, fraction_of="dates")
    assert shuffled.equals(labels) and labels["ticker"].to_list() == ["AAA"] * 20 + ["BBB"] * 10
    assert labels["date"].to_list() == CALENDAR + CALENDAR[10:]


def test_a_rolling_fold_too_short_to_train_after_two_embargoes_is_refused():
    """Rule: the training dates left are train_end - fit_start (not counted from the first date of
    the data): a 2-date rolling window less one val date and one embargo date leaves none."""
    with pytest.raises(StockcastError, match="fold 0 has no training dates left after two embargoes of 1"):
        walk_forward_folds(pl.Series(CALENDAR), "rolling", step_days=4, min_train_days=8, train_days=2, embargo_days=1)


def test_walk_forward_folds_are_numbered_and_a_rolling_window_longer_than_the_past_starts_at_the_first_date():
    """Rule: folds are numbered 0, 1, ... in date order; a rolling window reaching before the data
    starts on its first date (never later)."""
    folds = walk_forward_folds(pl.Series(CALENDAR), "rolling", step_days=4, min_train_days=8, train_days=100,
                               embargo_days=1)
    assert [f.fold for f in folds] == [0, 1, 2] and {f.train[0] for f in folds} == {str(CALENDAR[0])}


def test_a_fold_may_train_on_one_date_and_one_without_any_or_without_a_test_period_is_refused():
    """Rule: after the val embargo a fold keeps at least one training date (val is at least one date
    even when val_share rounds to 0); no training date, or no date left for a test period, is the
    one-line error."""
    dates = pl.Series(CALENDAR[:10])
    (fold,) = walk_forward_folds(dates, "expanding", step_days=10, min_train_days=4, train_days=4, embargo_days=2)
    d = [str(x) for x in CALENDAR]
    assert (fold.train, fold.val, fold.test) == ((d[0], d[0]), (d[3], d[3]), (d[6], d[9]))
    (fold,) = walk_forward_folds(dates, "expanding", step_days=10, min_train_days=4, train_days=4, embargo_days=2,
                                 val_share=0.01)
    assert fold.val == (d[3], d[3])
    with pytest.raises(StockcastError, match="fold 0 has no training dates left after two embargoes of 3"):
        walk_forward_folds(dates, "expanding", step_days=10, min_train_days=4, train_days=4, embargo_days=3)
    with pytest.raises(StockcastError, match="10 dates leave no test period after min_train_days=8"):
        walk_forward_folds(dates, "expanding", step_days=10, min_train_days=8, train_days=8, embargo_days=2)
    (fold,) = walk_forward_folds(dates, "expanding", step_days=10, min_train_days=7, train_days=7, embargo_days=2)
    assert fold.test == (d[9], d[9])  # the last date alone is a test period


def test_fold_segments_mark_each_period_inclusive_and_embargo_between():
    """Rule: a date is train, val or test when it lies in that period of the fold (both ends
    included), embargo otherwise (between the periods and after the test); the series is named
    `segment`."""
    d = [str(x) for x in CALENDAR]
    fold = Fold(0, (d[0], d[4]), (d[6], d[7]), (d[9], d[12]))
    got = fold_segments(pl.Series(CALENDAR), fold)
    assert got.name == "segment"  # usable as the `segment` column as it is (Panel.with_segments renames anyway)
    assert got.to_list() == ["train"] * 5 + ["embargo"] + ["val"] * 2 + ["embargo"] + ["test"] * 4 + ["embargo"] * 7
    assert folds_to_dict([fold]) == [{"fold": 0, "train": (d[0], d[4]), "val": (d[6], d[7]), "test": (d[9], d[12])}]


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


def test_an_empty_universe_is_one_line_not_an_index_error():
    empty = make_labels(random_bars({"AAA": 30}).head(0), 1)
    with pytest.raises(StockcastError, match="split: no rows to split: the clean table is empty"):
        assign_segments(empty, 0.6, 0.2, 10)


def test_a_label_row_without_a_date_is_refused_not_counted_as_a_train_date():
    """Rule: every label row needs a date to take a segment. A null date would sort first, take a train
    date's place in the cut and make the train segment start at "None"; it is refused in one line."""
    labels = make_labels(random_bars({"AAA": 30}), 1)
    broken = labels.with_columns(date=pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise(pl.col("date")))
    with pytest.raises(StockcastError, match="split: 1 label rows have no date, so no segment"):
        assign_segments(broken, 0.6, 0.2, 1)
    _, bounds = assign_segments(labels, 0.6, 0.2, 1)
    assert bounds.train_start == str(labels["date"].min())


@pytest.mark.parametrize("rows", [0, 20])
def test_the_stages_on_a_universe_with_too_little_history_end_in_one_line(rows, tmp_path):
    """A header-only CSV or 20 rows: ingest, quality and features pass, the split says what is short."""
    bars = random_bars({"AAA": 20}).head(rows).drop("adj_close")
    bars.rename({c: c.capitalize() for c in bars.columns if c != "ticker"}).drop("ticker").write_csv(tmp_path / "AAA.csv")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"] |= {"source": "directory", "path": "AAA.csv"}
    params["universe"]["path"] = str(ROOT / params["universe"]["path"])  # quality reads it from the stage's cwd
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("ingest", "quality", "features", "split"):
        done = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=tmp_path,
                              capture_output=True, text=True, check=False)
        if stage != "split":
            assert done.returncode == 0, (stage, done.stderr)
    assert done.returncode == 2 and done.stderr.splitlines() == [(
        "error: split: data/clean/ohlcv.parquet has no rows: quality kept none (data/quarantine/report.json says "
        "why) or the source is empty; add tickers with at least quality.min_history_days sessions")]
