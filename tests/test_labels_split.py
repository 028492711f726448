import polars as pl
import pytest

from stockcast.errors import StockcastError
from stockcast.labels import direction_labels
from stockcast.split import assign_segments


def test_last_h_rows_of_each_ticker_have_no_label(bars):
    labels = direction_labels(bars, horizon=3)
    tails = labels.group_by("ticker").tail(3)
    assert tails["label"].null_count() == tails.height == 6
    assert labels["label"].null_count() == 6


def test_label_is_direction_of_the_h_session_return(bars):
    labels = direction_labels(bars, horizon=2).filter(pl.col("ticker") == "AAA")
    close = bars.filter(pl.col("ticker") == "AAA")["close"].to_numpy()
    assert labels["fwd_return"][10] == pytest.approx(close[12] / close[10] - 1)
    assert labels["label"][10] == int(close[12] > close[10])
    assert labels["next_return"][10] == pytest.approx(close[11] / close[10] - 1)


def test_segments_are_chronological_for_the_whole_universe(bars):
    labels, bounds = assign_segments(direction_labels(bars, 1), 0.6, 0.2, embargo_days=5)
    per_date = labels.group_by("date").agg(pl.col("segment").n_unique())
    assert per_date["segment"].max() == 1, "a date must belong to one segment for every ticker"
    last = {s: labels.filter(pl.col("segment") == s)["date"].max() for s in ("train", "val")}
    first = {s: labels.filter(pl.col("segment") == s)["date"].min() for s in ("val", "test")}
    assert last["train"] < first["val"] and last["val"] < first["test"]
    assert str(first["val"]) == bounds.val_start and str(first["test"]) == bounds.test_start


def test_embargo_drops_that_many_dates_before_val_and_test(bars):
    labels, _ = assign_segments(direction_labels(bars, 1), 0.6, 0.2, embargo_days=7)
    embargo_dates = labels.filter(pl.col("segment") == "embargo")["date"].n_unique()
    assert embargo_dates == 14


def test_fractions_are_shares_of_rows(bars):
    labels, _ = assign_segments(direction_labels(bars, 1), 0.6, 0.2, embargo_days=0)
    share = labels.group_by("segment").len().with_columns(pl.col("len") / labels.height)
    share = dict(share.iter_rows())
    assert share["train"] == pytest.approx(0.6, abs=0.01)
    assert share["val"] == pytest.approx(0.2, abs=0.01)


def test_too_long_an_embargo_is_a_clear_error(bars):
    with pytest.raises(StockcastError, match="embargo_days=500"):
        assign_segments(direction_labels(bars, 1), 0.6, 0.2, embargo_days=500)
