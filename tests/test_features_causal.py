"""Features at (ticker, t) depend on that ticker's rows up to t only, and are never inf."""

import warnings
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockcast.features import compute
from stockcast.features.registry import Feature, all_features
from stockcast.schemas import features_schema, validate

from .conftest import random_bars

FEATURES = all_features()


@settings(max_examples=20, deadline=None)
@given(n=st.integers(70, 140), seed=st.integers(0, 10_000), cut_share=st.floats(0, 1),
       change=st.sampled_from(["drop", "perturb"]))
def test_features_ignore_the_future(n: int, seed: int, cut_share: float, change: str):
    """Dropping or changing every row after t leaves all features up to t identical, bit for bit."""
    bars = random_bars({"AAA": n, "BBB": n // 2 + 10}, seed=seed)
    cut = bars["date"].sort()[int(cut_share * (bars.height - 1))]
    later = pl.col("date") > cut
    if change == "drop":
        other = bars.filter(~later)
    else:
        rng = np.random.default_rng(seed + 1)
        factor = pl.Series(np.exp(rng.normal(0, 0.1, bars.height)))
        other = bars.with_columns(
            *(pl.when(later).then(pl.col(c) * factor).otherwise(pl.col(c)).alias(c)
              for c in ("open", "high", "low", "close")),
            pl.when(later).then(pl.col("volume") * 3 + 7).otherwise(pl.col("volume")).alias("volume"))
    before = compute(bars, FEATURES).filter(pl.col("date") <= cut)
    assert_frame_equal(compute(other, FEATURES).filter(pl.col("date") <= cut), before, check_exact=True)


def test_tickers_never_mix():
    """Two tickers whose histories interleave give each the features it has alone."""
    aaa = random_bars({"AAA": 150}, seed=1)
    bbb = random_bars({"BBB": 120}, seed=2, start=date(2000, 3, 1))  # overlaps AAA's dates
    both = pl.concat([aaa, bbb]).sort("date")  # rows alternate between the tickers
    together = compute(both, FEATURES)
    for alone in (aaa, bbb):
        ticker = alone["ticker"][0]
        assert_frame_equal(together.filter(pl.col("ticker") == ticker), compute(alone, FEATURES), check_exact=True)


def test_warm_up_rows_are_null_never_filled():
    table = compute(random_bars({"AAA": 100, "BBB": 40}, seed=4), FEATURES)
    for ticker, rows in table.partition_by("ticker", as_dict=True).items():
        for f in FEATURES:
            head = rows[f.name].head(f.lookback)
            assert head.null_count() == head.len(), (ticker, f.name)


def test_no_inf_anywhere():
    """Flat prices, zero ranges, one-share volumes and wild jumps: every value is finite or null."""
    n = 90
    rng = np.random.default_rng(7)
    flat = np.full(n, 10.0)
    wild = 10.0 * np.exp(np.cumsum(rng.choice([-3.0, 0.0, 3.0], n)))
    frames = [
        _bars("FLAT", flat, flat, flat, flat, np.ones(n, dtype=np.int64)),
        _bars("WILD", wild, wild * 1.5, wild / 1.5, wild, rng.choice([1, 10**12], n)),
        _bars("TINY", flat, flat * (1 + 1e-12), flat, flat, np.full(n, 5, dtype=np.int64)),
        _bars("ONE", flat[:1], flat[:1], flat[:1], flat[:1], np.ones(1, dtype=np.int64)),
    ]
    table = compute(pl.concat(frames), FEATURES)
    validate(table, features_schema([f.name for f in FEATURES]), "features")
    bad = table.select((pl.exclude("ticker", "date").is_nan() | pl.exclude("ticker", "date").is_infinite()).any())
    assert not any(bad.row(0)), [name for name, hit in zip(bad.columns, bad.row(0), strict=True) if hit]


def _bars(ticker: str, open_, high, low, close, volume) -> pl.DataFrame:
    n = len(close)
    return pl.DataFrame({
        "ticker": [ticker] * n,
        "date": pl.date_range(date(2001, 1, 1), date(2001, 1, 1) + timedelta(days=n - 1), eager=True),
        "open": open_, "high": high, "low": low, "close": close,
        "volume": pl.Series(volume, dtype=pl.Int64), "adj_close": pl.Series([None] * n, dtype=pl.Float64),
    })


def _market(days: dict[str, list[date]]) -> pl.DataFrame:
    """Random bars on the given dates of each ticker, in the order given."""
    return pl.concat(random_bars({ticker: len(d)}, seed=i).with_columns(date=pl.Series(d, dtype=pl.Date))
                     for i, (ticker, d) in enumerate(days.items()))


def _days(first: date, n: int, step: int = 1) -> list[date]:
    return [first + timedelta(days=step * i) for i in range(n)]



JAN, MAR = date(2001, 1, 1), date(2001, 3, 1)


def _unsorted(order: str) -> pl.DataFrame:
    """Rows sorted by (ticker, date) but for one place, of the kinds an order check can miss."""
    rows = _market({"AAA": _days(JAN, 12), "BBB": _days(JAN, 12)})
    return {
        "first_two_rows_swapped": lambda: pl.concat([rows[1], rows[0], rows[2:]]),
        "two_rows_swapped_inside_a_ticker": lambda: pl.concat([rows[:2], rows[3], rows[2], rows[4:]]),
        "two_rows_swapped_in_a_lone_ticker": lambda: pl.concat([rows[:2], rows[3], rows[2], rows[4:12]]),
        "tickers_descending_dates_rising": lambda: _market({"BBB": _days(JAN, 12), "AAA": _days(MAR, 12)}),
        "a_one_row_ticker_out_of_place": lambda: _market({"AAA": _days(JAN, 12), "CCC": [MAR],
                                                          "BBB": _days(JAN, 12)}),
        "tickers_alternating_by_date": lambda: _market({"AAA": _days(JAN, 12, 2),
                                                        "BBB": _days(JAN + timedelta(1), 12, 2)}).sort("date"),
    }[order]()


@pytest.mark.parametrize("order", ["first_two_rows_swapped", "two_rows_swapped_inside_a_ticker",
                                   "two_rows_swapped_in_a_lone_ticker",
                                   "tickers_descending_dates_rising", "a_one_row_ticker_out_of_place",
                                   "tickers_alternating_by_date"])
def test_rows_in_any_order_give_the_table_of_the_sorted_rows(order: str):
    """compute sorts the rows by (ticker, date) unless they already are: a window over rows out of
    order would read a later session as an earlier one, and the table would come back unsorted."""
    bars = _unsorted(order)
    assert not bars.equals(bars.sort("ticker", "date"))
    assert_frame_equal(compute(bars, FEATURES), compute(bars.sort("ticker", "date"), FEATURES), check_exact=True)


def test_non_finite_values_become_null_silently_and_the_warm_up_is_null():
    """A planted feature with lookback 3 that divides by zero: its inf and -inf rows and its first 3 rows are
    null in the table, and computing it raises no floating-point warning."""
    def planted(b):
        return np.array([1.0, 1.0, -1.0, 1.0, 1.0, 2.0, -1.0, 3.0]) / np.array([0, 1, 0, 1, 0, 1, 0, 1])

    feature = Feature("planted", "price", 3, "1/0, 1, -1/0, 1, 1/0, 2, -1/0, 3", True, ("basic",), planted)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        table = compute(random_bars({"AAA": 8}, seed=9), [feature])
    assert table["planted"].to_list() == [None, None, None, 1.0, None, 2.0, None, 3.0]
