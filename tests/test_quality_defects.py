"""Every defect named: each ticker judged by its own exchange, every rule a row breaks listed, rounding
a finding rather than a quarantine, and zero volume kept when it is a trading halt."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import polars as pl
import pytest

from stockcast.data import exchanges
from stockcast.data.calendar import sessions
from stockcast.data.quality import check, headline
from stockcast.errors import StockcastError
from stockcast.params import parse_section
from stockcast.schemas import OHLCV, Quarantine

from .conftest import warm_calendars

warm_calendars("XKRX", "XLON", "XNAS", "NYSE")  # the exchanges these tests judge by: once, at import (XKRX ~2.8 s)

NOW = datetime(2024, 6, 1, tzinfo=UTC)
FIRST, LAST = date(2021, 1, 1), date(2022, 12, 31)


def _bars(ticker: str, dates, seed: int = 0, adj: float | None = None) -> pl.DataFrame:
    """A random walk on `dates`: consistent OHLC, traded volume, no stale runs, no extreme moves."""
    rng = np.random.default_rng(seed)
    close = 100 * np.cumprod(1 + rng.normal(0, 0.01, len(dates)))
    return pl.DataFrame({"ticker": ticker, "date": pl.Series(dates).cast(pl.Date), "open": close * 1.001,
                         "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": pl.Series(rng.integers(1_000, 9_000, len(dates)), dtype=pl.Int64),
                         "adj_close": None if adj is None else close * adj}).with_columns(
        pl.col("adj_close").cast(pl.Float64))


def _params(**changes):
    return parse_section("quality", {"min_history_days": 1} | changes)


KRX = sessions("XKRX", FIRST, LAST)
NYSE = sessions("XNYS", FIRST, LAST)
KRX_HOLIDAYS = np.setdiff1d(NYSE, KRX)   # New York trades, Seoul does not (Chuseok, Seollal, ...)


def test_each_ticker_is_judged_by_its_own_exchange():
    bars = pl.concat([_bars("005930.KS", KRX), _bars("AAPL", NYSE, seed=1)])
    own = check(bars, _params(), now=NOW, exchanges={"005930.KS": "XKRX"})
    assert own.quarantine.is_empty() and own.report["missing_sessions"]["total"] == 0
    assert own.report["calendars"] == {"XKRX": {"tickers": 1, "last_completed_session": "2024-05-31"},
                                       "XNYS": {"tickers": 1, "last_completed_session": "2024-05-31"}}
    judged_by_nyse = check(bars, _params(), now=NOW)  # the wrong calendar: real KRX sessions become strays
    strays = np.setdiff1d(KRX, NYSE)
    assert judged_by_nyse.report["by_rule"]["non_session"] == len(strays) > 0
    inside = KRX_HOLIDAYS[(KRX_HOLIDAYS > KRX[0]) & (KRX_HOLIDAYS < KRX[-1])]  # gaps lie between its rows
    assert judged_by_nyse.report["missing_sessions"]["by_ticker"] == {"005930.KS": len(inside)}


def test_a_row_is_listed_under_every_rule_it_breaks():
    """Rows on KRX holidays, most with zero volume: each is counted as a non-session too, not only as zero volume."""
    holidays = KRX_HOLIDAYS[:10]
    extra = _bars("005930.KS", holidays, seed=2).with_columns(
        volume=pl.when(pl.int_range(pl.len()) < 8).then(0).otherwise(pl.col("volume")))
    halted = _bars("005930.KS", KRX, seed=3).with_row_index().with_columns(
        volume=pl.when(pl.col("index").is_in([50, 51, 52])).then(0).otherwise(pl.col("volume"))).drop("index")
    result = check(pl.concat([halted, extra]), _params(), now=NOW, exchanges={"005930.KS": "XKRX"})
    r = result.report
    assert r["by_rule"]["zero_volume"] == 11 and r["by_rule"]["non_session"] == 2      # the deciding rule
    assert r["broken_by_rule"]["zero_volume"] == 11 and r["broken_by_rule"]["non_session"] == 10  # every one
    on_holiday = result.quarantine.filter(pl.col("date").is_in(pl.Series(holidays).cast(pl.Date).implode()))
    assert sorted(map(tuple, on_holiday["broken"].to_list())) == \
        [("non_session",)] * 2 + [("zero_volume", "non_session")] * 8
    assert headline(r)["broken"]["non_session"] == 10
    Quarantine.validate(result.quarantine)


def test_rows_of_a_quarantined_ticker_list_only_what_they_break_themselves():
    bars = _bars("AAPL", NYSE).with_row_index().with_columns(
        volume=pl.when(pl.col("index") == 7).then(0).otherwise(pl.col("volume"))).drop("index")
    result = check(bars, _params(rules={"zero_volume": {"action": "quarantine_ticker"}}), now=NOW)
    lists = dict(result.quarantine.group_by(pl.col("broken").list.len()).len().iter_rows())
    assert lists == {1: 1, 0: len(NYSE) - 1} and set(result.quarantine["rule"]) == {"zero_volume"}
    assert result.report["broken_by_rule"]["zero_volume"] == 1 and result.report["by_rule"]["zero_volume"] == len(NYSE)


def test_ohlc_rounding_is_a_finding_not_a_quarantine():
    bars = _bars("AAPL", NYSE).with_row_index().with_columns(
        high=pl.when(pl.col("index") == 3).then(pl.col("open") * (1 - 1e-15))          # back-adjustment noise
        .when(pl.col("index") == 4).then(pl.col("open") * (1 - 2e-6))                    # beyond 1e-6: wrong
        .otherwise(pl.col("high")),
        low=pl.when(pl.col("index") == 5).then(pl.col("close") * (1 + 5e-7)).otherwise(pl.col("low")),
    ).drop("index")
    result = check(bars, _params(), now=NOW)
    assert result.quarantine.select("date", "rule").rows() == [(NYSE[4].item(), "ohlc_inconsistent")]
    rounded = result.findings.filter(pl.col("rule") == "ohlc_rounded")
    assert rounded["date"].to_list() == [NYSE[3].item(), NYSE[5].item()] and result.report["ohlc_rounded"] == 2
    fixed = result.clean.filter(pl.col("date").is_in(rounded["date"].implode()))
    assert fixed["high"][0] == fixed["open"][0] and fixed["low"][1] == fixed["close"][1]
    OHLCV.validate(result.clean)
    strict = check(bars, _params(ohlc_tolerance=0.0), now=NOW)
    assert strict.report["by_rule"]["ohlc_inconsistent"] == 3 and strict.report["ohlc_rounded"] == 0


def test_zero_volume_may_warn_for_trading_halts_but_negative_volume_never():
    bars = _bars("AAPL", NYSE, adj=0.5).with_row_index().with_columns(
        volume=pl.when(pl.col("index") == 10).then(0).when(pl.col("index") == 11).then(-5)
        .otherwise(pl.col("volume"))).drop("index")
    result = check(bars, _params(rules={"zero_volume": {"action": "warn"}}), now=NOW)
    halted = result.clean.filter(pl.col("date") == NYSE[10].item())
    assert halted["volume"].to_list() == [0]                  # restated by adj_close, still no trade
    assert result.quarantine.select("date", "rule").rows() == [(NYSE[11].item(), "negative_volume")]
    assert result.report["warnings"]["zero_volume"] == 1 == result.report["broken_by_rule"]["zero_volume"]
    OHLCV.validate(result.clean)
    with pytest.raises(StockcastError, match="negative_volume must stay enabled"):
        _params(rules={"negative_volume": {"action": "warn"}})


def test_the_quality_headline_stays_small_and_flat():
    result = check(_bars("AAPL", NYSE), _params(), now=NOW)
    metrics = headline(result.report)
    leaves = [f"{k}.{n}" for k, v in metrics.items() for n in (v if isinstance(v, dict) else [None])]
    assert len(leaves) <= 40 and not any(isinstance(x, dict) for v in metrics.values() if isinstance(v, dict)
                                         for x in v.values())


def test_exchanges_come_from_a_data_column_or_the_universe_and_must_agree():
    frame = pl.DataFrame({"Symbol": ["A", "A", "B", "C"], "Exchange": ["XKRX", "XKRX", " XNAS ", None]})
    assert exchanges.exchanges_in(frame, "f.csv") == {"A": "XKRX", "B": "XNAS"}
    assert exchanges.exchanges_in(pl.DataFrame({"mic": ["XLON"]}), "VOD.csv", "VOD") == {"VOD": "XLON"}
    with pytest.raises(StockcastError, match=r"f\.csv: ticker 'A' is on two exchanges in column 'Exchange'"):
        exchanges.exchanges_in(frame.with_columns(Exchange=pl.lit("XKRX")).vstack(
            pl.DataFrame({"Symbol": ["A"], "Exchange": ["XNYS"]})), "f.csv")
    assert exchanges.merge({"A": "XKRX"}, {"A": "XKRX", "B": "XNAS"}, "u.csv") == {"A": "XKRX", "B": "XNAS"}
    with pytest.raises(StockcastError, match=r"u\.csv: ticker 'A' is on exchange 'XNAS' there, but on 'XKRX' in the data's"):
        exchanges.merge({"A": "XKRX"}, {"A": "XNAS"}, "u.csv")
    with pytest.raises(StockcastError, match=r"ticker A: calendar 'KRX' is not an exchange_calendars name"):
        check(_bars("A", KRX), _params(), now=NOW, exchanges={"A": "KRX"})
    assert exchanges.calendars(["A", "B"], {"A": "NYSE"}, None) == ["NYSE", None]  # aliases are names too


def test_ohlc_rounding_sets_high_and_low_to_whichever_of_open_and_close_they_missed():
    """A high a hair below the close (the close above the open) is raised to the close, a low a hair above the
    open (the open below the close) lowered to the open, as for the open and close the other way round; every
    other row keeps its high and low, and each corrected row is a finding that shows its prices."""
    bars = _bars("AAPL", NYSE)
    i = pl.int_range(pl.len())
    up = i.is_in([6, 7])  # rows whose open is below their close
    opened = bars.with_columns(open=pl.when(up).then(pl.col("close") * 0.999).otherwise(pl.col("open")))
    doctored = opened.with_columns(
        high=pl.when(i == 3).then(pl.col("open") * (1 - 1e-15)).when(i == 6).then(pl.col("close") * (1 - 1e-15))
        .otherwise(pl.col("high")),
        low=pl.when(i == 5).then(pl.col("close") * (1 + 1e-15)).when(i == 7).then(pl.col("open") * (1 + 1e-15))
        .otherwise(pl.col("low")))
    result = check(doctored, _params(), now=NOW)
    assert result.quarantine.is_empty()
    clean, before = result.clean.to_dicts(), doctored.to_dicts()
    top = [max(r["open"], r["close"]) for r in before]
    bottom = [min(r["open"], r["close"]) for r in before]
    assert [r["high"] for r in clean] == [top[k] if k in (3, 6) else r["high"] for k, r in enumerate(before)]
    assert [r["low"] for r in clean] == [bottom[k] if k in (5, 7) else r["low"] for k, r in enumerate(before)]
    rounded = result.findings.filter(pl.col("rule") == "ohlc_rounded")
    assert rounded["date"].to_list() == [NYSE[k].item() for k in (3, 5, 6, 7)]
    row = before[6]
    assert rounded["detail"][2] == (f"open={row['open']} high={row['high']} low={row['low']} close={row['close']}: "
                                    "within ohlc_tolerance, high and low set to max and min(open, close)")
