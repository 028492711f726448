"""Where daily bars come from: every source returns RawOHLCV rows sorted by ticker and date, plus a meta dict.

- sample: the bundled real sample (data/sample/ohlcv.parquet, 9 US series with their real defects)
- directory: a user's parquet or CSV files (directory.py)
- download: market-data APIs tried in order per ticker, cached and incremental (download.py, vendors.py)
- synthetic: a seeded simulated market (synthetic.py)
- sql: a DuckDB file or a PostgreSQL / TimescaleDB server (database.py)

The meta dict (which source, how many rows and tickers; for synthetic markets their truth, such as
bayes_accuracy and the splits planted) is written beside the table as FILE.meta.json.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from stockcast.data.columns import conform
from stockcast.data.database import load_sql
from stockcast.data.directory import load_directory
from stockcast.data.download import Downloader, Source, Transport, YFinanceTransport, update_with_fallbacks
from stockcast.data.synthetic import generate
from stockcast.data.tickers import read_universe
from stockcast.data.vendors import AlphaVantageTransport, Get, PolygonTransport, StooqTransport, http_get
from stockcast.params import DownloadParams, IngestParams, SourceParams
from stockcast.tables import read_table

NEW_YORK = ZoneInfo("America/New_York")


def load(params: IngestParams, transport: Transport | None = None, today: date | None = None,
         get: Get | None = None, environ: Mapping[str, str] | None = None) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The bars of the configured source and its meta. Tests run offline: `transport` replaces Yahoo's,
    `get` the HTTP of the others, `environ` the environment the API keys are read from, `today` the clock.

    A download asks for bars before `today` in New York: today's bar is never complete before the close,
    and a cached incomplete bar would never be fetched again.
    """
    if params.source == "sample":
        bars, meta = load_sample(params.path), {"path": params.path}
    elif params.source == "directory":
        bars, notes = load_directory(params.location())
        meta = {"path": params.location(), **notes}
    elif params.source == "sql":
        bars, meta = load_sql(params.sql)
    elif params.source == "download":
        bars, meta = _download(params.download, transport, today or datetime.now(NEW_YORK).date(), get or http_get,
                               os.environ if environ is None else environ)
    else:
        s = params.synthetic
        bars, meta = generate(s.mode, s.tickers, s.days, s.seed, bayes_accuracy=s.bayes_accuracy)
    return bars, {"source": params.source, "rows": bars.height, "tickers": bars["ticker"].n_unique(), **meta}


def load_sample(path: str | Path) -> pl.DataFrame:
    """The bundled real sample (9 US series with their real defects, see data/sample/README.md)."""
    return conform(read_table(path), str(path))


def _download(params: DownloadParams, transport: Transport | None, today: date, get: Get,
              environ: Mapping[str, str]) -> tuple[pl.DataFrame, dict]:
    tickers = read_universe(Path(params.universe_file)) if params.universe_file else params.tickers
    chain = [_source(s, params, transport, get, environ) for s in params.sources]
    bars, provenance = update_with_fallbacks(chain, tickers, params.start, today)
    summaries = {s.name: asdict(s.downloader.summary) for s in chain if s.downloader is not None}
    return conform(bars, "download"), {"cache_dir": params.cache_dir, "until": str(today),
                                        "requests": sum(s["requests"] for s in summaries.values()),
                                        **provenance, "by_source": summaries}


def _source(source: SourceParams, params: DownloadParams, transport: Transport | None, get: Get,
            environ: Mapping[str, str]) -> Source:
    """One source of the chain; a keyed one whose variable is unset is listed as unusable, not an error."""
    key = environ.get(source.api_key_env, "") if source.api_key_env else ""
    if source.api_key_env and not key:
        return Source(source.name, None, f"skipped: {source.api_key_env} is not set")
    timeout = params.timeout_seconds
    vendor: Transport = {
        "yahoo": lambda: transport or YFinanceTransport(timeout),
        "stooq": lambda: StooqTransport(get, timeout),
        "alpha_vantage": lambda: AlphaVantageTransport(key, get, timeout),
        "polygon": lambda: PolygonTransport(key, get, timeout),
    }[source.name]()
    cache = Path(params.cache_dir) if source.name == "yahoo" else Path(params.cache_dir) / source.name
    return Source(source.name, Downloader(vendor, cache, source.retries, source.backoff_seconds,
                                          source.min_interval_seconds))


def sidecar_path(path: str | Path) -> Path:
    """FILE.meta.json beside FILE (its suffix replaced): where a table's source and truth are described."""
    return Path(path).with_suffix(".meta.json")


def write_meta(meta: dict[str, Any], path: str | Path) -> Path:
    """Write `meta` as the sidecar JSON of the table at `path`; return the sidecar's path."""
    target = sidecar_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return target
