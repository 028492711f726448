"""The quality stage's calendar rules: non-sessions, future dates and missing sessions, judged per ticker
against its own exchange's calendar (or the UTC date without one)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import polars as pl
import pytest

from stockcast.data import calendar
from stockcast.data.calendar import last_completed_session
from stockcast.data.quality import check
from stockcast.errors import StockcastError
from stockcast.params import QualityParams

from .conftest import SAMPLE, warm_calendars
from .quality_bars import NOW, found_rows, null_bars, quality_params, quarantined_rows, rule_actions, zigzag

warm_calendars("XLON", spans=(("XTKS", 2000, 2000),))  # XTKS's records start after WINDOW[0]


def test_missing_sessions_can_quarantine_a_ticker_above_a_threshold():
    raw = pl.read_parquet(SAMPLE)
    drop_ticker = rule_actions(missing_session="quarantine_ticker")
    strict = check(raw, quality_params(max_missing_fraction=0.0, **drop_ticker))
    assert strict.report["dropped_by_rule"]["MSFT"] == "missing_session"
    lenient = check(raw, quality_params(max_missing_fraction=0.001, **drop_ticker))
    assert "MSFT" not in lenient.report["tickers_dropped"]


def test_dates_that_are_not_sessions_are_quarantined():
    bars = null_bars()
    extra = bars.head(2).with_columns(date=pl.Series([date(2000, 1, 8), date(2000, 7, 4)]))  # Saturday, July 4th
    result = check(pl.concat([bars, extra]), QualityParams())
    assert quarantined_rows(result, "non_session") == {("S0000", date(2000, 1, 8)), ("S0000", date(2000, 7, 4))}
    assert result.quarantine["detail"].to_list()[0] == "2000-01-08 (Saturday) is not a XNYS session"
    skipped = check(pl.concat([bars, extra]), quality_params(calendar=None))
    assert skipped.report["by_rule"]["non_session"] == 0 and skipped.report["missing_sessions"]["calendar"] is None


def test_an_unknown_calendar_suggests_a_known_one():
    with pytest.raises(StockcastError, match="calendar 'XNSY' is not an exchange_calendars name.*did you mean 'XNYS'"):
        check(null_bars(), quality_params(calendar="XNSY"))


def test_dates_after_the_last_completed_session_are_quarantined():
    bars = null_bars()
    late = bars.tail(3).with_columns(date=pl.Series([date(2026, 12, 2), date(2099, 1, 2), date(9999, 12, 31)]))
    result = check(pl.concat([bars, late]), QualityParams(), now=NOW)
    ticker = late["ticker"][0]
    assert quarantined_rows(result, "future_date") == {(ticker, d) for d in late["date"]}  # Dec 2 has not closed yet
    assert result.quarantine.filter(pl.col("date") == date(2099, 1, 2))["detail"][0] == (
        "2099-01-02 is after the last completed XNYS session (2026-12-01)")
    assert result.report["last_completed_session"] == "2026-12-01" and result.clean["date"].max() < date(2026, 1, 1)
    after_close = check(pl.concat([bars, late]), QualityParams(), now=datetime(2026, 12, 2, 21, 1, tzinfo=UTC))
    assert (ticker, date(2026, 12, 2)) not in quarantined_rows(after_close, "future_date")
    no_calendar = check(pl.concat([bars, late]), quality_params(calendar=None), now=NOW)
    assert quarantined_rows(no_calendar, "future_date") == {(ticker, date(2099, 1, 2)), (ticker, date(9999, 12, 31))}


def test_last_completed_session_follows_the_exchange_close():
    assert last_completed_session("XNYS", datetime(2026, 12, 1, 20, 59, tzinfo=UTC)) == date(2026, 11, 30)
    assert last_completed_session("XNYS", datetime(2026, 12, 1, 21, 0, tzinfo=UTC)) == date(2026, 12, 1)
    assert last_completed_session("XNYS", datetime(2026, 12, 5, 12, tzinfo=UTC)) == date(2026, 12, 4)  # Sat
    assert last_completed_session(None, datetime(2026, 12, 5, 23, tzinfo=UTC)) == date(2026, 12, 5)


@pytest.mark.parametrize(("name", "first", "last"), [
    ("XNYS", date(1986, 3, 4), date(1986, 3, 31)),  # inside calendar.WINDOW: sliced from one build
    ("XNYS", date(2026, 11, 20), date(2026, 12, 1)),  # Thanksgiving (Nov 26) and its half day
    ("XLON", date(1979, 12, 20), date(1980, 1, 3)),  # across WINDOW's first year: its own span
    ("XTKS", date(2000, 12, 25), date(2001, 1, 10)),  # records from 1997 only: its own span
])
@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::FutureWarning")  # exchange_calendars on pandas 3
def test_sessions_are_exchange_calendars_own_whichever_build_they_come_from(name, first, last):
    import exchange_calendars as xcals

    expected = xcals.get_calendar(name, start=f"{first.year}-01-01", end=f"{last.year}-12-31").sessions_in_range(
        first, last)
    assert calendar.sessions(name, first, last).tolist() == [d.date() for d in expected]


def test_future_dates_may_only_warn():
    """Rule (future_date, warn): a row after the last completed session is kept with one finding; the far
    date's calendar is then built to it (the 9999 case is tests/test_quality_stage.py: slow)."""
    bars = pl.concat([null_bars(), null_bars().tail(1).with_columns(date=pl.lit(date(2099, 1, 2)))])
    warned = check(bars, quality_params(**rule_actions(future_date="warn")), now=NOW)
    assert warned.report["warnings"]["future_date"] == 1 and warned.report["by_rule"]["future_date"] == 0
    assert warned.report["rows_quarantined"] == 0  # 2099-01-02 is a session of the calendar built to it
    saturday = bars.tail(1).with_columns(date=pl.lit(date(2099, 1, 3)))
    judged = check(pl.concat([bars, saturday]), quality_params(**rule_actions(future_date="warn")), now=NOW)
    assert quarantined_rows(judged, "non_session") == {("S0001", date(2099, 1, 3))}  # ... and judges its days


def test_missing_sessions_exactly_at_the_threshold_keep_the_ticker():
    """Rule (missing_session): a ticker is flagged when it misses MORE than max_missing_fraction of the
    sessions in its range; exactly that share is allowed, and with the default 0.0 a ticker that misses
    none is never flagged."""
    bars = null_bars(300).with_row_index("i")
    gappy = bars.filter(~pl.col("i").is_in([50, 120, 200])).drop("i")   # S0000 misses 3 of its 300 sessions
    rules = rule_actions(missing_session="quarantine_ticker")
    assert 0.01 * 300 == 3
    at = check(gappy, quality_params(max_missing_fraction=0.01, **rules))
    assert at.report["tickers_dropped"] == [] and at.report["missing_sessions"]["by_ticker"] == {"S0000": 3}
    above = check(gappy, quality_params(max_missing_fraction=0.0099, **rules))
    assert above.report["dropped_by_rule"] == {"S0000": "missing_session"}
    complete = check(bars.drop("i"), quality_params(max_missing_fraction=0.0, **rules))
    assert complete.report["tickers_dropped"] == [] and complete.clean.height == 600
    warned = check(gappy, quality_params(max_missing_fraction=0.01, **rule_actions(missing_session="warn")))
    assert warned.report["warnings"]["missing_session"] == 0
    warned = check(gappy, quality_params(max_missing_fraction=0.0, **rule_actions(missing_session="warn")))
    assert warned.report["warnings"]["missing_session"] == 3


def _late_and_gappy() -> tuple[pl.DataFrame, set[tuple[str, date]]]:
    """S0000 on all 300 sessions but its 11th; S0001 from its 101st session on, without its 151st, 152nd and
    251st: 3 missing of the 200 sessions in its own range. Returns the bars and the missing (ticker, date)s."""
    bars = null_bars(300).with_columns(i=pl.int_range(pl.len()).over("ticker"))
    gone = ((pl.col("ticker") == "S0000") & (pl.col("i") == 10)) | (
        (pl.col("ticker") == "S0001") & pl.col("i").is_in([150, 151, 250]))
    late = (pl.col("ticker") == "S0001") & (pl.col("i") < 100)
    missing = {(t, d) for t, d in bars.filter(gone).select("ticker", "date").iter_rows()}
    return bars.filter(~gone & ~late).drop("i"), missing


def test_missing_sessions_are_found_one_by_one_inside_each_tickers_own_range():
    """Rule (missing_session): each session between a ticker's first and last row that has no row is one
    finding, and the share is counted over the sessions of that ticker's own range (S0001: 3 of 200)."""
    bars, missing = _late_and_gappy()
    rules = rule_actions(missing_session="quarantine_ticker")
    kept = check(bars, quality_params(max_missing_fraction=0.015, min_history_days=100, **rules))  # 3 / 200: allowed
    assert found_rows(kept, "missing_session") == missing
    assert kept.report["missing_sessions"]["by_ticker"] == {"S0000": 1, "S0001": 3}
    assert kept.report["tickers_dropped"] == []
    dropped = check(bars, quality_params(max_missing_fraction=0.0149, min_history_days=100, **rules))
    assert dropped.report["dropped_by_rule"] == {"S0001": "missing_session"}
    assert set(dropped.quarantine.filter(pl.col("ticker") == "S0001")["detail"]) == {
        "ticker quarantined: 3 of its 200 XNYS sessions have no row (more than max_missing_fraction=0.0149)"}


def test_a_short_history_set_to_warn_keeps_the_ticker_with_one_finding_on_its_first_date():
    bars, _ = _late_and_gappy()
    first = bars.filter(pl.col("ticker") == "S0001")["date"].min()
    warned = rule_actions(short_history="warn", missing_session="warn")
    result = check(bars, quality_params(min_history_days=250, **warned))
    assert result.report["tickers_dropped"] == [] and result.report["warnings"]["short_history"] == 1
    assert found_rows(result, "short_history") == {("S0001", first)}
    assert result.findings.filter(pl.col("rule") == "short_history")["detail"].to_list() == [
        "197 usable rows, fewer than min_history_days=250"]


def test_a_row_on_a_non_session_leaves_the_missing_sessions_alone():
    """Rule (missing_session): only rows on sessions mark a ticker's range and its gaps; a Saturday row (a
    non_session, quarantined) neither hides nor adds a missing session, nor changes the count the threshold is
    taken of: S0000 misses 3 of 300 sessions, exactly max_missing_fraction=0.01, and is kept."""
    bars = null_bars(300).with_row_index("i")
    gappy = bars.filter(~pl.col("i").is_in([50, 120, 200])).drop("i")
    saturday = gappy.filter(pl.col("ticker") == "S0001").slice(30, 1).with_columns(date=pl.lit(date(2000, 3, 4)))
    assert saturday["date"][0].weekday() == 5
    result = check(pl.concat([gappy, saturday]), quality_params(max_missing_fraction=0.01,
                                                          **rule_actions(missing_session="quarantine_ticker")))
    assert quarantined_rows(result, "non_session") == {("S0001", date(2000, 3, 4))}
    assert result.report["missing_sessions"]["by_ticker"] == {"S0000": 3}
    assert result.report["tickers_dropped"] == []
    assert found_rows(result, "missing_session") == {
        ("S0000", d) for d in bars.filter(pl.col("i").is_in([50, 120, 200]))["date"]}


def test_a_ticker_with_no_session_row_is_not_judged_for_missing_sessions():
    """Rule (missing_session): a ticker's range is its first..last session row. A ticker whose only row is on a
    Saturday (AAA, sorted first) has no range; the next ticker's gaps are still counted as its own, and a table of
    nothing but non-session rows has no missing sessions at all."""
    bars = null_bars(300).filter(pl.col("ticker") == "S0000").with_row_index("i")
    gappy = bars.filter(pl.col("i") != 50).drop("i")
    lone = gappy.head(1).with_columns(ticker=pl.lit("AAA"), date=pl.lit(date(2000, 3, 4)))
    result = check(pl.concat([lone, gappy]), QualityParams())
    assert quarantined_rows(result, "non_session") == {("AAA", date(2000, 3, 4))}
    assert result.report["missing_sessions"]["by_ticker"] == {"S0000": 1}
    assert found_rows(result, "missing_session") == {("S0000", bars["date"][50])}
    only = check(lone, QualityParams())
    assert only.report["by_rule"]["non_session"] == 1 and only.report["missing_sessions"]["total"] == 0
    assert only.clean.is_empty() and not found_rows(only, "missing_session")


def test_each_missing_session_is_a_finding_naming_the_calendar_and_counts_are_integers():
    """Rule (missing_session): a missing session's finding says which calendar expected it; the counts in the
    report are integers (metrics/quality.json shows 3, not 3.0)."""
    bars, missing = _late_and_gappy()
    result = check(bars, quality_params(min_history_days=100))
    found = result.findings.filter(pl.col("rule") == "missing_session")
    assert found.height == len(missing) and set(found["detail"]) == {"no row for this XNYS session"}
    assert json.dumps(result.report["missing_sessions"]["by_ticker"]) == '{"S0000": 1, "S0001": 3}'
    assert json.dumps(result.report["missing_sessions"]["total"]) == "4"


def test_a_ticker_without_a_calendar_is_judged_by_the_utc_date_only():
    """Rule (calendars): with quality.calendar null, a ticker mapped to an exchange (S0000: XNYS) gets the
    session rules of that calendar, the others none: their rows on a Saturday are kept, their gaps are not
    missing sessions, and their future_date limit is now's UTC date ("day in UTC"). The report's `calendars`
    lists each calendar, "none" included, with its tickers and last completed session."""
    bars = null_bars().with_row_index("i")
    gaps = bars.filter(~pl.col("i").is_in([20, 320])).drop("i")               # one gap in each ticker
    saturday = date(2000, 3, 4)
    extra = pl.concat([gaps.filter(pl.col("ticker") == t).slice(30, 1).with_columns(date=pl.lit(saturday))
                       for t in ("S0000", "S0001")])
    late = gaps.filter(pl.col("ticker") == "S0001").tail(1).with_columns(date=pl.lit(date(2099, 1, 2)))
    third = gaps.filter(pl.col("ticker") == "S0001").with_columns(ticker=pl.lit("S0002"))  # no calendar either
    bars = pl.concat([gaps, extra, late, third])
    result = check(bars, quality_params(calendar=None), now=NOW, exchanges={"S0000": "XNYS"})
    assert quarantined_rows(result, "non_session") == {("S0000", saturday)}
    assert ("S0001", saturday) in set(result.clean.select("ticker", "date").iter_rows())
    assert quarantined_rows(result, "future_date") == {("S0001", date(2099, 1, 2))}
    assert result.quarantine.filter(pl.col("rule") == "future_date")["detail"].to_list() == [
        "2099-01-02 is after the last completed day in UTC (2026-12-02)"]
    assert result.report["missing_sessions"]["by_ticker"] == {"S0000": 1}
    assert result.report["calendars"] == {
        "XNYS": {"tickers": 1, "last_completed_session": "2026-12-01"},
        "none": {"tickers": 2, "last_completed_session": "2026-12-02"}}


def test_a_table_of_only_future_rows_or_a_single_session_row():
    """Rules (future_date, non_session), edges: rows all after the last completed session are all future_date
    (the calendar is then built over no day); a single row on a session is clean, not a non_session."""
    late = zigzag({}, n=3).with_columns(date=pl.Series([date(2099, 1, 2), date(2099, 1, 5), date(2099, 1, 6)]))
    result = check(late, QualityParams(), now=NOW)
    assert result.report["by_rule"]["future_date"] == 3 and result.clean.is_empty()
    single = check(zigzag({}, n=2).head(1), quality_params(min_history_days=1), now=NOW)
    assert single.report["rows_quarantined"] == 0 and single.clean.height == 1


def test_rows_after_the_last_completed_session_do_not_stretch_the_missing_session_range():
    """Rule (missing_session): the range is counted over sessions up to the last completed one; future rows
    (quarantined) do not count. S0000 misses 1 of 300 sessions: kept at max_missing_fraction 1/300, even with
    two rows dated 2099 added."""
    bars = null_bars(300).with_row_index("i")
    gappy = bars.filter(pl.col("i") != 50).drop("i")
    late = gappy.filter(pl.col("ticker") == "S0000").tail(2).with_columns(
        date=pl.Series([date(2099, 1, 2), date(2099, 1, 5)]))
    rules = rule_actions(missing_session="quarantine_ticker")
    result = check(pl.concat([gappy, late]), quality_params(max_missing_fraction=1 / 300, **rules), now=NOW)
    assert result.report["by_rule"]["future_date"] == 2 and result.report["tickers_dropped"] == []
    assert result.report["missing_sessions"]["by_ticker"] == {"S0000": 1}


def test_each_ticker_is_judged_by_its_own_exchange_among_several():
    """Rule (calendars, missing_session): three tickers on three exchanges (New York, London, Tokyo), each
    missing one of its own sessions; each gap is found on that ticker's calendar, so the sessions of one
    calendar are never read as another's (their holidays differ)."""
    prices = null_bars(200).filter(pl.col("ticker") == "S0000")
    exchanges = {"A_NY": "XNYS", "B_LN": "XLON", "C_TK": "XTKS"}
    parts, gaps = [], set()
    for k, (ticker, exchange) in enumerate(exchanges.items()):
        days = calendar.sessions(exchange, date(2000, 1, 3), date(2000, 12, 29))[:200]
        gone = 60 + 40 * k
        gaps.add((ticker, days[gone].astype(date)))
        parts.append(prices.with_columns(ticker=pl.lit(ticker), date=pl.Series(days).cast(pl.Date)).filter(
            pl.int_range(pl.len()) != gone))
    result = check(pl.concat(parts), quality_params(calendar=None, min_history_days=100), exchanges=exchanges)
    assert result.quarantine.is_empty()
    assert found_rows(result, "missing_session") == gaps
    assert result.report["missing_sessions"]["by_ticker"] == dict.fromkeys(exchanges, 1)
    assert {name for name in result.report["calendars"]} == set(exchanges.values())


def test_a_future_row_breaks_only_future_date():
    """Rule (future_date): the calendar is built only to its last completed session, so a later row is not
    judged against sessions that were never built: it breaks future_date alone, not non_session too."""
    bars = null_bars()
    late = bars.tail(2).with_columns(date=pl.Series([date(2099, 1, 5), date(2099, 1, 3)]))  # a Monday, a Saturday
    result = check(pl.concat([bars, late]), QualityParams(), now=NOW)
    taken = result.quarantine.filter(pl.col("rule") == "future_date")
    assert taken["broken"].to_list() == [["future_date"], ["future_date"]]
    assert result.report["broken_by_rule"]["non_session"] == 0
