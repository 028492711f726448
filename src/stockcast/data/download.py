"""The `download` source: daily bars from a market-data API, cached per ticker, incremental and polite.

- Cache: `<cache_dir>/<ticker>.parquet` (RawOHLCV rows of one ticker), written atomically (temp file,
  then rename), so an interrupted run leaves every finished ticker cached and a rerun resumes.
- Incremental: a cached ticker is asked only for dates after its last bar with a close (and after
  the end of an earlier request that found nothing, kept in the file's metadata). If the new
  bars include a split or dividend, Yahoo has restated every earlier adj_close, so that ticker's
  history is fetched again in full (mixing old and new adj_close would fake a jump).
- Retries: a rate limit (HTTP 429) or a timeout is retried up to `retries` times after
  backoff_seconds * 2**attempt (capped at 60 s), or the server's Retry-After if longer.
- Rate limit: at least `min_interval_seconds` between two requests.
- Fallbacks (`update_with_fallbacks`): sources tried in order per ticker; the first that has bars serves
  the ticker's whole series (a series is never stitched from two vendors: their adjustments differ). A source
  that does not know the ticker, has no bars for it or gives up after its retries passes it on; a ticker no
  source serves is listed with what each said, not an error.

The API is behind `Transport` (one method), so tests inject a fake one and never touch the network.
`YFinanceTransport` is the real one (yfinance, Yahoo Finance's chart API).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from stockcast.data.columns import conform
from stockcast.data.tickers import cache_path, validate_ticker
from stockcast.errors import StockcastError

MAX_BACKOFF_SECONDS = 60.0
_FETCHED_UNTIL = "stockcast.fetched_until"  # parquet metadata: the API was asked up to here (exclusive)
_FETCHED_FROM = "stockcast.fetched_from"    # ... and from here: a first bar after it is the ticker's first


class TransientError(Exception):
    """A failure worth retrying: the server is busy or slow, not wrong."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """HTTP 429: too many requests."""


class Timeout(TransientError):
    """The request timed out or the connection dropped."""


class TickerNotFound(Exception):
    """The API does not know this symbol (or it is delisted): not retried."""


class GaveUp(StockcastError):
    """A source still failed after its retries."""


class Transport(Protocol):
    def fetch(self, ticker: str, start: date, end: date) -> pl.DataFrame:
        """Daily bars with start <= date < end: Date, Open, High, Low, Close, Adj Close, Volume (any
        spelling columns.py accepts) and an optional boolean `event` (a split or dividend that day).
        Raises RateLimited, Timeout or TickerNotFound."""
        ...


@dataclass
class DownloadSummary:
    """What a download run did, for the ingest meta file and the stage's log line."""

    requests: int = 0
    fetched_rows: int = 0
    up_to_date: list[str] = field(default_factory=list)
    refetched: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)


@dataclass
class Downloader:
    """Keeps `<cache_dir>/<ticker>.parquet` up to date through `transport`."""

    transport: Transport
    cache_dir: Path
    retries: int = 5
    backoff_seconds: float = 2.0
    min_interval_seconds: float = 0.5
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    summary: DownloadSummary = field(default_factory=DownloadSummary)
    _last_request: float | None = field(default=None, init=False)

    def update_all(self, tickers: Sequence[str], start: date, end: date) -> pl.DataFrame:
        """Bring every ticker's cache up to `end` (exclusive) and return their bars from `start`, long format."""
        symbols = [validate_ticker(t) for t in tickers]
        frames = [self.update(t, start, end) for t in symbols]
        found = [f for f in frames if not f.is_empty()]
        if not found:
            raise StockcastError(f"download: no bars for any of {len(symbols)} tickers "
                                 f"(not found: {', '.join(self.summary.not_found) or 'none'})")
        return pl.concat(found).filter(pl.col("date") >= start)

    def update(self, ticker: str, start: date, end: date) -> pl.DataFrame:
        """One ticker's bars, cached; only the dates after the cache's last good bar are requested."""
        path = cache_path(self.cache_dir, ticker)
        cached, fetched_until, fetched_from = _read_cache(path)
        good = cached.filter(pl.col("close").is_not_null())
        covered = fetched_from or (good["date"].min() if not good.is_empty() else None)
        if good.is_empty() or covered > start:
            cached, begin = cached.clear(), start  # nothing usable, or the wanted range now starts earlier
            fetched_from = start
        else:
            begin = good["date"].max() + timedelta(days=1)
            if fetched_until is not None and cached["date"].max() < begin:  # no placeholder bar to replace
                begin = max(begin, fetched_until)  # the API already said it had nothing more before this
            cached = cached.filter(pl.col("date") < begin)
        if begin >= end:
            self.summary.up_to_date.append(ticker)
            return cached
        try:
            new, event = self._fetch(ticker, begin, end)
            if event and not cached.is_empty():
                self.summary.refetched.append(ticker)
                cached = cached.clear()
                new, _ = self._fetch(ticker, start, end)
                fetched_from = start
        except TickerNotFound:
            self.summary.not_found.append(ticker)
            return cached
        bars = pl.concat([cached, new]).unique("date", keep="last").sort("date")
        if not bars.is_empty():  # an empty answer vouches for its whole range; bars only up to the last one
            _write_cache(bars, path, end if new.is_empty() else new["date"].max() + timedelta(days=1),
                         fetched_from or start)
        return bars

    def _fetch(self, ticker: str, start: date, end: date) -> tuple[pl.DataFrame, bool]:
        """(RawOHLCV bars, whether a split or dividend falls in them), retrying transient failures."""
        for attempt in range(self.retries + 1):
            self._wait_turn()
            try:
                frame = self.transport.fetch(ticker, start, end)
                break
            except TransientError as err:
                if attempt == self.retries:
                    raise GaveUp(f"download: {ticker}: gave up after {self.retries} retries "
                                         f"({type(err).__name__}: {err}); rerun to resume") from None
                delay = min(self.backoff_seconds * 2**attempt, MAX_BACKOFF_SECONDS)
                self.sleep(max(delay, err.retry_after or 0.0))
        event = "event" in frame.columns and bool(frame["event"].fill_null(False).any())
        bars = conform(frame.drop("event", strict=False), f"download {ticker}", ticker)
        bars = bars.filter((pl.col("date") >= start) & (pl.col("date") < end))
        self.summary.fetched_rows += bars.height
        return bars, event

    def _wait_turn(self) -> None:
        """Sleep until `min_interval_seconds` have passed since the previous request."""
        now = self.clock()
        if self._last_request is not None:
            wait = self._last_request + self.min_interval_seconds - now
            if wait > 0:
                self.sleep(wait)
                now += wait
        self._last_request = now
        self.summary.requests += 1


@dataclass(frozen=True)
class Source:
    """A source of the fallback chain: its Downloader, or why it cannot be used (no API key in the environment)."""

    name: str
    downloader: Downloader | None
    unusable: str = ""


def update_with_fallbacks(chain: Sequence[Source], tickers: Sequence[str], start: date, end: date,
                          ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Every ticker's bars from `start` from the first source in `chain` that has them, and the provenance:
    served_by {ticker: source, first and last date, rows}, not_served {ticker: what each source said}."""
    served: dict[str, dict[str, Any]] = {}
    not_served: dict[str, list[str]] = {}
    frames = []
    for ticker in (validate_ticker(t) for t in tickers):
        said = []
        for source in chain:
            if source.downloader is None:
                said.append(f"{source.name}: {source.unusable}")
                continue
            try:
                bars = source.downloader.update(ticker, start, end).filter(pl.col("date") >= start)
            except GaveUp as err:
                said.append(f"{source.name}: {str(err).removeprefix('download: ')}")
                continue
            if bars.is_empty():
                known = ticker not in source.downloader.summary.not_found
                said.append(f"{source.name}: {'no bars' if known else 'unknown ticker'}")
                continue
            served[ticker] = {"source": source.name, "first_date": str(bars["date"].min()),
                              "last_date": str(bars["date"].max()), "rows": bars.height} | (
                {"passed_over": said} if said else {})
            frames.append(bars)
            break
        else:
            not_served[ticker] = said
    if not frames:
        first = next(iter(not_served.items()))
        raise StockcastError(f"download: no source served any of {len(not_served)} tickers "
                             f"({first[0]}: {'; '.join(first[1])})")
    return pl.concat(frames), {"served_by": served, "not_served": not_served}


def _read_cache(path: Path) -> tuple[pl.DataFrame, date | None, date | None]:
    """A ticker's cached bars and the range its requests covered (from inclusive, until exclusive; None where
    unknown: caches written before `fetched_from` was kept); nothing if missing or unreadable."""
    empty = pl.DataFrame(schema={"ticker": pl.String, "date": pl.Date, "open": pl.Float64, "high": pl.Float64,
                                 "low": pl.Float64, "close": pl.Float64, "volume": pl.Int64,
                                 "adj_close": pl.Float64})
    if not path.exists():
        return empty, None, None
    try:
        meta = pl.read_parquet_metadata(path)
        until, since = meta.get(_FETCHED_UNTIL), meta.get(_FETCHED_FROM)
        return (pl.read_parquet(path).select(empty.columns).cast(empty.schema), until and date.fromisoformat(until),
                since and date.fromisoformat(since))
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return empty, None, None  # a damaged cache is refetched in full, not trusted


def _write_cache(bars: pl.DataFrame, path: Path, fetched_until: date, fetched_from: date) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    bars.write_parquet(partial, compression="zstd", metadata={_FETCHED_UNTIL: fetched_until.isoformat(),
                                                              _FETCHED_FROM: fetched_from.isoformat()})
    os.replace(partial, path)  # atomic: a reader sees the old file or the new one, never half of one


class YFinanceTransport:
    """Yahoo Finance through yfinance: raw OHLC (auto_adjust=False), Adj Close, and split/dividend events."""

    def __init__(self, timeout_seconds: float = 30.0) -> None:
        import yfinance

        yfinance.config.debug.hide_exceptions = False  # we want the errors, to retry or report them
        self._yf = yfinance
        self.timeout_seconds = timeout_seconds

    def fetch(self, ticker: str, start: date, end: date) -> pl.DataFrame:
        from yfinance import exceptions as yfe

        try:
            frame = self._yf.Ticker(ticker).history(
                start=start.isoformat(), end=end.isoformat(), interval="1d", auto_adjust=False, actions=True,
                timeout=self.timeout_seconds)
        except yfe.YFRateLimitError as err:
            raise RateLimited(str(err)) from None
        except yfe.YFPricesMissingError:
            frame = None  # no bars in this range (a holiday week, or nothing new yet)
        except yfe.YFTickerMissingError as err:
            raise TickerNotFound(str(err)) from None
        except _network_errors() as err:
            raise Timeout(f"{type(err).__name__}: {err}") from None
        return from_yfinance(frame)


def from_yfinance(frame: Any) -> pl.DataFrame:
    """yfinance's pandas frame (DatetimeIndex named Date, Dividends, Stock Splits) -> Transport's columns."""
    if frame is None or len(frame) == 0:
        return pl.DataFrame(schema={"date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
                                    "close": pl.Float64, "volume": pl.Int64, "event": pl.Boolean})
    table = pl.from_pandas(frame.reset_index())
    actions = [c for c in ("Dividends", "Stock Splits") if c in table.columns]
    return table.with_columns(event=pl.any_horizontal(*(pl.col(c).fill_null(0) != 0 for c in actions))
                              if actions else pl.lit(False)).drop(actions)


def _network_errors() -> tuple[type[BaseException], ...]:
    """Timeouts and dropped connections of the HTTP stacks yfinance may use."""
    errors: list[type[BaseException]] = [TimeoutError, ConnectionError]
    try:
        from curl_cffi.requests import exceptions as curl

        errors += [curl.Timeout, curl.ConnectionError]
    except ImportError:
        pass
    try:
        import requests

        errors += [requests.exceptions.Timeout, requests.exceptions.ConnectionError]
    except ImportError:
        pass
    return tuple(errors)
