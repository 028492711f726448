"""Each quality rule at its boundary, on hand-made bars: duplicates, stale runs, short histories, extreme
moves exactly at their thresholds, non-finite and non-positive values, an open or close outside [low, high].
"""

from __future__ import annotations

import math

import polars as pl
import pytest

from stockcast.data.adjust import PRICES
from stockcast.data.quality import check
from stockcast.errors import StockcastError
from stockcast.params import QualityParams, parse_section
from stockcast.schemas import OHLCV, validate

from .quality_bars import (NOW, found_rows, null_bars, quality_params, quarantined_rows,
                           rule_actions, with_prices, zigzag)


def test_duplicates_keep_the_first_usable_row():
    bars = null_bars()
    bad_first = bars.slice(10, 1).with_columns(close=pl.lit(float("nan")))
    repeat = bars.slice(20, 1)
    result = check(pl.concat([bad_first, bars, repeat]), QualityParams())
    assert result.report["by_rule"]["non_finite_value"] == 1 and result.report["by_rule"]["duplicate"] == 1
    assert result.clean.height == bars.height  # the good copy of row 10 is kept, one copy of row 20 too


def test_stale_prices_are_runs_of_equal_closes():
    bars = null_bars().with_row_index("i")
    flat = (pl.col("i") >= 100) & (pl.col("i") < 106)      # 6 equal closes in a row
    short = (pl.col("i") >= 150) & (pl.col("i") < 154)     # 4: allowed with stale_run 5
    bars = bars.with_columns(*(pl.when(flat).then(pl.lit(10.0)).when(short).then(pl.lit(20.0)).otherwise(pl.col(c))
                               .alias(c) for c in ("open", "high", "low", "close"))).drop("i")
    result = check(bars, QualityParams())
    stale = result.quarantine.filter(pl.col("rule") == "stale_price")
    assert stale.height == 5 and stale["detail"][0].startswith("close=10.0 for 6 sessions in a row from ")


def test_short_histories_are_dropped_whole():
    result = check(null_bars(200), quality_params(min_history_days=201))
    assert result.clean.is_empty() and result.report["by_rule"]["short_history"] == 400
    assert result.report["tickers_kept"] == 0 and result.report["coverage"]["tickers_20y_plus"] == 0
    one = null_bars(200).filter(pl.col("ticker") == "S0000").head(1).with_columns(ticker=pl.lit("ONE"))
    alone = check(pl.concat([one, null_bars(200)]), quality_params(min_history_days=2))
    assert alone.report["dropped_by_rule"] == {"ONE": "short_history"}  # a single usable row is short too


@pytest.mark.parametrize(("column", "value", "rule"), [
    ("high", float("inf"), "non_finite_value"),        # passed as clean before: 11 seed95 features went NaN
    ("adj_close", float("inf"), "non_finite_value"),
    ("low", float("-inf"), "non_finite_value"),
    ("close", float("nan"), "non_finite_value"),
    ("adj_close", float("nan"), "non_finite_value"),
    ("adj_close", 0.0, "non_positive_price"),          # audit kept it, the stage then broke its own contract
    ("adj_close", -10.0, "non_positive_price"),
])
def test_non_finite_and_non_positive_values_are_quarantined_with_ticker_and_date(column, value, rule):
    bars = null_bars().with_columns(adj_close=pl.col("close"))
    at = bars.row(7, named=True)
    hostile = bars.with_row_index("i").with_columns(
        pl.when(pl.col("i") == 7).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)).drop("i")
    result = check(hostile, QualityParams(), now=NOW)
    assert quarantined_rows(result, rule) == {(at["ticker"], at["date"])}
    assert result.report["rows_quarantined"] == result.report["by_rule"][rule] == 1
    if rule == "non_finite_value":
        assert f"{column}={'NaN' if math.isnan(value) else value}" in result.quarantine["detail"][0]
    OHLCV.validate(result.clean)  # what the stage writes: no contract error once the row is out


def test_each_row_rule_quarantines_with_the_values_it_judged():
    """Rules missing_value (a null price, not only a null volume), non_finite_value, non_positive_price,
    ohlc_inconsistent (open above the high) and negative_volume: each row is quarantined under its own rule
    with a detail that shows the values (a null as "null"). With ohlc_tolerance 0, a high exactly at
    max(open, close) and a low exactly at min(open, close) are consistent: the boundary is not a break."""
    bars = null_bars().with_columns(adj_close=pl.col("close"), volume=pl.lit(1000, pl.Int64))
    planted = {  # row: (open, high, low, close, volume)
        7: (None, 11.0, 10.0, 10.5, 1000),
        8: (10.5, 11.0, -1.0, 10.5, 1000),
        9: (12.5, 11.0, 10.0, 10.5, 1000),
        10: (10.5, 11.0, 10.0, 10.5, -5),
        11: (10.5, float("inf"), 10.0, 10.5, 1000),
        12: (10.0, 11.0, 10.0, 11.0, 1000),  # high == close, low == open: on the boundary, kept
        13: (10.5, 11.0, 10.0, 10.5, 1000),  # adj_close 0 below
    }
    rows = bars.to_dicts()
    for i, (open_, high, low, close, volume) in planted.items():
        rows[i] |= {"open": open_, "high": high, "low": low, "close": close, "adj_close": close, "volume": volume}
    rows[13]["adj_close"] = 0.0
    result = check(pl.DataFrame(rows, schema=bars.schema), quality_params(ohlc_tolerance=0.0), now=NOW)
    day = bars["date"]
    assert result.quarantine.select("date", "rule", "detail").sort("date").rows() == [
        (day[7], "missing_value", "open=null high=11.0 low=10.0 close=10.5 volume=1000"),
        (day[8], "non_positive_price", "min(open, high, low, close, adj_close)=-1.0"),
        (day[9], "ohlc_inconsistent", "open=12.5 high=11.0 low=10.0 close=10.5"),
        (day[10], "negative_volume", "volume=-5"),
        (day[11], "non_finite_value", "open=10.5 high=inf low=10.0 close=10.5 adj_close=10.5"),
        (day[13], "non_positive_price", "min(open, high, low, close, adj_close)=0.0")]
    kept = result.clean.filter((pl.col("ticker") == rows[12]["ticker"]) & (pl.col("date") == day[12]))
    assert kept.select(*PRICES).rows() == [(10.0, 11.0, 10.0, 11.0)]


def test_the_clean_contract_refuses_non_finite_prices():
    bars = null_bars().with_columns(adj_close=pl.col("close"))
    for column in ("high", "adj_close"):
        with pytest.raises(StockcastError, match="finite_prices"):
            validate(bars.with_columns(pl.lit(float("inf")).alias(column)), OHLCV, "clean")


def test_non_finite_value_cannot_be_switched_off():
    with pytest.raises(StockcastError, match="non_finite_value must stay enabled"):
        parse_section("quality", {"rules": {"non_finite_value": {"enabled": False}}})


@pytest.mark.parametrize("prices", [
    {"open": 12.0, "high": 11.0, "low": 9.0, "close": 10.0},   # open above the high
    {"open": 8.0, "high": 11.0, "low": 9.0, "close": 10.0},    # open below the low
    {"open": 10.0, "high": 11.0, "low": 9.0, "close": 11.5},   # close above the high
    {"open": 10.0, "high": 11.0, "low": 9.0, "close": 8.5},    # close below the low
])
def test_an_open_or_close_outside_low_high_is_quarantined(prices):
    """Rule (ohlc_inconsistent): low <= min(open, close) and max(open, close) <= high, for the open
    as much as for the close; a row breaking it is quarantined, the rest of its ticker is kept."""
    bars = with_prices(null_bars(), 40, **prices)
    result = check(bars, QualityParams())
    ticker, day = bars.row(40, named=True)["ticker"], bars.row(40, named=True)["date"]
    assert quarantined_rows(result, "ohlc_inconsistent") == {(ticker, day)}
    assert result.clean.height == bars.height - 1


def test_an_open_or_close_on_the_high_or_low_is_consistent():
    """Rule (ohlc_inconsistent), boundary: prices equal to the high or the low are consistent."""
    bars = with_prices(null_bars(), 40, open=11.0, high=11.0, low=9.0, close=9.0)
    bars = with_prices(bars, 41, open=9.0, high=11.0, low=9.0, close=11.0)
    assert check(bars, QualityParams()).report["by_rule"]["ohlc_inconsistent"] == 0


def test_an_extreme_move_exactly_at_the_threshold_is_found():
    """Rule (extreme_move): |close / previous close - 1| >= extreme_move is a finding: a move of exactly
    the threshold counts, one just below does not (0.6 here: 1.6x and 0.4x are no split ratio)."""
    after_down = {i: 4.0 if i % 2 else 4.04 for i in range(201, 300)}
    bars = zigzag({101: 16.0, 151: 15.99, **after_down})  # rows 100, 150 and 200 close at 10.0
    result = check(bars, quality_params(extreme_move=0.6))
    days = bars["date"]
    assert found_rows(result, "extreme_move") == {("S0000", days[101]), ("S0000", days[201])}
    assert result.report["by_rule"]["extreme_move"] == 0 and result.clean.height == 300


def test_a_close_or_an_open_alone_exactly_at_the_threshold_is_an_extreme_move():
    """Rule (extreme_move): the close's move and the open's gap from the previous close are each judged on
    their own, up and down, at exactly extreme_move (0.6: 1.6x and 0.4x are no split ratio)."""
    # the close alone (rows 101 up, 151 down, 152 back up 2.5x), then the open alone (201 up, 251 down)
    bars = zigzag({101: 16.0, 151: 4.0}).with_columns(
        open=pl.when(pl.int_range(pl.len()).is_in([101, 151])).then(10.0).when(pl.int_range(pl.len()) == 201)
        .then(16.0).when(pl.int_range(pl.len()) == 251).then(4.0).otherwise(pl.col("open"))).with_columns(
        high=pl.max_horizontal("high", "open"), low=pl.min_horizontal("low", "open"))
    result = check(bars, quality_params(extreme_move=0.6, **rule_actions(extreme_move="warn")))
    days = bars["date"]
    assert found_rows(result, "extreme_move") == {("S0000", days[i]) for i in (101, 151, 152, 201, 251)}
    assert result.findings.filter(pl.col("date") == days[201])["detail"].to_list() == [
        "close 1.0%, open 60.0% from the previous close 10.0 (adjusted prices)"]


def test_a_run_of_exactly_stale_run_equal_closes_is_stale():
    """Rule (stale_price): stale_run equal closes in a row are a stale run (its repeats quarantined,
    the first print kept); one fewer is not."""
    exactly = zigzag({i: 10.05 for i in range(101, 106)})                    # 5 equal closes
    assert quarantined_rows(check(exactly, QualityParams()), "stale_price") == {
        ("S0000", d) for d in exactly["date"][102:106]}
    one_fewer = zigzag({i: 10.05 for i in range(101, 105)})                  # 4 equal closes
    assert check(one_fewer, QualityParams()).report["by_rule"]["stale_price"] == 0


def test_a_history_of_exactly_min_history_days_is_kept():
    """Rule (short_history): a ticker is dropped when it has FEWER usable rows than min_history_days."""
    bars = zigzag({})
    assert check(bars, quality_params(min_history_days=300)).report["tickers_dropped"] == []
    assert check(bars, quality_params(min_history_days=301)).report["dropped_by_rule"] == {"S0000": "short_history"}


def test_short_history_switched_off_keeps_every_ticker():
    """Rule (short_history, enabled: false): no ticker is dropped for its length, however short."""
    result = check(null_bars(200), quality_params(min_history_days=201, rules={"short_history": {"enabled": False}}))
    assert result.report["tickers_dropped"] == [] and result.clean.height == 400
    assert result.report["warnings"]["short_history"] == 0


def test_rows_taken_with_their_ticker_list_only_the_rules_they_break():
    """Rule (quarantine_ticker): a zero-volume row takes its whole ticker; that row lists zero_volume in
    `broken`, the ticker's other rows list nothing (they broke no rule), and broken_by_rule counts one row."""
    bars = with_prices(null_bars(), 40, volume=0)
    result = check(bars, quality_params(**rule_actions(zero_volume="quarantine_ticker")))
    taken = result.quarantine.filter(pl.col("ticker") == "S0000")
    assert taken.height == 300 and set(taken["rule"]) == {"zero_volume"}
    assert {tuple(b) for b in taken["broken"].to_list()} == {("zero_volume",), ()}
    assert taken.filter(pl.col("broken").list.len() > 0)["date"].to_list() == [bars["date"][40]]
    assert result.report["broken_by_rule"]["zero_volume"] == 1 and result.report["tickers_dropped"] == ["S0000"]


def test_a_duplicate_is_quarantined_with_its_reason():
    """Rule (duplicate): the second row of a (ticker, date) is quarantined, saying why."""
    bars = zigzag({})
    result = check(pl.concat([bars, bars.slice(5, 1)]), QualityParams())
    assert result.quarantine.select("ticker", "date", "rule", "detail").rows() == [
        ("S0000", bars["date"][5], "duplicate", "(ticker, date) seen before; the first usable row is kept")]


def test_a_stale_run_at_the_start_is_found_and_dated_from_its_first_print():
    """Rule (stale_price): a run of stale_run equal closes starting at the ticker's third row is stale; its
    repeats are quarantined, the detail dates the run from its first row (the real print, kept)."""
    bars = zigzag({i: 10.05 for i in range(2, 7)})                          # rows 2..6: 5 equal closes
    result = check(bars, QualityParams())
    days = bars["date"]
    assert quarantined_rows(result, "stale_price") == {("S0000", d) for d in days[3:7]}
    assert set(result.quarantine["detail"]) == {f"close=10.05 for 5 sessions in a row from {days[2]}"}
