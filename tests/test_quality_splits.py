"""Corporate actions in the quality check: unadjusted splits found, restated or quarantined, adj_close's
own adjustment, and adjustments that overflow or leave a zero price quarantined rather than a traceback.
"""

from __future__ import annotations

import warnings
from datetime import date

import polars as pl
import pytest

from stockcast.data.quality import check, headline
from stockcast.data.synthetic import generate
from stockcast.params import QualityParams
from stockcast.schemas import OHLCV

from .conftest import SAMPLE
from .quality_bars import NOW, found_rows, null_bars, quality_params, quarantined_rows, returns_of, with_prices, zigzag


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
    assert found_rows(result, "split_adjusted") == {("AAPL", date(2000, 6, 21)), ("AAPL", date(2005, 2, 28))}
    on = dict(returns_of(result.clean, "AAPL").select("date", "ret").iter_rows())
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
    result = check(doctored, quality_params(splits="quarantine"))
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
    assert len(truth) > 20 and found_rows(result, "split_adjusted") == truth
    assert result.report["missing_sessions"]["total"] == meta["missing_sessions"]
    worst = result.clean.with_columns(r=pl.col("close").pct_change().over("ticker"))["r"].abs().max()
    assert worst < 0.45


@pytest.mark.parametrize(("adj_close", "high"), [(1e-300, None), (1e308, 1e308)])
def test_an_adjustment_that_overflows_is_quarantined_not_a_traceback(adj_close, high):
    """Found by tests/test_hostile_input.py: restating by adj_close/close made volume too large for int64
    (a polars traceback) or high infinite in the clean table."""
    bars = null_bars().with_columns(adj_close=pl.col("close"))
    hostile = bars.with_row_index("i").with_columns(
        adj_close=pl.when(pl.col("i") == 7).then(adj_close).otherwise(pl.col("adj_close")),
        high=pl.when(pl.col("i") == 7).then(high or pl.col("high")).otherwise(pl.col("high"))).drop("i")
    result = check(hostile, QualityParams(), now=NOW)
    assert quarantined_rows(result, "non_finite_value") == {(bars["ticker"][7], bars["date"][7])}
    assert result.quarantine["detail"][0].startswith("restating by adj_close/close=")
    OHLCV.validate(result.clean)


def _restated(**row: float) -> tuple[pl.DataFrame, tuple[str, date]]:
    """null_bars() with adj_close = close, row 7 set to `row` (any columns); returns the bars and row 7's key."""
    bars = with_prices(null_bars().with_columns(adj_close=pl.col("close")), 7, **row)
    return bars, (bars["ticker"][7], bars["date"][7])


def test_an_adjustment_that_leaves_a_zero_low_is_quarantined():
    """Rule (non_finite_value, after adjustment): a row whose low times adj_close/close is 0 (underflow) is
    quarantined; here low 1e-310 x factor 1e-18 is 0.0 while high, and volume / factor (1e18), are fine."""
    bars, key = _restated(open=1.0, high=1.0, low=1e-310, close=1.0, adj_close=1e-18, volume=1)
    result = check(bars, QualityParams(), now=NOW)
    assert quarantined_rows(result, "non_finite_value") == {key}
    assert result.report["rows_quarantined"] == 1
    OHLCV.validate(result.clean)


def test_an_adjusted_volume_of_9e18_or_more_is_quarantined():
    """Rule (non_finite_value, after adjustment): volume / (adj_close/close) must stay below 9e18 (int64 ends at
    9.22e18): exactly 9e18 (4.5e18 shares halved by a factor 0.5) is quarantined, 8.8e18 is kept as restated."""
    at, key = _restated(volume=4_500_000_000_000_000_000)
    at = at.with_columns(adj_close=pl.when(pl.int_range(pl.len()) == 7).then(pl.col("close") * 0.5)
                         .otherwise(pl.col("adj_close")))
    assert quarantined_rows(check(at, QualityParams(), now=NOW), "non_finite_value") == {key}
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
    assert quarantined_rows(result, "non_finite_value") == {key}


def test_a_split_that_adj_close_already_carries_is_not_found_again():
    """Rule (splits): split detection runs only on tickers whose adj_close leaves the prices alone. Here the raw
    prices halve at row 100 (an unadjusted 2:1 split) and adj_close is the split-adjusted close: the adj_close
    factor (0.5 before, 1 after) restates the rows once, and no split is found or applied on top of it."""
    bars = zigzag({}).with_row_index("i")
    raw = bars.with_columns(*(pl.when(pl.col("i") < 100).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
                              for c in ("open", "high", "low", "close")), adj_close=pl.col("close")).drop("i")
    result = check(raw, QualityParams())
    assert result.report["splits"]["found"] == 0 and not found_rows(result, "split_adjusted")
    assert result.clean["close"].to_list() == pytest.approx(bars["close"].to_list(), rel=1e-12)


def test_adj_close_is_ignored_when_adjust_with_adj_close_is_off():
    """Rule (adjust_with_adj_close: false): the prices are kept as they came, whatever adj_close says."""
    bars = zigzag({}).with_columns(adj_close=pl.col("close") * 0.9)
    kept = check(bars, quality_params(adjust_with_adj_close=False))
    assert kept.clean["close"].to_list() == bars["close"].to_list()
    assert check(bars, QualityParams()).clean["close"].to_list() == pytest.approx((bars["close"] * 0.9).to_list())


def test_an_unadjusted_split_is_a_finding_naming_its_ratio_and_the_close_before_it():
    """Rule (splits: adjust): a 2:1 jump between row 99's close (20.2) and row 100's open (10.0) with no adj_close
    is a split: one split_adjusted finding on row 100 naming the ratio and the previous close, and the
    earlier rows restated (halved, volume doubled)."""
    bars = zigzag({}).with_row_index("i")
    raw = bars.with_columns(*(pl.when(pl.col("i") < 100).then(pl.col(c) * 2).otherwise(pl.col(c)).alias(c)
                              for c in ("open", "high", "low", "close"))).drop("i")
    result = check(raw, QualityParams())
    found = result.findings.filter(pl.col("rule") == "split_adjusted")
    assert found.select("date", "detail").rows() == [
        (raw["date"][100], "2:1 split: open 10.0 after a close of 20.2; earlier rows restated")]
    assert result.clean["close"].to_list() == pytest.approx(bars["close"].to_list(), rel=1e-12)
    assert result.clean["volume"][:100].to_list() == [2000] * 100
