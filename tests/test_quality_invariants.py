"""Property tests: whatever the corruption, no row is lost and no clean row breaks a rule."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from functools import cache

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockcast.data.calendar import sessions
from stockcast.data.quality import check
from stockcast.data.synthetic import generate
from stockcast.params import parse_section
from stockcast.schemas import OHLCV, Quarantine

from .conftest import warm_calendars

warm_calendars()  # XNYS, the calendar these tests build: once, at import

ROWS = 3 * 260  # the base market: 3 tickers x 260 sessions, one row each


@cache
def base() -> pl.DataFrame:
    """Built on first use, not at import: polars' thread pool started while the tests are imported
    deadlocks the processes a mutation run forks from that import (benchmarks/mutation.py)."""
    bars = generate("null", 3, 260, seed=0)[0]
    assert bars.height == ROWS
    return bars

PRICES = ["open", "high", "low", "close"]
KINDS = ["nan", "null_volume", "negative", "zero_volume", "high_below_low", "duplicate", "weekend", "stale",
         "spike", "drop", "split", "shift_date"]

corruption = st.tuples(st.sampled_from(KINDS), st.integers(0, ROWS - 1), st.integers(2, 9))
row_or_ticker = st.fixed_dictionaries({"action": st.sampled_from(["quarantine_row", "quarantine_ticker"])})
warn_or_ticker = st.fixed_dictionaries({"action": st.sampled_from(["warn", "quarantine_ticker"])})
quality_params = st.fixed_dictionaries({
    "stale_run": st.integers(2, 6),
    "min_history_days": st.integers(1, 300),
    "extreme_move": st.sampled_from([0.2, 0.4, 0.9]),
    "splits": st.sampled_from(["adjust", "quarantine"]),
    "rules": st.fixed_dictionaries({"zero_volume": st.fixed_dictionaries({"action": st.sampled_from(
                                        ["quarantine_row", "quarantine_ticker", "warn"])}), "non_session": row_or_ticker,
                                    "stale_price": row_or_ticker, "extreme_move": warn_or_ticker,
                                    "missing_session": warn_or_ticker}),
})


def corrupt(bars: pl.DataFrame, changes: list[tuple[str, int, int]], seed: int) -> pl.DataFrame:
    """Apply each (kind, row, size) corruption in turn, then shuffle the rows."""
    frame = bars.with_row_index("i")
    for kind, row, size in changes:
        at = pl.col("i") == row
        if kind == "nan":
            frame = frame.with_columns(pl.when(at).then(float("nan")).otherwise(pl.col(PRICES[size % 4])).alias(
                PRICES[size % 4]))
        elif kind == "null_volume":
            frame = frame.with_columns(volume=pl.when(at).then(None).otherwise(pl.col("volume")))
        elif kind == "negative":
            frame = frame.with_columns(low=pl.when(at).then(-pl.col("low")).otherwise(pl.col("low")))
        elif kind == "zero_volume":
            frame = frame.with_columns(volume=pl.when(at).then(1 - size % 2).otherwise(pl.col("volume")))
        elif kind == "high_below_low":
            frame = frame.with_columns(high=pl.when(at).then(pl.col("low") * 0.9).otherwise(pl.col("high")))
        elif kind == "duplicate":
            frame = pl.concat([frame, frame.filter(at).with_columns(close=pl.col("close") * (1 + size / 100))])
        elif kind == "weekend":
            frame = frame.with_columns(date=pl.when(at).then(date(2000, 1, 8)).otherwise(pl.col("date")))
        elif kind == "shift_date":
            frame = frame.with_columns(date=pl.when(at).then(pl.col("date") + timedelta(days=size))
                                       .otherwise(pl.col("date")))
        elif kind == "stale":
            run = pl.col("i").is_between(row, row + size)
            frame = frame.with_columns(*(pl.when(run).then(pl.lit(42.0)).otherwise(pl.col(c)).alias(c)
                                         for c in PRICES))
        elif kind == "spike":
            frame = frame.with_columns(*(pl.when(at).then(pl.col(c) * size).otherwise(pl.col(c)).alias(c)
                                         for c in PRICES))
        elif kind == "drop":
            frame = frame.filter(~at)
        elif kind == "split" and not frame.filter(at).is_empty():  # an unadjusted 2:1 split from this row on
            after = (pl.col("i") >= row) & (pl.col("ticker") == frame.filter(at)["ticker"].first())
            frame = frame.with_columns(*(pl.when(after).then(pl.col(c) / 2).otherwise(pl.col(c)).alias(c)
                                         for c in PRICES),
                                       volume=pl.when(after).then(pl.col("volume") * 2).otherwise(pl.col("volume")))
    return frame.drop("i").sample(fraction=1.0, shuffle=True, seed=seed)


def _keys(frame: pl.DataFrame) -> Counter:
    return Counter(frame.select("ticker", "date").iter_rows())


def _assert_no_rule_broken(clean: pl.DataFrame, params) -> None:
    """The rules, restated independently of the library, hold on every clean row."""
    OHLCV.validate(clean)  # no null/NaN, positive prices and volume, consistent OHLC, unique (ticker, date)
    if clean.is_empty():
        return
    every = set(sessions("XNYS", clean["date"].min(), clean["date"].max()).astype(object))
    assert set(clean["date"].to_list()) <= every
    by = clean.with_columns(prev=pl.col("close").shift(1).over("ticker"),
                            run=pl.col("close").rle_id().over("ticker"))
    longest = by.group_by("ticker", "run").len()["len"].max()
    assert longest < params.stale_run
    assert by.group_by("ticker").len()["len"].min() >= params.min_history_days
    if params.rules.extreme_move.action == "quarantine_ticker":
        move = by.select(((pl.col("close") / pl.col("prev") - 1).abs()).max()).item() or 0
        gap = by.select(((pl.col("open") / pl.col("prev") - 1).abs()).max()).item() or 0
        assert max(move, gap) < params.extreme_move


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(corruption, max_size=12), raw_params=quality_params, seed=st.integers(0, 1000))
def test_rows_are_never_lost(changes, raw_params, seed):
    params = parse_section("quality", raw_params)
    bars = corrupt(base(), changes, seed)
    result = check(bars, params)
    report = result.report
    assert report["rows_in"] == bars.height == report["rows_clean"] + report["rows_quarantined"]
    assert report["rows_clean"] == result.clean.height and report["rows_quarantined"] == result.quarantine.height
    assert sum(report["by_rule"].values()) == report["rows_quarantined"]
    assert _keys(result.clean) + _keys(result.quarantine) == _keys(bars)  # every row is in exactly one table
    Quarantine.validate(result.quarantine)
    assert result.quarantine["detail"].str.len_chars().min() or result.quarantine.is_empty()
    _assert_no_rule_broken(result.clean, params)
    _assert_every_broken_rule_is_named(result)


def _assert_every_broken_rule_is_named(result) -> None:
    """A row rule's broken count is the quarantined rows listing it plus the clean rows it warned about: at
    least the rows listing it, at most those plus every warning (a warned row that a later rule quarantines
    is listed and warned both), exactly the listed rows when the rule warned of none; a row that a
    row-level rule decided lists that rule."""
    report, quarantine = result.report, result.quarantine
    listed = Counter(rule for rules in quarantine["broken"].to_list() for rule in rules)
    for rule, rows in report["broken_by_rule"].items():
        if rule not in ("missing_session", "short_history", "unadjusted_split"):
            warned = report["warnings"][rule]
            assert listed[rule] <= rows <= listed[rule] + warned and rows >= warned, rule
            assert warned or rows == listed[rule], rule
    own = quarantine.filter(~pl.col("detail").str.starts_with("ticker quarantined"))
    assert all(rule in broken for rule, broken in own.select("rule", "broken").iter_rows())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(corruption, max_size=12), raw_params=quality_params, seed=st.integers(0, 1000))
def test_the_clean_table_passes_quality_again_untouched(changes, raw_params, seed):
    """Checking clean data again quarantines nothing and changes nothing: rules and adjustments are settled.

    Missing sessions only warn on the second pass: the first pass's quarantined rows leave gaps by design.
    """
    raw_params["rules"]["missing_session"] = {"action": "warn"}
    params = parse_section("quality", raw_params)
    first = check(corrupt(base(), changes, seed), params)
    second = check(first.clean, params)
    assert second.report["rows_quarantined"] == 0
    assert np.allclose(second.clean.select(PRICES).to_numpy(), first.clean.select(PRICES).to_numpy(), rtol=1e-12)
    assert second.clean["volume"].equals(first.clean["volume"])
