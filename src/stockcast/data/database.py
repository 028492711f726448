"""The `sql` source: daily bars from a DuckDB file (embedded, no server) or PostgreSQL / TimescaleDB.

- DuckDB: `duckdb:///data/ohlcv.duckdb` is opened read-only through the duckdb package; the file is also
  `ingest.path`, so DVC hashes the database itself and reruns ingest exactly when it changed.
- PostgreSQL: `postgresql://user@host:port/db` is read through polars.read_database_uri with the ADBC
  PostgreSQL driver (libpq, Arrow end to end). libpq takes the password from PGPASSWORD or ~/.pgpass, never
  from params.yaml. DVC cannot hash a server: the query is a DVC param (a new query reruns ingest), and a
  database that changed under the same query is refetched with `dvc repro -f ingest` (docs/data.md). The meta
  records the query's sha256 and what came back, so `dvc diff` shows when a refetch changed the data.

The query gives OHLCV columns in any spelling columns.py accepts, a ticker column included; an `exchange`
column names each ticker's calendar (exchanges.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import polars as pl

from stockcast.data.columns import conform
from stockcast.data.exchanges import exchanges_in
from stockcast.errors import StockcastError, shown
from stockcast.params import SqlParams


def load_sql(params: SqlParams) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The query's rows as RawOHLCV bars, and the meta: url, query and its sha256, exchanges found."""
    query = params.query or f"SELECT * FROM {params.table}"
    origin = f"sql {params.url}"
    frame = _read_duckdb(params.duckdb_file() or "", query, origin) if params.duckdb_file() is not None \
        else _read_server(params.url, query, origin)
    if frame.is_empty():
        raise StockcastError(f"{origin}: the query returned no rows ({shown(query, 120)})")
    frame = frame.with_columns(pl.col(pl.Decimal).cast(pl.Float64))  # NUMERIC columns: prices as floats
    exchanges = exchanges_in(frame, origin)
    bars = conform(frame, origin)
    return bars, {"url": params.url, "query": query, "query_sha256": hashlib.sha256(query.encode()).hexdigest(),
                  "first_date": str(bars["date"].min()), "last_date": str(bars["date"].max()),
                  "exchanges": exchanges}


def _read_duckdb(path: str, query: str, origin: str) -> pl.DataFrame:
    import duckdb

    if not Path(path).is_file():
        raise StockcastError(f"{origin}: no DuckDB file at {path!r}")
    try:
        with duckdb.connect(path, read_only=True) as connection:
            return pl.read_database(query, connection)
    except duckdb.Error as err:
        raise StockcastError(f"{origin}: {_first_line(err)}") from None


def _read_server(url: str, query: str, origin: str) -> pl.DataFrame:
    import adbc_driver_manager

    try:
        return pl.read_database_uri(query, url.replace("postgres://", "postgresql://", 1), engine="adbc")
    except (adbc_driver_manager.Error, pl.exceptions.PolarsError, OSError) as err:
        raise StockcastError(f"{origin}: {_first_line(err)} (the password comes from PGPASSWORD or ~/.pgpass)") \
            from None


def _first_line(err: BaseException) -> str:
    return shown((str(err).strip().splitlines() or [type(err).__name__])[0], 200)
