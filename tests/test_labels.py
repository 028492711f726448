"""Labels: the direction of the h-session return, the dead zone and its modes, the excess label against the
same date's median, and the documented rule for a zero return (down). The labels_split mutation shard runs these.
"""

from datetime import date

import polars as pl
import pytest

from stockcast.labels import FLAT, make_labels, n_classes



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
