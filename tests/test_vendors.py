"""Download fallbacks: Stooq, Alpha Vantage and Polygon on recorded answers (no network), tried in order per ticker.

The answers below keep each API's documented shape (field names, error bodies, status codes), trimmed to a
few bars; their prices are AAPL's of the first sessions of 2024.
"""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from stockcast.data.download import RateLimited, TickerNotFound, Timeout
from stockcast.data.sources import load
from stockcast.data.vendors import AlphaVantageTransport, Answer, PolygonTransport, StooqTransport
from stockcast.errors import StockcastError
from stockcast.params import parse_section
from stockcast.report import render

START, END = date(2024, 1, 1), date(2024, 1, 6)
DATES = [date(2024, 1, 2), date(2024, 1, 3), date(2024, 1, 4), date(2024, 1, 5)]
CLOSES = [185.64, 184.25, 181.91, 181.18]

STOOQ_CSV = """Date,Open,High,Low,Close,Volume
2024-01-02,187.15,188.44,183.885,185.64,82488674
2024-01-03,184.22,185.88,183.43,184.25,58414460
2024-01-04,182.15,183.0872,180.88,181.91,71983570
2024-01-05,181.99,182.76,180.17,181.18,62303254
"""
AV_JSON = """{"Meta Data": {"1. Information": "Daily Prices (open, high, low, close) and Volumes", "2. Symbol": "AAPL",
  "3. Last Refreshed": "2024-01-05", "4. Output Size": "Compact", "5. Time Zone": "US/Eastern"},
 "Time Series (Daily)": {
  "2024-01-05": {"1. open": "181.9900", "2. high": "182.7600", "3. low": "180.1700", "4. close": "181.1800", "5. volume": "62303254"},
  "2024-01-04": {"1. open": "182.1500", "2. high": "183.0872", "3. low": "180.8800", "4. close": "181.9100", "5. volume": "71983570"},
  "2024-01-03": {"1. open": "184.2200", "2. high": "185.8800", "3. low": "183.4300", "4. close": "184.2500", "5. volume": "58414460"},
  "2024-01-02": {"1. open": "187.1500", "2. high": "188.4400", "3. low": "183.8850", "4. close": "185.6400", "5. volume": "82488674"}}}"""
AV_RATE = """{"Information": "Thank you for using Alpha Vantage! Our standard API rate limit is 25 requests per day."}"""
AV_UNKNOWN = """{"Error Message": "Invalid API call. Please retry or visit the documentation (https://www.alphavantage.co/documentation/) for TIME_SERIES_DAILY."}"""
POLYGON_JSON = """{"ticker": "AAPL", "queryCount": 4, "resultsCount": 4, "adjusted": true, "status": "OK",
 "request_id": "6a7e466379af0a71039d60cc78e72282", "results": [
  {"v": 82488674, "vw": 185.9465, "o": 187.15, "c": 185.64, "h": 188.44, "l": 183.885, "t": 1704171600000, "n": 1008871},
  {"v": 58414460, "vw": 184.5121, "o": 184.22, "c": 184.25, "h": 185.88, "l": 183.43, "t": 1704258000000, "n": 656853},
  {"v": 71983570, "vw": 182.0143, "o": 182.15, "c": 181.91, "h": 183.0872, "l": 180.88, "t": 1704344400000, "n": 712692},
  {"v": 62303254, "vw": 181.5083, "o": 181.99, "c": 181.18, "h": 182.76, "l": 180.17, "t": 1704430800000, "n": 682354}]}"""
POLYGON_EMPTY = """{"ticker": "ZZZZ", "queryCount": 0, "resultsCount": 0, "adjusted": true, "status": "OK", "request_id": "x"}"""


class Recorded:
    """Replays answers per URL fragment in order (the last one repeats) and records every request."""

    def __init__(self, answers: dict[str, list[Answer]]):
        self.answers = answers
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, url: str, params: dict[str, str], timeout: float) -> Answer:
        self.requests.append((url, params))
        key = next(k for k in self.answers if k in url or k == params.get("s") or k == params.get("symbol"))
        queue = self.answers[key]
        outcome = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def _bars_ok(frame: pl.DataFrame) -> None:
    assert frame["date"].to_list() == DATES and frame["close"].to_list() == CLOSES
    assert frame["volume"].to_list() == [82488674, 58414460, 71983570, 62303254] and frame["high"][2] == 183.0872


def test_stooq_csv_becomes_bars_and_symbols_become_stooqs():
    get = Recorded({"aapl.us": [Answer(200, STOOQ_CSV)]})
    _bars_ok(StooqTransport(get).fetch("AAPL", START, END))
    assert get.requests[0][1] == {"s": "aapl.us", "i": "d", "d1": "20240101", "d2": "20240105"}
    assert [StooqTransport.symbol(t) for t in ("^GSPC", "BRK-B", "7203.JP", "^FTSE")] == \
        ["^spx", "brk-b.us", "7203.jp", "^ftse"]
    assert StooqTransport(Recorded({"zzzz.us": [Answer(200, "No data")]})).fetch("ZZZZ", START, END).is_empty()
    with pytest.raises(RateLimited):
        StooqTransport(Recorded({"aapl.us": [Answer(200, "Exceeded the daily hits limit")]})).fetch("AAPL", START, END)


def test_alpha_vantage_json_becomes_bars_and_its_notes_become_errors():
    get = Recorded({"AAPL": [Answer(200, AV_JSON)]})
    _bars_ok(AlphaVantageTransport("KEY", get).fetch("AAPL", START, END))
    assert get.requests[0][1]["outputsize"] == "compact" and get.requests[0][1]["apikey"] == "KEY"
    with pytest.raises(RateLimited):
        AlphaVantageTransport("KEY", Recorded({"AAPL": [Answer(200, AV_RATE)]})).fetch("AAPL", START, END)
    with pytest.raises(TickerNotFound, match="Invalid API call"):
        AlphaVantageTransport("KEY", Recorded({"ZZZZ": [Answer(200, AV_UNKNOWN)]})).fetch("ZZZZ", START, END)


def test_polygon_json_becomes_bars_dated_in_new_york():
    get = Recorded({"/AAPL/": [Answer(200, POLYGON_JSON)]})
    _bars_ok(PolygonTransport("KEY", get).fetch("AAPL", START, END))
    url, query = get.requests[0]
    assert url.endswith("/AAPL/range/1/day/2024-01-01/2024-01-05") and query["apiKey"] == "KEY"
    assert PolygonTransport("KEY", Recorded({"/ZZZZ/": [Answer(200, POLYGON_EMPTY)]})).fetch("ZZZZ", START, END) \
        .is_empty()
    for status, error in ((429, RateLimited), (503, Timeout), (403, TickerNotFound)):
        with pytest.raises(error):
            PolygonTransport("KEY", Recorded({"/AAPL/": [Answer(status, "{}")]})).fetch("AAPL", START, END)


def _params(tmp_path, sources):
    return parse_section("ingest", {"source": "download", "download": {
        "tickers": ["AAPL", "ZZZZ"], "start": "2024-01-01", "cache_dir": str(tmp_path / "cache"),
        "sources": sources}})


class YahooDown:
    """Yahoo refusing every request (a rate limit that outlasts the retries)."""

    def __init__(self):
        self.calls = 0

    def fetch(self, ticker, start, end):
        self.calls += 1
        raise RateLimited("HTTP 429")


SOURCES = [{"name": "yahoo", "retries": 1, "backoff_seconds": 0.001, "min_interval_seconds": 0.0},
           {"name": "alpha_vantage", "api_key_env": "ALPHAVANTAGE_API_KEY", "min_interval_seconds": 0.0},
           {"name": "polygon", "api_key_env": "POLYGON_API_KEY", "min_interval_seconds": 0.0},
           {"name": "stooq", "retries": 0, "min_interval_seconds": 0.0}]


def test_each_ticker_falls_back_in_order_and_its_provenance_is_kept(tmp_path):
    get = Recorded({"/AAPL/": [Answer(200, POLYGON_JSON)], "/ZZZZ/": [Answer(200, POLYGON_EMPTY)],
                    "zzzz.us": [Answer(200, "No data")]})
    yahoo = YahooDown()
    bars, meta = load(_params(tmp_path, SOURCES), transport=yahoo, today=END, get=get,
                      environ={"POLYGON_API_KEY": "pk"})
    _bars_ok(bars.drop("ticker"))
    assert yahoo.calls == 4                                         # 1 + 1 retry, for each ticker
    assert meta["served_by"] == {"AAPL": {
        "source": "polygon", "first_date": "2024-01-02", "last_date": "2024-01-05", "rows": 4, "passed_over": [
            "yahoo: AAPL: gave up after 1 retries (RateLimited: HTTP 429); rerun to resume",
            "alpha_vantage: skipped: ALPHAVANTAGE_API_KEY is not set"]}}
    assert meta["not_served"]["ZZZZ"][2:] == ["polygon: no bars", "stooq: no bars"]
    assert "pk" not in str(meta) and (tmp_path / "cache" / "polygon" / "AAPL.parquet").exists()
    assert [u for u, _ in get.requests if "stooq" in u] == ["https://stooq.com/q/d/l/"]   # only ZZZZ got that far


def test_a_served_ticker_is_cached_by_its_source_and_not_asked_again(tmp_path):
    get = Recorded({"aapl.us": [Answer(200, STOOQ_CSV)], "zzzz.us": [Answer(200, "No data")]})
    sources = [{"name": "stooq", "min_interval_seconds": 0.0}]
    load(_params(tmp_path, sources), today=END, get=get)
    asked = len(get.requests)
    bars, meta = load(_params(tmp_path, sources), today=END, get=get)
    assert len(get.requests) == asked + 1 and meta["by_source"]["stooq"]["up_to_date"] == ["AAPL"]  # ZZZZ only
    _bars_ok(bars.drop("ticker"))


def test_no_source_serving_any_ticker_is_one_line(tmp_path):
    with pytest.raises(StockcastError, match=r"^download: no source served any of 2 tickers \(AAPL: yahoo: AAPL: "
                                             r"gave up.*alpha_vantage: skipped: ALPHAVANTAGE_API_KEY is not set"):
        load(_params(tmp_path, SOURCES[:3]), transport=YahooDown(), today=END, get=Recorded({}), environ={})


@pytest.mark.parametrize(("sources", "message"), [
    ([{"name": "polygon"}], "polygon needs api_key_env"),
    ([{"name": "stooq", "api_key_env": "X"}], "stooq needs no api_key_env"),
    ([{"name": "polygon", "api_key_env": "pk_live_0123abc"}], "not an environment variable name"),
    ([{"name": "iex_cloud"}], r"sources\.0\.name"),
    ([{"name": "stooq"}, {"name": "stooq"}], "a source is listed twice"),
])
def test_bad_sources_are_one_line_errors(tmp_path, sources, message):
    with pytest.raises(StockcastError, match=message):
        _params(tmp_path, sources)


def test_the_report_page_says_which_source_served_which_ticker():
    quality = {"rows_in": 4, "provenance": {"source": "download", "served_by": {"AAPL": {
        "source": "polygon", "first_date": "2024-01-02", "last_date": "2024-01-05", "rows": 4}},
        "not_served": {"ZZZZ": ["stooq: no bars"]}}}
    page = render("t", {}, {}, quality, {}, None, {})
    assert "<h2>Data sources</h2>" in page and "<td>polygon</td>" in page and "not served: stooq: no bars" in page
