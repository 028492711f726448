"""The download source against a fake market-data API: cached, incremental, retried, rate-limited, resumable."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import polars as pl
import pytest

from stockcast.data import download
from stockcast.data.download import Downloader, RateLimited, TickerNotFound, Timeout, YFinanceTransport, from_yfinance
from stockcast.data.sources import load
from stockcast.data.synthetic import generate
from stockcast.errors import StockcastError
from stockcast.params import parse_section

START, MIDDLE, END = date(2000, 1, 3), date(2000, 6, 2), date(2000, 12, 30)  # each the day after a session


class FakeMarket:
    """A scripted API: answers from a fixed table in Yahoo's column names, after failing as scripted."""

    def __init__(self, tickers=("AAA", "BBB", "CCC"), script=(), events=(), truncate_at=None):
        bars, _ = generate("null", len(tickers), 260, seed=3)
        names = dict(zip(sorted(bars["ticker"].unique()), tickers, strict=True))
        self.bars = bars.with_columns(pl.col("ticker").replace(names), adj_close=pl.col("close") * 0.9)
        self.script = list(script)              # per call: an exception to raise, or None to answer
        self.events = set(events)                # (ticker, date) with a split or dividend
        self.truncate_at = truncate_at           # partial data: the first answer stops before this date
        self.calls: list[tuple[str, date, date]] = []

    def fetch(self, ticker, start, end):
        self.calls.append((ticker, start, end))
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        rows = self.bars.filter((pl.col("ticker") == ticker) & pl.col("date").is_between(start, end, closed="left"))
        if rows.is_empty() and ticker not in set(self.bars["ticker"]):
            raise TickerNotFound(f"{ticker}: possibly delisted")
        if self.truncate_at is not None:
            rows, self.truncate_at = rows.filter(pl.col("date") < self.truncate_at), None
        return rows.select(Date="date", Open="open", High="high", Low="low", Close="close",
                           **{"Adj Close": "adj_close"}, Volume="volume",
                           event=pl.struct("ticker", "date").map_elements(
                               lambda r: (r["ticker"], r["date"]) in self.events, return_dtype=pl.Boolean))

    def truth(self, ticker, end=END):
        return self.bars.filter((pl.col("ticker") == ticker) & (pl.col("date") < end))


class FakeClock:
    """Time that passes only when the downloader sleeps: sleeps are recorded, tests never wait."""

    def __init__(self):
        self.now, self.sleeps = 0.0, []

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self):
        return self.now


def _downloader(market, tmp_path, **kw) -> tuple[Downloader, FakeClock]:
    clock = FakeClock()
    kw = {"retries": 3, "backoff_seconds": 2.0, "min_interval_seconds": 0.0} | kw
    return Downloader(market, tmp_path / "cache", sleep=clock.sleep, clock=clock, **kw), clock


def _same(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    return a.sort("ticker", "date").equals(b.select(a.columns).sort("ticker", "date"))


def test_download_caches_each_ticker_on_disk(tmp_path):
    market = FakeMarket()
    loader, _ = _downloader(market, tmp_path)
    bars = loader.update_all(["AAA", "BBB"], START, END)
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == ["AAA.parquet", "BBB.parquet"]
    assert _same(bars, pl.concat([market.truth("AAA"), market.truth("BBB")]))


def test_download_is_incremental(tmp_path):
    market = FakeMarket()
    loader, _ = _downloader(market, tmp_path)
    first = loader.update_all(["AAA"], START, MIDDLE)
    last_cached = first["date"].max()
    market.calls.clear()
    bars = _downloader(market, tmp_path)[0].update_all(["AAA"], START, END)
    assert market.calls == [("AAA", last_cached + timedelta(days=1), END)]  # only dates after the cache's last
    assert _same(bars, market.truth("AAA"))
    market.calls.clear()
    again, _ = _downloader(market, tmp_path)
    again.update_all(["AAA"], START, END)
    assert market.calls == [] and again.summary.up_to_date == ["AAA"]   # nothing new: no request at all


def test_download_retries_on_429_and_timeout(tmp_path):
    market = FakeMarket(script=[RateLimited("HTTP 429"), Timeout("read timed out"), None])
    loader, clock = _downloader(market, tmp_path)
    bars = loader.update_all(["AAA"], START, END)
    assert _same(bars, market.truth("AAA"))
    assert len(market.calls) == 3 and clock.sleeps == [2.0, 4.0]     # exponential backoff: 2 s, then 4 s


def test_download_waits_at_least_as_long_as_retry_after(tmp_path):
    market = FakeMarket(script=[RateLimited("HTTP 429", retry_after=30.0), None])
    loader, clock = _downloader(market, tmp_path)
    loader.update_all(["AAA"], START, END)
    assert clock.sleeps == [30.0]


def test_download_gives_up_with_one_line_and_resumes_where_it_stopped(tmp_path):
    market = FakeMarket(script=[None] + [Timeout("read timed out")] * 4)
    loader, clock = _downloader(market, tmp_path, retries=3)
    with pytest.raises(StockcastError, match=r"^download: BBB: gave up after 3 retries \(Timeout: read timed out\)"):
        loader.update_all(["AAA", "BBB", "CCC"], START, END)
    assert clock.sleeps == [2.0, 4.0, 8.0]
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["AAA.parquet"]  # AAA finished: it is kept
    market.calls.clear()
    bars = _downloader(market, tmp_path)[0].update_all(["AAA", "BBB", "CCC"], START, END)
    assert [call[0] for call in market.calls] == ["BBB", "CCC"]                # the rerun resumes
    assert bars["ticker"].n_unique() == 3


def test_download_resumes_after_an_interruption(tmp_path):
    market = FakeMarket(script=[None, KeyboardInterrupt()])
    with pytest.raises(KeyboardInterrupt):
        _downloader(market, tmp_path)[0].update_all(["AAA", "BBB", "CCC"], START, END)
    assert not list((tmp_path / "cache").glob(".*.partial"))
    market.calls.clear()
    bars = _downloader(market, tmp_path)[0].update_all(["AAA", "BBB", "CCC"], START, END)
    assert [call[0] for call in market.calls] == ["BBB", "CCC"]
    assert _same(bars, pl.concat([market.truth(t) for t in ("AAA", "BBB", "CCC")]))


def test_download_is_rate_limited(tmp_path):
    market = FakeMarket()
    loader, clock = _downloader(market, tmp_path, min_interval_seconds=1.5)
    loader.update_all(["AAA", "BBB", "CCC"], START, END)
    assert clock.sleeps == [1.5, 1.5]  # three instant answers, spaced 1.5 s apart


def test_partial_data_is_kept_and_completed_by_the_next_run(tmp_path):
    market = FakeMarket(truncate_at=date(2000, 3, 1))
    loader, _ = _downloader(market, tmp_path)
    partial = loader.update_all(["AAA"], START, END)
    assert partial["date"].max() < date(2000, 3, 1)
    market.calls.clear()
    bars = _downloader(market, tmp_path)[0].update_all(["AAA"], START, END)
    assert market.calls[0][1] == partial["date"].max() + timedelta(days=1)
    assert _same(bars, market.truth("AAA"))


def test_a_placeholder_bar_without_a_close_is_fetched_again(tmp_path):
    market = FakeMarket()
    loader, _ = _downloader(market, tmp_path)
    bars = loader.update_all(["AAA"], START, MIDDLE)
    last = bars["date"].max()
    damaged = bars.with_columns(close=pl.when(pl.col("date") == last).then(None).otherwise(pl.col("close")))
    damaged.write_parquet(tmp_path / "cache" / "AAA.parquet")  # as if the API had sent today's empty bar
    market.calls.clear()
    bars = _downloader(market, tmp_path)[0].update_all(["AAA"], START, END)
    assert market.calls[0][1] == last and _same(bars, market.truth("AAA"))


def test_a_split_or_dividend_refetches_the_whole_history(tmp_path):
    market = FakeMarket()
    _downloader(market, tmp_path)[0].update_all(["AAA"], START, MIDDLE)
    event_day = market.truth("AAA").filter(pl.col("date") >= MIDDLE)["date"][5]
    market.events.add(("AAA", event_day))
    market.bars = market.bars.with_columns(adj_close=pl.col("close") * 0.5)  # Yahoo restated every adj_close
    market.calls.clear()
    loader, _ = _downloader(market, tmp_path)
    bars = loader.update_all(["AAA"], START, END)
    assert [c[1] for c in market.calls] == [market.calls[0][1], START] and loader.summary.refetched == ["AAA"]
    assert _same(bars, market.truth("AAA"))  # no mix of old and new adj_close


def test_unknown_tickers_are_skipped_and_reported(tmp_path):
    market = FakeMarket()
    loader, _ = _downloader(market, tmp_path)
    bars = loader.update_all(["AAA", "ZZZZ"], START, END)
    assert bars["ticker"].unique().to_list() == ["AAA"] and loader.summary.not_found == ["ZZZZ"]
    with pytest.raises(StockcastError, match="no bars for any of 1 tickers"):
        _downloader(market, tmp_path)[0].update_all(["ZZZZ"], START, END)


def test_a_damaged_cache_is_fetched_again(tmp_path):
    market = FakeMarket()
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "AAA.parquet").write_bytes(b"half a file")
    bars = _downloader(market, tmp_path)[0].update_all(["AAA"], START, END)
    assert market.calls == [("AAA", START, END)] and _same(bars, market.truth("AAA"))


def test_download_source_reads_its_params_and_universe_file(tmp_path):
    (tmp_path / "universe.txt").write_text("AAA\nCCC\n")
    params = parse_section("ingest", {"source": "download", "download": {
        "universe_file": str(tmp_path / "universe.txt"), "start": "2000-01-03",
        "cache_dir": str(tmp_path / "cache"), "sources": [{"name": "yahoo", "min_interval_seconds": 0.0}]}})
    market = FakeMarket()
    bars, meta = load(params, transport=market, today=END)
    assert sorted(bars["ticker"].unique()) == ["AAA", "CCC"]
    assert meta["source"] == "download" and meta["requests"] == 2 and meta["until"] == str(END)
    assert {t: p["source"] for t, p in meta["served_by"].items()} == {"AAA": "yahoo", "CCC": "yahoo"}


# yfinance's own frame, as recorded from Ticker.history(auto_adjust=False, actions=True)
RECORDED = pd.DataFrame(
    {"Open": [74.06, 74.29, 73.45], "High": [75.15, 75.14, 74.99], "Low": [73.80, 74.13, 73.19],
     "Close": [75.09, 74.36, 74.95], "Adj Close": [72.88, 72.17, 72.74], "Volume": [135480400, 146322800, 118387200],
     "Dividends": [0.0, 0.0, 0.1925], "Stock Splits": [0.0, 0.0, 0.0]},
    index=pd.DatetimeIndex(pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06"]).tz_localize("America/New_York"),
                           name="Date"))


class FakeTicker:
    """Stands in for yfinance.Ticker: raises or returns what a test sets in `outcome`."""

    outcome: object = RECORDED

    def __init__(self, symbol):
        self.symbol = symbol

    def history(self, **kwargs):
        assert kwargs["auto_adjust"] is False and kwargs["actions"] is True and kwargs["interval"] == "1d"
        if isinstance(self.outcome, BaseException):
            raise self.outcome
        return self.outcome


@pytest.fixture
def yahoo(monkeypatch):
    import yfinance

    monkeypatch.setattr(yfinance, "Ticker", FakeTicker)
    yield FakeTicker
    FakeTicker.outcome = RECORDED


def test_yfinance_frames_become_bars_with_events(yahoo):
    frame = YFinanceTransport().fetch("AAPL", date(2020, 1, 1), date(2020, 1, 7))
    assert frame["event"].to_list() == [False, False, True]
    bars = download.conform(frame.drop("event"), "AAPL", "AAPL")
    assert bars["date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)]
    assert bars["adj_close"][2] == pytest.approx(72.74)


def test_yfinance_errors_map_to_retry_or_skip(yahoo):
    from curl_cffi.requests.exceptions import Timeout as CurlTimeout
    from yfinance.exceptions import YFPricesMissingError, YFRateLimitError, YFTzMissingError

    transport = YFinanceTransport()
    for error, expected in ((YFRateLimitError(), RateLimited), (CurlTimeout("timed out"), Timeout),
                            (TimeoutError(), Timeout), (YFTzMissingError("ZZZZ"), TickerNotFound)):
        yahoo.outcome = error
        with pytest.raises(expected):
            transport.fetch("AAPL", START, END)
    yahoo.outcome = YFPricesMissingError("AAPL", "")
    assert from_yfinance(None).is_empty() and transport.fetch("AAPL", START, END).is_empty()
