"""The download source's fallbacks: Stooq, Alpha Vantage and Polygon as `Transport`s (download.py).

Each turns one HTTP answer into the Transport's columns and its failures into RateLimited, Timeout or
TickerNotFound, so the Downloader retries, rate-limits and caches them as it does Yahoo. HTTP goes through
`Get` (one function), so tests replay recorded answers and never touch the network.

- Stooq: free CSV, no key; split- and dividend-adjusted prices (no Adj Close). US symbols take `.us`.
- Alpha Vantage: TIME_SERIES_DAILY (JSON), key required; a free key is limited to 25 requests a day
  and to the last 100 sessions (outputsize=full is a premium feature): an answer that says so is
  "not served" and the next source is tried.
- Polygon: /v2/aggs (JSON), key required, split-adjusted; free keys reach two years back, 5 requests a minute.
IEX Cloud shut down on 2024-08-31 and is deliberately absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import polars as pl

from stockcast.data.download import RateLimited, TickerNotFound, Timeout


@dataclass(frozen=True)
class Answer:
    status: int
    text: str
    retry_after: float | None = None


Get = Callable[[str, dict[str, str], float], Answer]
"""(url, query parameters, timeout in seconds) -> the answer; raises Timeout when it takes too long."""

_EMPTY = {"date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64, "close": pl.Float64,
          "volume": pl.Int64}
_INDICES = {"^GSPC": "^spx", "^IXIC": "^ndq", "^DJI": "^dji", "^NDX": "^ndx"}  # Yahoo's index names -> Stooq's


def http_get(url: str, params: dict[str, str], timeout: float) -> Answer:
    """The real Get: requests, a dropped connection or a slow server as Timeout."""
    import requests

    try:
        response = requests.get(url, params=params, timeout=timeout)
    except (requests.exceptions.Timeout, requests.exceptions.ConnectionError) as err:
        raise Timeout(f"{type(err).__name__}: {err}") from None
    after = response.headers.get("Retry-After")
    return Answer(response.status_code, response.text, float(after) if after and after.isdigit() else None)


def _checked(answer: Answer, ticker: str, source: str) -> Answer:
    if answer.status == 429:
        raise RateLimited(f"{source}: HTTP 429", answer.retry_after)
    if answer.status >= 500:
        raise Timeout(f"{source}: HTTP {answer.status}")
    if answer.status == 404:
        raise TickerNotFound(f"{source}: {ticker}: HTTP 404")
    if answer.status >= 400:
        raise TickerNotFound(f"{source}: {ticker}: HTTP {answer.status}: {answer.text[:120]}")
    return answer


def _between(frame: pl.DataFrame, start: date, end: date) -> pl.DataFrame:
    return frame.filter((pl.col("date") >= start) & (pl.col("date") < end)).sort("date")


class StooqTransport:
    URL = "https://stooq.com/q/d/l/"

    def __init__(self, get: Get = http_get, timeout_seconds: float = 30.0) -> None:
        self.get, self.timeout_seconds = get, timeout_seconds

    @staticmethod
    def symbol(ticker: str) -> str:
        """Stooq's name: ^GSPC -> ^spx, AAPL -> aapl.us, BRK-B -> brk-b.us; one with an exchange suffix as it is."""
        if ticker in _INDICES:
            return _INDICES[ticker]
        return ticker.lower() if "." in ticker or ticker.startswith("^") else f"{ticker.lower()}.us"

    def fetch(self, ticker: str, start: date, end: date) -> pl.DataFrame:
        answer = _checked(self.get(self.URL, {"s": self.symbol(ticker), "i": "d", "d1": start.strftime("%Y%m%d"),
                                              "d2": (end - timedelta(days=1)).strftime("%Y%m%d")},
                                   self.timeout_seconds), ticker, "stooq")
        text = answer.text.strip()
        if "exceeded the daily hits limit" in text.lower():
            raise RateLimited("stooq: daily hits limit exceeded", retry_after=60.0)
        if not text or text.lower().startswith("no data"):
            return pl.DataFrame(schema=_EMPTY)  # no bars in this range (or an unknown symbol: Stooq says the same)
        frame = pl.read_csv(text.encode(), infer_schema=False)
        if "Date" not in frame.columns:
            raise TickerNotFound(f"stooq: {ticker}: not a price table ({text[:80]!r})")
        frame = frame.select(date=pl.col("Date").str.to_date("%Y-%m-%d"), open=pl.col("Open").cast(pl.Float64),
                             high=pl.col("High").cast(pl.Float64), low=pl.col("Low").cast(pl.Float64),
                             close=pl.col("Close").cast(pl.Float64),
                             volume=pl.col("Volume").cast(pl.Float64).round().cast(pl.Int64)
                             if "Volume" in frame.columns else pl.lit(None, pl.Int64))
        return _between(frame, start, end)


def _json(answer: Answer, source: str) -> Any:
    try:
        return json.loads(answer.text)
    except json.JSONDecodeError:
        raise Timeout(f"{source}: an answer that is not JSON ({answer.text[:80]!r})") from None


class AlphaVantageTransport:
    URL = "https://www.alphavantage.co/query"

    def __init__(self, api_key: str, get: Get = http_get, timeout_seconds: float = 30.0) -> None:
        self.api_key, self.get, self.timeout_seconds = api_key, get, timeout_seconds

    def fetch(self, ticker: str, start: date, end: date) -> pl.DataFrame:
        full = (end - start).days > 140  # compact (the last 100 sessions) when that covers the range
        answer = _checked(self.get(self.URL, {"function": "TIME_SERIES_DAILY", "symbol": ticker,
                                              "outputsize": "full" if full else "compact", "datatype": "json",
                                              "apikey": self.api_key}, self.timeout_seconds), ticker, "alpha_vantage")
        body = _json(answer, "alpha_vantage")
        note = body.get("Note") or body.get("Information")
        if note and any(word in note.lower() for word in ("frequency", "per minute", "rate limit", "per day")):
            raise RateLimited(f"alpha_vantage: {note[:120]}", retry_after=60.0)
        if note or "Error Message" in body:
            raise TickerNotFound(f"alpha_vantage: {ticker}: {(note or body['Error Message'])[:160]}")
        series = body.get("Time Series (Daily)", {})
        if not series:
            return pl.DataFrame(schema=_EMPTY)
        frame = pl.DataFrame({"date": list(series), **{name: [float(bar[key]) for bar in series.values()]
                                                       for key, name in (("1. open", "open"), ("2. high", "high"),
                                                                         ("3. low", "low"), ("4. close", "close"))},
                              "volume": [int(float(bar["5. volume"])) for bar in series.values()]})
        return _between(frame.with_columns(pl.col("date").str.to_date("%Y-%m-%d")), start, end)


class PolygonTransport:
    URL = "https://api.polygon.io/v2/aggs/ticker/{ticker}/range/1/day/{first}/{last}"

    def __init__(self, api_key: str, get: Get = http_get, timeout_seconds: float = 30.0) -> None:
        self.api_key, self.get, self.timeout_seconds = api_key, get, timeout_seconds

    def fetch(self, ticker: str, start: date, end: date) -> pl.DataFrame:
        url = self.URL.format(ticker=ticker.replace("^", "I:"), first=start.isoformat(),
                              last=(end - timedelta(days=1)).isoformat())
        answer = self.get(url, {"adjusted": "true", "sort": "asc", "limit": "50000", "apiKey": self.api_key},
                          self.timeout_seconds)
        if answer.status in (401, 403):  # a plan that does not cover this ticker or range: the next source
            raise TickerNotFound(f"polygon: {ticker}: HTTP {answer.status}: {answer.text[:120]}")
        body = _json(_checked(answer, ticker, "polygon"), "polygon")
        results = body.get("results") or []
        if not results:
            return pl.DataFrame(schema=_EMPTY)
        frame = pl.DataFrame(results).select(
            # t: the bar's start, milliseconds since 1970 UTC, midnight in New York: its date there
            date=pl.from_epoch("t", time_unit="ms").dt.convert_time_zone("America/New_York").dt.date(),
            open=pl.col("o").cast(pl.Float64), high=pl.col("h").cast(pl.Float64), low=pl.col("l").cast(pl.Float64),
            close=pl.col("c").cast(pl.Float64), volume=pl.col("v").cast(pl.Float64).round().cast(pl.Int64))
        return _between(frame, start, end)
