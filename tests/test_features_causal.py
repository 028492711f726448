"""Features at (ticker, t) depend on that ticker's rows up to t only, and are never inf."""

from datetime import date, timedelta

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from stockcast.features import compute
from stockcast.features.registry import all_features
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
