"""Where daily bars come from. Every source returns the RawOHLCV contract, sorted by ticker, date."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from stockcast.errors import StockcastError
from stockcast.tables import read_table

OHLCV_COLUMNS = ["ticker", "date", "open", "high", "low", "close", "volume", "adj_close"]


def conform(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    """Cast a long OHLCV frame to the raw contract's column order and types, sorted."""
    missing = [c for c in OHLCV_COLUMNS if c not in frame.columns and c != "adj_close"]
    if missing:
        raise StockcastError(f"{origin}: missing column {missing[0]!r} (needs {', '.join(OHLCV_COLUMNS[:-1])})")
    if "adj_close" not in frame.columns:
        frame = frame.with_columns(adj_close=pl.lit(None, dtype=pl.Float64))
    return (
        frame.select(
            pl.col("ticker").cast(pl.String),
            pl.col("date").cast(pl.Date),
            *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")),
            pl.col("volume").cast(pl.Float64).round().cast(pl.Int64),
            pl.col("adj_close").cast(pl.Float64),
        )
        .sort("ticker", "date", maintain_order=True)
    )


def load_sample(path: str | Path) -> pl.DataFrame:
    """The bundled real sample (9 US series with their real defects, see data/sample/README.md)."""
    return conform(read_table(path), str(path))
