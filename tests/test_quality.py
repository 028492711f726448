"""The quality stage: the sample's known defects are found, splits are not crashes, every rule does its job."""

from __future__ import annotations

import json
import math
import warnings
from datetime import UTC, date, datetime

import polars as pl
import pytest

from stockcast.data.adjust import PRICES
from stockcast.data.quality import RULES, check, headline
from stockcast.data.synthetic import generate
from stockcast.errors import StockcastError
from stockcast.params import QualityParams, parse_section
from stockcast.schemas import OHLCV, Findings, Quarantine, validate

from .conftest import SAMPLE, warm_calendars

# The span these tests build outside calendar.WINDOW (XNYS inside it is one build): once, at import
warm_calendars(spans=(("XNYS", 2000, 2099),))


def _params(**changes) -> QualityParams:
    return parse_section("quality", changes)


def _rules(**actions: str) -> dict:
    return {"rules": {name: {"action": action} for name, action in actions.items()}}


@pytest.fixture
def sample_result():
    """The sample checked afresh for each test (1 s): mutmut credits a module fixture's work to the first test
    that asks for it, so the checks of every later test would never run against a mutant of what it covers."""
    return check(pl.read_parquet(SAMPLE), QualityParams())


def _quarantined(result, rule: str) -> set[tuple[str, date]]:
    return set(result.quarantine.filter(pl.col("rule") == rule).select("ticker", "date").iter_rows())


def _found(result, rule: str) -> set[tuple[str, date]]:
    return set(result.findings.filter(pl.col("rule") == rule).select("ticker", "date").iter_rows())


def _returns(clean: pl.DataFrame, ticker: str) -> pl.DataFrame:
    return clean.filter(pl.col("ticker") == ticker).with_columns(ret=pl.col("close").pct_change())


def test_sample_known_defects_are_found(sample_result):
    r = sample_result
    assert _quarantined(r, "zero_volume") == {
        ("MSFT", date(2010, 4, 26)), ("^IXIC", date(2015, 5, 12)), ("^IXIC", date(2018, 1, 9))}
    assert _found(r, "missing_session") == {("MSFT", date(1998, 10, 29)), ("MSFT", date(1999, 11, 16))}
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
    aapl = _returns(sample_result.clean, "AAPL")
    on = dict(aapl.select("date", "ret").iter_rows())
    assert on[date(2000, 6, 21)] > -0.15 and on[date(2005, 2, 28)] > -0.15
    assert on[date(2000, 9, 29)] == pytest.approx(-0.5187, abs=1e-3)   # the real crash stays
    assert aapl.filter(pl.col("ret") < -0.4)["date"].to_list() == [date(2000, 9, 29)]


def test_real_extreme_moves_are_kept_and_reported(sample_result):
    assert _found(sample_result, "extreme_move") == {
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


@pytest.fixture(scope="module")
def doctored() -> pl.DataFrame:
    """The sample with AAPL's adj_close removed: its raw 2:1 splits are then visible only as jumps."""
    return pl.read_parquet(SAMPLE).with_columns(
        adj_close=pl.when(pl.col("ticker") == "AAPL").then(None).otherwise(pl.col("adj_close")))


def test_unadjusted_splits_are_detected_and_restated(doctored):
    result = check(doctored, QualityParams())
    ibm = result.clean.filter(pl.col("ticker") == "IBM")  # beside AAPL's splits, adj_close still restates IBM
    assert ibm["close"].to_list() == pytest.approx(doctored.filter(
        (pl.col("ticker") == "IBM") & pl.col("date").is_in(ibm["date"].implode()))["adj_close"].to_list())
    assert _found(result, "split_adjusted") == {("AAPL", date(2000, 6, 21)), ("AAPL", date(2005, 2, 28))}
    on = dict(_returns(result.clean, "AAPL").select("date", "ret").iter_rows())
    assert on[date(2000, 6, 21)] > -0.15 and on[date(2005, 2, 28)] > -0.15
    assert on[date(2000, 9, 29)] < -0.5  # 5% away from 2:1 at the open: a crash, not a split
    first = result.clean.filter(pl.col("ticker") == "AAPL").row(0, named=True)
    raw = doctored.filter(pl.col("ticker") == "AAPL").row(0, named=True)
    assert first["close"] == pytest.approx(raw["close"] / 4) and first["volume"] == raw["volume"] * 4
    assert result.report["splits"] == {"handling": "adjust", "found": 2, "tickers": 1}
    assert headline(result.report)["splits_found"] == 2


def test_an_adj_close_equal_to_the_close_is_restated_with_it_for_a_split():
    """A series whose adj_close merely repeats its close carries no adjustment: its splits are found in the
    prices, and the adj_close is restated with them, so the clean adj_close still equals the clean close."""
    bars = pl.read_parquet(SAMPLE).filter(pl.col("ticker") == "AAPL").with_columns(adj_close=pl.col("close"))
    result = check(bars, QualityParams())
    assert result.report["splits"]["found"] == 2
    assert result.clean["adj_close"].to_list() == pytest.approx(result.clean["close"].to_list())
    assert result.clean["close"][0] == pytest.approx(bars["close"][0] / 4)


def test_unadjusted_splits_can_quarantine_the_ticker(doctored):
    result = check(doctored, _params(splits="quarantine"))
    assert result.report["dropped_by_rule"]["AAPL"] == "unadjusted_split"
    assert result.report["by_rule"]["unadjusted_split"] == 3270 and "AAPL" not in set(result.clean["ticker"])
    jumps = result.quarantine.filter(pl.col("broken").list.contains("unadjusted_split"))
    assert jumps.select("ticker", "date").rows() == [("AAPL", date(2000, 6, 21)), ("AAPL", date(2005, 2, 28))]
    assert result.report["broken_by_rule"]["unadjusted_split"] == 2  # the jumps; the ticker's other rows break none
    assert set(result.quarantine.filter(pl.col("ticker") == "AAPL")["detail"]) == {
        "ticker quarantined: 2 unadjusted splits, first 2000-06-21: 2:1 split: open 50.5 after a close of 101.25"}


def test_synthetic_splits_are_all_found_and_nothing_else():
    bars, meta = generate("realistic", 150, 2500, seed=3)
    result = check(bars, QualityParams())
    truth = {(s["ticker"], date.fromisoformat(s["date"])) for s in meta["splits"]}
    assert len(truth) > 20 and _found(result, "split_adjusted") == truth
    assert result.report["missing_sessions"]["total"] == meta["missing_sessions"]
    worst = result.clean.with_columns(r=pl.col("close").pct_change().over("ticker"))["r"].abs().max()
    assert worst < 0.45


def test_quarantine_ticker_takes_every_row_of_the_ticker():
    result = check(pl.read_parquet(SAMPLE), _params(**_rules(zero_volume="quarantine_ticker")))
    assert {"MSFT", "^IXIC"} <= set(result.report["tickers_dropped"])
    assert result.quarantine.filter(pl.col("ticker") == "^IXIC")["rule"].unique().to_list() == ["zero_volume"]
    detail = result.quarantine.filter(pl.col("ticker") == "^IXIC")["detail"][0]
    assert detail == "ticker quarantined: 2 rows break zero_volume, first 2015-05-12: volume=0"


def test_warn_keeps_the_rows_and_disabled_rules_do_nothing():
    raw = pl.read_parquet(SAMPLE)
    warned = check(raw, _params(**_rules(stale_price="warn")))
    assert warned.report["by_rule"]["stale_price"] == 0 and warned.report["warnings"]["stale_price"] > 200
    assert len(_found(warned, "stale_price")) == warned.report["warnings"]["stale_price"]
    off = check(raw, _params(rules={"stale_price": {"enabled": False}, "missing_session": {"enabled": False}}))
    assert off.report["by_rule"]["stale_price"] == 0 and off.report["warnings"]["stale_price"] == 0
    assert off.report["missing_sessions"]["total"] == 0 and not _found(off, "missing_session")
    assert off.report["broken_by_rule"]["stale_price"] == 0  # a rule switched off is not counted as broken either


def test_extreme_moves_can_quarantine_their_tickers():
    result = check(pl.read_parquet(SAMPLE), _params(**_rules(extreme_move="quarantine_ticker")))
    assert {t for t, rule in result.report["dropped_by_rule"].items() if rule == "extreme_move"} == {
        "AAPL", "AMZN", "NVDA"}


NOW = datetime(2026, 12, 2, 1, 0, tzinfo=UTC)  # after XNYS's close of Tuesday 2026-12-01


def _bars(days: int = 300) -> pl.DataFrame:
    return generate("null", 2, days, seed=4)[0]


def test_duplicates_keep_the_first_usable_row():
    bars = _bars()
    bad_first = bars.slice(10, 1).with_columns(close=pl.lit(float("nan")))
    repeat = bars.slice(20, 1)
    result = check(pl.concat([bad_first, bars, repeat]), QualityParams())
    assert result.report["by_rule"]["non_finite_value"] == 1 and result.report["by_rule"]["duplicate"] == 1
    assert result.clean.height == bars.height  # the good copy of row 10 is kept, one copy of row 20 too


def test_stale_prices_are_runs_of_equal_closes():
    bars = _bars().with_row_index("i")
    flat = (pl.col("i") >= 100) & (pl.col("i") < 106)      # 6 equal closes in a row
    short = (pl.col("i") >= 150) & (pl.col("i") < 154)     # 4: allowed with stale_run 5
    bars = bars.with_columns(*(pl.when(flat).then(pl.lit(10.0)).when(short).then(pl.lit(20.0)).otherwise(pl.col(c))
                               .alias(c) for c in ("open", "high", "low", "close"))).drop("i")
    result = check(bars, QualityParams())
    stale = result.quarantine.filter(pl.col("rule") == "stale_price")
    assert stale.height == 5 and stale["detail"][0].startswith("close=10.0 for 6 sessions in a row from ")


def test_short_histories_are_dropped_whole():
    result = check(_bars(200), _params(min_history_days=201))
    assert result.clean.is_empty() and result.report["by_rule"]["short_history"] == 400
    assert result.report["tickers_kept"] == 0 and result.report["coverage"]["tickers_20y_plus"] == 0
    one = _bars(200).filter(pl.col("ticker") == "S0000").head(1).with_columns(ticker=pl.lit("ONE"))
    alone = check(pl.concat([one, _bars(200)]), _params(min_history_days=2))
    assert alone.report["dropped_by_rule"] == {"ONE": "short_history"}  # a single usable row is short too


def test_empty_input_gives_an_empty_report():
    result = check(_bars().clear(), QualityParams())
    assert result.report["rows_in"] == result.report["rows_clean"] == result.report["rows_quarantined"] == 0


@pytest.mark.parametrize(("change", "message"), [
    (_rules(duplicate="warn"), "duplicate must stay enabled"),
    ({"rules": {"ohlc_inconsistent": {"enabled": False}}}, "ohlc_inconsistent must stay enabled"),
    (_rules(extreme_move="quarantine_row"), "extreme_move.action: quarantine_row does not apply"),
    ({"rules": {"stale_price": {"actoin": "warn"}}},
     r"quality\.rules\.stale_price\.actoin: unknown key \(did you mean 'action'"),
    ({"rules": {"non_positive_volume": {}}}, r"quality\.rules\.non_positive_volume: unknown key"),
    (_rules(negative_volume="warn"), "negative_volume must stay enabled"),
    ({"split_ratios": [121]}, r"quality\.split_ratios\.0: Input should be a valid string"),
    ({"splits": "ignore"}, r"quality\.splits: .*'adjust' or 'quarantine'"),
])
def test_bad_quality_params_are_one_line_errors(change, message):
    with pytest.raises(StockcastError, match=message):
        parse_section("quality", change)


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
    bars = _bars().with_columns(adj_close=pl.col("close"))
    at = bars.row(7, named=True)
    hostile = bars.with_row_index("i").with_columns(
        pl.when(pl.col("i") == 7).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)).drop("i")
    result = check(hostile, QualityParams(), now=NOW)
    assert _quarantined(result, rule) == {(at["ticker"], at["date"])}
    assert result.report["rows_quarantined"] == result.report["by_rule"][rule] == 1
    if rule == "non_finite_value":
        assert f"{column}={'NaN' if math.isnan(value) else value}" in result.quarantine["detail"][0]
    OHLCV.validate(result.clean)  # what the stage writes: no contract error once the row is out


def test_each_row_rule_quarantines_with_the_values_it_judged():
    """Rules missing_value (a null price, not only a null volume), non_finite_value, non_positive_price,
    ohlc_inconsistent (open above the high) and negative_volume: each row is quarantined under its own rule
    with a detail that shows the values (a null as "null"). With ohlc_tolerance 0, a high exactly at
    max(open, close) and a low exactly at min(open, close) are consistent: the boundary is not a break."""
    bars = _bars().with_columns(adj_close=pl.col("close"), volume=pl.lit(1000, pl.Int64))
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
    result = check(pl.DataFrame(rows, schema=bars.schema), _params(ohlc_tolerance=0.0), now=NOW)
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
    bars = _bars().with_columns(adj_close=pl.col("close"))
    for column in ("high", "adj_close"):
        with pytest.raises(StockcastError, match="finite_prices"):
            validate(bars.with_columns(pl.lit(float("inf")).alias(column)), OHLCV, "clean")


def test_non_finite_value_cannot_be_switched_off():
    with pytest.raises(StockcastError, match="non_finite_value must stay enabled"):
        parse_section("quality", {"rules": {"non_finite_value": {"enabled": False}}})


@pytest.mark.parametrize(("adj_close", "high"), [(1e-300, None), (1e308, 1e308)])
def test_an_adjustment_that_overflows_is_quarantined_not_a_traceback(adj_close, high):
    """Found by tests/test_hostile_input.py: restating by adj_close/close made volume too large for int64
    (a polars traceback) or high infinite in the clean table."""
    bars = _bars().with_columns(adj_close=pl.col("close"))
    hostile = bars.with_row_index("i").with_columns(
        adj_close=pl.when(pl.col("i") == 7).then(adj_close).otherwise(pl.col("adj_close")),
        high=pl.when(pl.col("i") == 7).then(high or pl.col("high")).otherwise(pl.col("high"))).drop("i")
    result = check(hostile, QualityParams(), now=NOW)
    assert _quarantined(result, "non_finite_value") == {(bars["ticker"][7], bars["date"][7])}
    assert result.quarantine["detail"][0].startswith("restating by adj_close/close=")
    OHLCV.validate(result.clean)


def _restated(**row: float) -> tuple[pl.DataFrame, tuple[str, date]]:
    """_bars() with adj_close = close, row 7 set to `row` (any columns); returns the bars and row 7's key."""
    bars = _with_prices(_bars().with_columns(adj_close=pl.col("close")), 7, **row)
    return bars, (bars["ticker"][7], bars["date"][7])


def test_an_adjustment_that_leaves_a_zero_low_is_quarantined():
    """Rule (non_finite_value, after adjustment): a row whose low times adj_close/close is 0 (underflow) is
    quarantined; here low 1e-310 x factor 1e-18 is 0.0 while high, and volume / factor (1e18), are fine."""
    bars, key = _restated(open=1.0, high=1.0, low=1e-310, close=1.0, adj_close=1e-18, volume=1)
    result = check(bars, QualityParams(), now=NOW)
    assert _quarantined(result, "non_finite_value") == {key}
    assert result.report["rows_quarantined"] == 1
    OHLCV.validate(result.clean)


def test_an_adjusted_volume_of_9e18_or_more_is_quarantined():
    """Rule (non_finite_value, after adjustment): volume / (adj_close/close) must stay below 9e18 (int64 ends at
    9.22e18): exactly 9e18 (4.5e18 shares halved by a factor 0.5) is quarantined, 8.8e18 is kept as restated."""
    at, key = _restated(volume=4_500_000_000_000_000_000)
    at = at.with_columns(adj_close=pl.when(pl.int_range(pl.len()) == 7).then(pl.col("close") * 0.5)
                         .otherwise(pl.col("adj_close")))
    assert _quarantined(check(at, QualityParams(), now=NOW), "non_finite_value") == {key}
    below = at.with_columns(volume=pl.when(pl.int_range(pl.len()) == 7).then(4_400_000_000_000_000_000)
                            .otherwise(pl.col("volume")))
    kept = check(below, QualityParams(), now=NOW)
    assert kept.report["rows_quarantined"] == 0
    row = kept.clean.filter(pl.col("ticker") == key[0], pl.col("date") == key[1])
    assert row["volume"].item() == 8_800_000_000_000_000_000


def test_restating_hostile_values_raises_no_numpy_warning():
    """Hostile values are quarantined quietly: restating high 1e308 by a factor ~2e306 overflows inside numpy,
    which must not reach the log as a RuntimeWarning (the stage's output stays one line per problem)."""
    bars, key = _restated(high=1e308, adj_close=1e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = check(bars, QualityParams(), now=NOW)
    assert _quarantined(result, "non_finite_value") == {key}


def _with_prices(bars: pl.DataFrame, at: int, **prices: float) -> pl.DataFrame:
    """`bars` with row `at` set to the given open/high/low/close (the others unchanged)."""
    i = pl.int_range(pl.len()) == at
    return bars.with_columns(pl.when(i).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in prices.items())


@pytest.mark.parametrize("prices", [
    {"open": 12.0, "high": 11.0, "low": 9.0, "close": 10.0},   # open above the high
    {"open": 8.0, "high": 11.0, "low": 9.0, "close": 10.0},    # open below the low
    {"open": 10.0, "high": 11.0, "low": 9.0, "close": 11.5},   # close above the high
    {"open": 10.0, "high": 11.0, "low": 9.0, "close": 8.5},    # close below the low
])
def test_an_open_or_close_outside_low_high_is_quarantined(prices):
    """Rule (ohlc_inconsistent): low <= min(open, close) and max(open, close) <= high, for the open
    as much as for the close; a row breaking it is quarantined, the rest of its ticker is kept."""
    bars = _with_prices(_bars(), 40, **prices)
    result = check(bars, QualityParams())
    ticker, day = bars.row(40, named=True)["ticker"], bars.row(40, named=True)["date"]
    assert _quarantined(result, "ohlc_inconsistent") == {(ticker, day)}
    assert result.clean.height == bars.height - 1


def test_an_open_or_close_on_the_high_or_low_is_consistent():
    """Rule (ohlc_inconsistent), boundary: prices equal to the high or the low are consistent."""
    bars = _with_prices(_bars(), 40, open=11.0, high=11.0, low=9.0, close=9.0)
    bars = _with_prices(bars, 41, open=9.0, high=11.0, low=9.0, close=11.0)
    assert check(bars, QualityParams()).report["by_rule"]["ohlc_inconsistent"] == 0


def _zigzag(closes: dict[int, float], n: int = 300) -> pl.DataFrame:
    """One ticker on n XNYS sessions whose close alternates 10.0 / 10.1 (never a stale run nor a
    split-sized move), with `closes` overriding rows by index; open, high and low equal the close."""
    days = _bars(n).filter(pl.col("ticker") == "S0000")["date"]
    close = [closes.get(i, 10.0 if i % 2 == 0 else 10.1) for i in range(n)]
    return pl.DataFrame({"ticker": "S0000", "date": days, "open": close, "high": close, "low": close, "close": close,
                         "volume": pl.Series([1000] * n, dtype=pl.Int64),
                         "adj_close": pl.Series([None] * n, dtype=pl.Float64)})


def test_an_extreme_move_exactly_at_the_threshold_is_found():
    """Rule (extreme_move): |close / previous close - 1| >= extreme_move is a finding: a move of exactly
    the threshold counts, one just below does not (0.6 here: 1.6x and 0.4x are no split ratio)."""
    after_down = {i: 4.0 if i % 2 else 4.04 for i in range(201, 300)}
    bars = _zigzag({101: 16.0, 151: 15.99, **after_down})  # rows 100, 150 and 200 close at 10.0
    result = check(bars, _params(extreme_move=0.6))
    days = bars["date"]
    assert _found(result, "extreme_move") == {("S0000", days[101]), ("S0000", days[201])}
    assert result.report["by_rule"]["extreme_move"] == 0 and result.clean.height == 300


def test_a_close_or_an_open_alone_exactly_at_the_threshold_is_an_extreme_move():
    """Rule (extreme_move): the close's move and the open's gap from the previous close are each judged on
    their own, up and down, at exactly extreme_move (0.6: 1.6x and 0.4x are no split ratio)."""
    # the close alone (rows 101 up, 151 down, 152 back up 2.5x), then the open alone (201 up, 251 down)
    bars = _zigzag({101: 16.0, 151: 4.0}).with_columns(
        open=pl.when(pl.int_range(pl.len()).is_in([101, 151])).then(10.0).when(pl.int_range(pl.len()) == 201)
        .then(16.0).when(pl.int_range(pl.len()) == 251).then(4.0).otherwise(pl.col("open"))).with_columns(
        high=pl.max_horizontal("high", "open"), low=pl.min_horizontal("low", "open"))
    result = check(bars, _params(extreme_move=0.6, **_rules(extreme_move="warn")))
    days = bars["date"]
    assert _found(result, "extreme_move") == {("S0000", days[i]) for i in (101, 151, 152, 201, 251)}
    assert result.findings.filter(pl.col("date") == days[201])["detail"].to_list() == [
        "close 1.0%, open 60.0% from the previous close 10.0 (adjusted prices)"]


def test_a_run_of_exactly_stale_run_equal_closes_is_stale():
    """Rule (stale_price): stale_run equal closes in a row are a stale run (its repeats quarantined,
    the first print kept); one fewer is not."""
    exactly = _zigzag({i: 10.05 for i in range(101, 106)})                    # 5 equal closes
    assert _quarantined(check(exactly, QualityParams()), "stale_price") == {
        ("S0000", d) for d in exactly["date"][102:106]}
    one_fewer = _zigzag({i: 10.05 for i in range(101, 105)})                  # 4 equal closes
    assert check(one_fewer, QualityParams()).report["by_rule"]["stale_price"] == 0


def test_a_history_of_exactly_min_history_days_is_kept():
    """Rule (short_history): a ticker is dropped when it has FEWER usable rows than min_history_days."""
    bars = _zigzag({})
    assert check(bars, _params(min_history_days=300)).report["tickers_dropped"] == []
    assert check(bars, _params(min_history_days=301)).report["dropped_by_rule"] == {"S0000": "short_history"}


def test_short_history_switched_off_keeps_every_ticker():
    """Rule (short_history, enabled: false): no ticker is dropped for its length, however short."""
    result = check(_bars(200), _params(min_history_days=201, rules={"short_history": {"enabled": False}}))
    assert result.report["tickers_dropped"] == [] and result.clean.height == 400
    assert result.report["warnings"]["short_history"] == 0


def test_rows_taken_with_their_ticker_list_only_the_rules_they_break():
    """Rule (quarantine_ticker): a zero-volume row takes its whole ticker; that row lists zero_volume in
    `broken`, the ticker's other rows list nothing (they broke no rule), and broken_by_rule counts one row."""
    bars = _with_prices(_bars(), 40, volume=0)
    result = check(bars, _params(**_rules(zero_volume="quarantine_ticker")))
    taken = result.quarantine.filter(pl.col("ticker") == "S0000")
    assert taken.height == 300 and set(taken["rule"]) == {"zero_volume"}
    assert {tuple(b) for b in taken["broken"].to_list()} == {("zero_volume",), ()}
    assert taken.filter(pl.col("broken").list.len() > 0)["date"].to_list() == [bars["date"][40]]
    assert result.report["broken_by_rule"]["zero_volume"] == 1 and result.report["tickers_dropped"] == ["S0000"]


def test_a_split_that_adj_close_already_carries_is_not_found_again():
    """Rule (splits): split detection runs only on tickers whose adj_close leaves the prices alone. Here the raw
    prices halve at row 100 (an unadjusted 2:1 split) and adj_close is the split-adjusted close: the adj_close
    factor (0.5 before, 1 after) restates the rows once, and no split is found or applied on top of it."""
    bars = _zigzag({}).with_row_index("i")
    raw = bars.with_columns(*(pl.when(pl.col("i") < 100).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
                              for c in ("open", "high", "low", "close")), adj_close=pl.col("close")).drop("i")
    result = check(raw, QualityParams())
    assert result.report["splits"]["found"] == 0 and not _found(result, "split_adjusted")
    assert result.clean["close"].to_list() == pytest.approx(bars["close"].to_list(), rel=1e-12)


def test_adj_close_is_ignored_when_adjust_with_adj_close_is_off():
    """Rule (adjust_with_adj_close: false): the prices are kept as they came, whatever adj_close says."""
    bars = _zigzag({}).with_columns(adj_close=pl.col("close") * 0.9)
    kept = check(bars, _params(adjust_with_adj_close=False))
    assert kept.clean["close"].to_list() == bars["close"].to_list()
    assert check(bars, QualityParams()).clean["close"].to_list() == pytest.approx((bars["close"] * 0.9).to_list())


def test_a_duplicate_is_quarantined_with_its_reason():
    """Rule (duplicate): the second row of a (ticker, date) is quarantined, saying why."""
    bars = _zigzag({})
    result = check(pl.concat([bars, bars.slice(5, 1)]), QualityParams())
    assert result.quarantine.select("ticker", "date", "rule", "detail").rows() == [
        ("S0000", bars["date"][5], "duplicate", "(ticker, date) seen before; the first usable row is kept")]


def test_a_stale_run_at_the_start_is_found_and_dated_from_its_first_print():
    """Rule (stale_price): a run of stale_run equal closes starting at the ticker's third row is stale; its
    repeats are quarantined, the detail dates the run from its first row (the real print, kept)."""
    bars = _zigzag({i: 10.05 for i in range(2, 7)})                          # rows 2..6: 5 equal closes
    result = check(bars, QualityParams())
    days = bars["date"]
    assert _quarantined(result, "stale_price") == {("S0000", d) for d in days[3:7]}
    assert set(result.quarantine["detail"]) == {f"close=10.05 for 5 sessions in a row from {days[2]}"}


def test_an_unadjusted_split_is_a_finding_naming_its_ratio_and_the_close_before_it():
    """Rule (splits: adjust): a 2:1 jump between row 99's close (20.2) and row 100's open (10.0) with no adj_close
    is a split: one split_adjusted finding on row 100 naming the ratio and the previous close, and the
    earlier rows restated (halved, volume doubled)."""
    bars = _zigzag({}).with_row_index("i")
    raw = bars.with_columns(*(pl.when(pl.col("i") < 100).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
                              for c in ("open", "high", "low", "close"))).drop("i")
    result = check(raw, QualityParams())
    found = result.findings.filter(pl.col("rule") == "split_adjusted")
    assert found.select("date", "detail").rows() == [
        (raw["date"][100], "2:1 split: open 10.0 after a close of 20.2; earlier rows restated")]
    assert result.clean["close"].to_list() == pytest.approx(bars["close"].to_list(), rel=1e-12)
    assert result.clean["volume"][:100].to_list() == [2000] * 100


def test_findings_are_in_ticker_date_and_rule_order():
    """The findings table is sorted by ticker, date and rule whatever order the rules found them in: row rules
    (zero_volume) run before stale_price, so a date with both must still list stale_price first. (Rows 3..7
    repeat one close: the four repeats are stale.)"""
    bars = _bars().with_columns(adj_close=pl.col("close"))
    stale = (pl.int_range(pl.len()) >= 3) & (pl.int_range(pl.len()) <= 7) & (pl.col("ticker") == "S0000")
    bars = bars.with_columns(pl.when(stale).then(bars["close"][3]).otherwise(pl.col(c)).alias(c)
                             for c in (*PRICES, "adj_close"))  # a flat bar: no extreme move into or out of it
    bars = bars.with_columns(volume=pl.when(pl.int_range(pl.len()) == 5).then(0).otherwise(pl.col("volume")))
    result = check(bars, _params(**_rules(stale_price="warn", zero_volume="warn")), now=NOW)
    found = result.findings.select("ticker", "date", "rule").rows()
    day = bars["date"]
    assert [(d, r) for _, d, r in found] == [(day[4], "stale_price"), (day[5], "stale_price"),
                                             (day[5], "zero_volume"), (day[6], "stale_price"), (day[7], "stale_price")]
    assert {t for t, _, _ in found} == {"S0000"}


def test_a_check_that_finds_nothing_still_returns_the_findings_table():
    bars = _bars().with_columns(adj_close=pl.col("close"))
    result = check(bars, QualityParams(), now=NOW)
    assert result.findings.is_empty() and dict(result.findings.schema) == {
        "ticker": pl.String, "date": pl.Date, "rule": pl.String, "detail": pl.String}
    Findings.validate(result.findings)


def test_the_report_names_each_dropped_tickers_rule_by_most_rows_then_by_name():
    """dropped_by_rule: the rule under which most of a dropped ticker's rows were quarantined; on a tie, the
    first by name. tickers_dropped is in ticker order. S0001: 2 rows of negative_volume, then its ticker by
    zero_volume (298 rows); S0000: 150 rows of negative_volume, then 150 by zero_volume (a tie). S0000, with
    the fewer rows under its rule, comes first all the same."""
    bars = _bars().with_columns(adj_close=pl.col("close"))
    i, ticker = pl.int_range(pl.len()).over("ticker"), pl.col("ticker")
    negative = ((ticker == "S0001") & (i < 2)) | ((ticker == "S0000") & (i < 150))
    bars = bars.with_columns(volume=pl.when(negative).then(-1).when(i == 200).then(0).otherwise(pl.col("volume")))
    result = check(bars, _params(**_rules(zero_volume="quarantine_ticker")), now=NOW)
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
    report = check(bars, _params(calendar=None, min_history_days=2), now=NOW).report
    assert report["coverage"] == {"years_per_ticker": {"SHORT": 20.0, "TWENTY": 20.0}, "tickers_20y_plus": 1}


def test_a_table_that_breaks_the_raw_contract_is_one_line_naming_where_it_came_from():
    with pytest.raises(StockcastError, match=r"^input: breaks the RawOHLCV contract: .*'date'"):
        check(pl.DataFrame({"ticker": ["A"]}), QualityParams())
    with pytest.raises(StockcastError, match=r"^data/raw/x\.csv: breaks the RawOHLCV contract"):
        check(pl.DataFrame({"ticker": ["A"]}), QualityParams(), origin="data/raw/x.csv")
