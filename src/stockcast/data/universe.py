"""The universe file: who could be traded when, in which sector, at what borrow cost.

Columns (CSV, one row per ticker; all but `ticker` optional): ticker, name, sector, industry,
exchange, currency, listed, delisted (ISO dates, both inclusive: the first and last session the
ticker trades), delisting_return (the return from the last close to what holders received, CRSP's
DLRET: -1 for a bankruptcy that wiped out the equity, the premium for a cash takeover), borrow_bps
(the ticker's own annual borrow fee on shorts, replacing backtest.borrow_bps_per_year).

A ticker of the data that the file does not list trades whenever it has data, in sector "unknown";
a universe where no ticker ever delists is the survivors only, which the report says in words.
"""

from __future__ import annotations

import difflib
from pathlib import Path

import polars as pl

from stockcast.errors import StockcastError, shown

SCHEMA = {"ticker": pl.String, "name": pl.String, "sector": pl.String, "industry": pl.String,
          "exchange": pl.String, "currency": pl.String, "listed": pl.Date, "delisted": pl.Date,
          "delisting_return": pl.Float64, "borrow_bps": pl.Float64}
UNKNOWN_SECTOR = "unknown"


def read_universe_file(path: str | Path) -> pl.DataFrame:
    """The universe table with every SCHEMA column (missing ones null); a bad file is a one-line error."""
    path = Path(path)
    try:
        raw = pl.read_csv(path, infer_schema=False)
    except FileNotFoundError:
        raise StockcastError(f"{path}: universe file not found (universe.path)") from None
    except pl.exceptions.PolarsError as err:
        raise StockcastError(f"{path}: not a readable CSV ({str(err).splitlines()[0]})") from None
    unknown = [c for c in raw.columns if c not in SCHEMA]
    if unknown:
        close = difflib.get_close_matches(unknown[0], list(SCHEMA), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise StockcastError(f"{path}: unknown column {shown(unknown[0])} ({hint}known: {', '.join(SCHEMA)})")
    if "ticker" not in raw.columns:
        raise StockcastError(f"{path}: no ticker column")
    table = raw.with_columns(pl.col(c).str.strip_chars().replace("", None) for c in raw.columns)
    table = table.with_columns(pl.lit(None, pl.String).alias(c) for c in SCHEMA if c not in table.columns)
    for column, dtype in SCHEMA.items():
        parsed = table[column].cast(dtype, strict=False) if dtype != pl.Date else \
            table[column].str.to_date("%Y-%m-%d", strict=False)
        bad = table.filter(parsed.is_null() & table[column].is_not_null())
        if bad.height:
            raise StockcastError(f"{path}: {column} {shown(bad[column][0])} of ticker {shown(bad['ticker'][0])} is not "
                                 f"{'an ISO date' if dtype == pl.Date else 'a number'}")
        table = table.with_columns(parsed.alias(column))
    table = table.select(list(SCHEMA))
    if table["ticker"].null_count():
        raise StockcastError(f"{path}: a row has no ticker")
    repeated = table.filter(table["ticker"].is_duplicated())["ticker"].unique().sort()
    if repeated.len():
        raise StockcastError(f"{path}: ticker {shown(repeated[0])} is listed twice")
    late = table.filter(pl.col("delisted") < pl.col("listed"))
    if late.height:
        raise StockcastError(f"{path}: {late['ticker'][0]} is delisted ({late['delisted'][0]}) before it is "
                             f"listed ({late['listed'][0]})")
    return table.with_columns(pl.col("sector").fill_null(UNKNOWN_SECTOR))


def universe_of(tickers: pl.Series, table: pl.DataFrame | None) -> tuple[pl.DataFrame, list[str]]:
    """One universe row per ticker of the data (those the file lacks: sector "unknown", nothing else
    known), and the list of tickers the file lacks."""
    frame = pl.DataFrame({"ticker": tickers.unique().sort()})
    if table is None:
        table = pl.DataFrame(schema=SCHEMA)
    rows = frame.join(table, on="ticker", how="left").with_columns(pl.col("sector").fill_null(UNKNOWN_SECTOR))
    missing = frame.join(table, on="ticker", how="anti")["ticker"].to_list() if table.height else []
    return rows, missing
