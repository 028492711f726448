"""Where daily bars come from: every source returns RawOHLCV rows sorted by ticker and date, plus a meta dict.

- sample: the bundled real sample (data/sample/ohlcv.parquet, 9 US series with their real defects)
- directory: a user's parquet or CSV files (directory.py)
- download: a market-data API, cached and incremental (download.py)
- synthetic: a seeded simulated market (synthetic.py)
- sql: a DuckDB file or a PostgreSQL / TimescaleDB server (database.py)

The meta dict (which source, how many rows and tickers; for synthetic markets their truth, such as
bayes_accuracy and the splits planted) is written beside the table as FILE.meta.json.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from stockcast.data.columns import conform
from stockcast.data.database import load_sql
from stockcast.data.directory import load_directory
from stockcast.data.download import Downloader, Transport, YFinanceTransport
from stockcast.data.synthetic import generate
from stockcast.data.tickers import read_universe
from stockcast.params import DownloadParams, IngestParams
from stockcast.tables import read_table

NEW_YORK = ZoneInfo("America/New_York")


def load(params: IngestParams, transport: Transport | None = None, today: date | None = None,
         ) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The bars of the configured source and its meta; `transport` and `today` let tests run offline.

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
        bars, meta = _download(params.download, transport, today or datetime.now(NEW_YORK).date())
    else:
        s = params.synthetic
        bars, meta = generate(s.mode, s.tickers, s.days, s.seed, bayes_accuracy=s.bayes_accuracy)
    return bars, {"source": params.source, "rows": bars.height, "tickers": bars["ticker"].n_unique(), **meta}


def load_sample(path: str | Path) -> pl.DataFrame:
    """The bundled real sample (9 US series with their real defects, see data/sample/README.md)."""
    return conform(read_table(path), str(path))


def _download(params: DownloadParams, transport: Transport | None, today: date) -> tuple[pl.DataFrame, dict]:
    tickers = read_universe(Path(params.universe_file)) if params.universe_file else params.tickers
    downloader = Downloader(transport or YFinanceTransport(params.timeout_seconds), Path(params.cache_dir),
                            params.retries, params.backoff_seconds, params.min_interval_seconds)
    bars = downloader.update_all(tickers, params.start, today)
    return conform(bars, "download"), {"cache_dir": params.cache_dir, "until": str(today),
                                        **asdict(downloader.summary)}


def sidecar_path(path: str | Path) -> Path:
    """FILE.meta.json beside FILE (its suffix replaced): where a table's source and truth are described."""
    return Path(path).with_suffix(".meta.json")


def write_meta(meta: dict[str, Any], path: str | Path) -> Path:
    """Write `meta` as the sidecar JSON of the table at `path`; return the sidecar's path."""
    target = sidecar_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n")
    return target
