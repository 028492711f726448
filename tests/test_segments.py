"""The chronological split: segments by shares of rows or dates or by start dates, cut exact to the date,
embargoes, walk-forward folds, and the stages on too short a history. The labels_split mutation shard runs these.
"""

import itertools
import subprocess
import sys
from datetime import date

import polars as pl
import pytest
import yaml

from stockcast.errors import StockcastError
from stockcast.labels import make_labels
from stockcast.segments import Fold, assign_segments, check_embargo, fold_segments, folds_to_dict, walk_forward_folds

from .conftest import ROOT, random_bars


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
