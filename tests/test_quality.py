"""The quality stage on the sample and as a whole: the sample's known defects are found and no row is lost,
the report and headline, findings' order, empty input and bad params. Rules at their boundaries:
tests/test_quality_rules.py; splits and adjustments: tests/test_quality_splits.py.
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl
import pytest

from stockcast.data.adjust import PRICES
from stockcast.data.quality import RULES, check, headline
from stockcast.errors import StockcastError
from stockcast.params import QualityParams, parse_section
from stockcast.schemas import OHLCV, Findings, Quarantine

from .conftest import SAMPLE
from .quality_bars import NOW, found_rows, null_bars, quality_params, quarantined_rows, returns_of, rule_actions


@pytest.fixture
def sample_result():
    """The sample checked afresh for each test (1 s): mutmut credits a module fixture's work to the first test
    that asks for it, so the checks of every later test would never run against a mutant of what it covers."""
    return check(pl.read_parquet(SAMPLE), QualityParams())


def test_sample_known_defects_are_found(sample_result):
    r = sample_result
    assert quarantined_rows(r, "zero_volume") == {
        ("MSFT", date(2010, 4, 26)), ("^IXIC", date(2015, 5, 12)), ("^IXIC", date(2018, 1, 9))}
    assert found_rows(r, "missing_session") == {("MSFT", date(1998, 10, 29)), ("MSFT", date(1999, 11, 16))}
    assert r.report["missing_sessions"]["by_ticker"] == {"MSFT": 2}
    assert r.report["tickers_dropped"] == ["FB"] and r.report["dropped_by_rule"] == {"FB": "short_history"}
    assert r.report["by_rule"]["stale_price"] > 0 and set(r.quarantine.filter(
        pl.col("rule") == "stale_price")["ticker"]) == {"MSFT"}          # the 1986-1990 flat bars
    assert r.report["by_rule"]["non_session"] == r.report["by_rule"]["duplicate"] == 0  # as the README says


def test_rows_are_never_lost_on_the_sample(sample_result):
    r = sample_result
    assert r.report["rows_in"] == 39_329 == r.clean.height + r.quarantine.height
    assert r.report["rows_quarantined"] == sum(r.report["by_rule"].values()) == r.quarantine.height
    OHLCV.validate(r.clean)
    Quarantine.validate(r.quarantine)
    Findings.validate(r.findings)


def test_quarantine_keeps_the_original_row(sample_result):
    row = sample_result.quarantine.filter((pl.col("ticker") == "MSFT") & (pl.col("date") == date(2010, 4, 26)))
    original = pl.read_parquet(SAMPLE).filter((pl.col("ticker") == "MSFT") & (pl.col("date") == date(2010, 4, 26)))
    assert row.drop("rule", "broken", "detail").equals(original) and row["detail"][0] == "volume=0"
    assert row["broken"].to_list() == [["zero_volume"]]


def test_aapl_splits_do_not_survive_as_crashes(sample_result):
    aapl = returns_of(sample_result.clean, "AAPL")
    on = dict(aapl.select("date", "ret").iter_rows())
    assert on[date(2000, 6, 21)] > -0.15 and on[date(2005, 2, 28)] > -0.15
    assert on[date(2000, 9, 29)] == pytest.approx(-0.5187, abs=1e-3)   # the real crash stays
    assert aapl.filter(pl.col("ret") < -0.4)["date"].to_list() == [date(2000, 9, 29)]


def test_real_extreme_moves_are_kept_and_reported(sample_result):
    assert found_rows(sample_result, "extreme_move") == {
        ("AAPL", date(2000, 9, 29)), ("AMZN", date(2001, 4, 9)), ("NVDA", date(2000, 3, 7))}
    assert sample_result.report["warnings"]["extreme_move"] == 3
    assert sample_result.report["by_rule"]["extreme_move"] == 0
    assert sample_result.findings.filter(pl.col("rule") == "extreme_move")["detail"].to_list() == [
        "close -51.9%, open -47.3% from the previous close 3.437748 (adjusted prices)",
        "close 33.6%, open 41.5% from the previous close 8.37 (adjusted prices)",
        "close 42.4%, open 28.2% from the previous close 0.11177 (adjusted prices)"]


def test_headline_metrics_are_the_reports_totals_on_the_sample(sample_result):
    """metrics/quality.json: counts, tickers dropped (FB), MSFT's 2 missing sessions, warnings in total (3
    extreme moves + 2 missing sessions), rows per deciding rule and per rule broken (the 3 warned extreme moves)."""
    deciding = dict.fromkeys(RULES, 0) | {"zero_volume": 3, "stale_price": 215, "short_history": 196}
    assert headline(sample_result.report) == {
        "rows_in": 39_329, "rows_clean": 38_915, "rows_quarantined": 414, "tickers_in": 9, "tickers_kept": 8,
        "ohlc_rounded": 0, "tickers_dropped": 1, "missing_sessions": 2, "splits_found": 0, "warned": 5,
        "quarantined": deciding, "broken": deciding | {"extreme_move": 3}}


def test_report_keeps_the_keys_the_report_stage_reads(sample_result):
    report = sample_result.report
    assert {"rows_in", "rows_clean", "rows_quarantined", "by_rule", "tickers_kept", "tickers_dropped",
            "coverage", "warnings", "missing_sessions", "splits"} <= set(report)
    assert set(report["by_rule"]) == set(RULES)
    assert report["coverage"] == {"tickers_20y_plus": 3, "years_per_ticker": {  # first to last clean date / 365.25
        "AAPL": 13.0, "AMZN": 23.21, "GOOG": 8.53, "IBM": 13.0, "MSFT": 31.66, "NVDA": 26.06, "^GSPC": 19.99,
        "^IXIC": 19.99}}
    json.dumps(report)  # plain JSON types only


def test_quarantine_ticker_takes_every_row_of_the_ticker():
    result = check(pl.read_parquet(SAMPLE), quality_params(**rule_actions(zero_volume="quarantine_ticker")))
    assert {"MSFT", "^IXIC"} <= set(result.report["tickers_dropped"])
    assert result.quarantine.filter(pl.col("ticker") == "^IXIC")["rule"].unique().to_list() == ["zero_volume"]
    detail = result.quarantine.filter(pl.col("ticker") == "^IXIC")["detail"][0]
    assert detail == "ticker quarantined: 2 rows break zero_volume, first 2015-05-12: volume=0"


def test_warn_keeps_the_rows_and_disabled_rules_do_nothing():
    raw = pl.read_parquet(SAMPLE)
    warned = check(raw, quality_params(**rule_actions(stale_price="warn")))
    assert warned.report["by_rule"]["stale_price"] == 0 and warned.report["warnings"]["stale_price"] > 200
    assert len(found_rows(warned, "stale_price")) == warned.report["warnings"]["stale_price"]
    off = check(raw, quality_params(rules={"stale_price": {"enabled": False}, "missing_session": {"enabled": False}}))
    assert off.report["by_rule"]["stale_price"] == 0 and off.report["warnings"]["stale_price"] == 0
    assert off.report["missing_sessions"]["total"] == 0 and not found_rows(off, "missing_session")
    assert off.report["broken_by_rule"]["stale_price"] == 0  # a rule switched off is not counted as broken either


def test_extreme_moves_can_quarantine_their_tickers():
    result = check(pl.read_parquet(SAMPLE), quality_params(**rule_actions(extreme_move="quarantine_ticker")))
    assert {t for t, rule in result.report["dropped_by_rule"].items() if rule == "extreme_move"} == {
        "AAPL", "AMZN", "NVDA"}


def test_empty_input_gives_an_empty_report():
    result = check(null_bars().clear(), QualityParams())
    assert result.report["rows_in"] == result.report["rows_clean"] == result.report["rows_quarantined"] == 0


@pytest.mark.parametrize(("change", "message"), [
    (rule_actions(duplicate="warn"), "duplicate must stay enabled"),
    ({"rules": {"ohlc_inconsistent": {"enabled": False}}}, "ohlc_inconsistent must stay enabled"),
    (rule_actions(extreme_move="quarantine_row"), "extreme_move.action: quarantine_row does not apply"),
    ({"rules": {"stale_price": {"actoin": "warn"}}},
     r"quality\.rules\.stale_price\.actoin: unknown key \(did you mean 'action'"),
    ({"rules": {"non_positive_volume": {}}}, r"quality\.rules\.non_positive_volume: unknown key"),
    (rule_actions(negative_volume="warn"), "negative_volume must stay enabled"),
    ({"split_ratios": [121]}, r"quality\.split_ratios\.0: Input should be a valid string"),
    ({"splits": "ignore"}, r"quality\.splits: .*'adjust' or 'quarantine'"),
])
def test_bad_quality_params_are_one_line_errors(change, message):
    with pytest.raises(StockcastError, match=message):
        parse_section("quality", change)


def test_findings_are_in_ticker_date_and_rule_order():
    """The findings table is sorted by ticker, date and rule whatever order the rules found them in: row rules
    (zero_volume) run before stale_price, so a date with both must still list stale_price first. (Rows 3..7
    repeat one close: the four repeats are stale.)"""
    bars = null_bars().with_columns(adj_close=pl.col("close"))
    stale = (pl.int_range(pl.len()) >= 3) & (pl.int_range(pl.len()) <= 7) & (pl.col("ticker") == "S0000")
    bars = bars.with_columns(pl.when(stale).then(bars["close"][3]).otherwise(pl.col(c)).alias(c)
                             for c in (*PRICES, "adj_close"))  # a flat bar: no extreme move into or out of it
    bars = bars.with_columns(volume=pl.when(pl.int_range(pl.len()) == 5).then(0).otherwise(pl.col("volume")))
    result = check(bars, quality_params(**rule_actions(stale_price="warn", zero_volume="warn")), now=NOW)
    found = result.findings.select("ticker", "date", "rule").rows()
    day = bars["date"]
    assert [(d, r) for _, d, r in found] == [(day[4], "stale_price"), (day[5], "stale_price"),
                                             (day[5], "zero_volume"), (day[6], "stale_price"), (day[7], "stale_price")]
    assert {t for t, _, _ in found} == {"S0000"}


def test_a_check_that_finds_nothing_still_returns_the_findings_table():
    bars = null_bars().with_columns(adj_close=pl.col("close"))
    result = check(bars, QualityParams(), now=NOW)
    assert result.findings.is_empty() and dict(result.findings.schema) == {
        "ticker": pl.String, "date": pl.Date, "rule": pl.String, "detail": pl.String}
    Findings.validate(result.findings)


def test_the_report_names_each_dropped_tickers_rule_by_most_rows_then_by_name():
    """dropped_by_rule: the rule under which most of a dropped ticker's rows were quarantined; on a tie, the
    first by name. tickers_dropped is in ticker order. S0001: 2 rows of negative_volume, then its ticker by
    zero_volume (298 rows); S0000: 150 rows of negative_volume, then 150 by zero_volume (a tie). S0000, with
    the fewer rows under its rule, comes first all the same."""
    bars = null_bars().with_columns(adj_close=pl.col("close"))
    i, ticker = pl.int_range(pl.len()).over("ticker"), pl.col("ticker")
    negative = ((ticker == "S0001") & (i < 2)) | ((ticker == "S0000") & (i < 150))
    bars = bars.with_columns(volume=pl.when(negative).then(-1).when(i == 200).then(0).otherwise(pl.col("volume")))
    result = check(bars, quality_params(**rule_actions(zero_volume="quarantine_ticker")), now=NOW)
    counts = dict(result.quarantine.group_by("ticker", "rule").len().select(
        pl.concat_str("ticker", "rule", separator=" "), "len").iter_rows())
    assert counts == {"S0001 negative_volume": 2, "S0001 zero_volume": 298, "S0000 negative_volume": 150,
                      "S0000 zero_volume": 150}
    assert result.report["tickers_dropped"] == ["S0000", "S0001"]
    assert result.report["dropped_by_rule"] == {"S0001": "zero_volume", "S0000": "negative_volume"}


def test_a_ticker_of_exactly_twenty_years_counts_as_twenty_years_plus():
    """coverage.tickers_20y_plus counts the kept tickers whose first to last clean date spans >= 20 years of
    365.25 days: 2000-01-03..2020-01-03 is 7,305 days, exactly 20; a day less is not."""
    days = {"TWENTY": [date(2000, 1, 3), date(2020, 1, 3)], "SHORT": [date(2000, 1, 4), date(2020, 1, 3)]}
    bars = pl.DataFrame([{"ticker": t, "date": d, "open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0,
                          "volume": 1000, "adj_close": 10.0} for t, ds in days.items() for d in ds])
    report = check(bars, quality_params(calendar=None, min_history_days=2), now=NOW).report
    assert report["coverage"] == {"years_per_ticker": {"SHORT": 20.0, "TWENTY": 20.0}, "tickers_20y_plus": 1}


def test_a_table_that_breaks_the_raw_contract_is_one_line_naming_where_it_came_from():
    with pytest.raises(StockcastError, match=r"^input: breaks the RawOHLCV contract: .*'date'"):
        check(pl.DataFrame({"ticker": ["A"]}), QualityParams())
    with pytest.raises(StockcastError, match=r"^data/raw/x\.csv: breaks the RawOHLCV contract"):
        check(pl.DataFrame({"ticker": ["A"]}), QualityParams(), origin="data/raw/x.csv")
