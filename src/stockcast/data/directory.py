"""The `directory` source: a user's own parquet or CSV files, one per ticker or long format.

A one-ticker file is named for its ticker (`AAPL.csv`, `BRK-B.parquet`); a long file has a ticker
(or symbol) column. Both may sit in the same folder. Column spellings and date formats are those of
columns.py; a file that cannot be read or lacks a column is a one-line error naming the file.
"""

from __future__ import annotations

import glob
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import polars as pl

from stockcast.data.columns import conform, contract_names, sort_bars
from stockcast.data.tickers import DATA_SUFFIXES, ticker_from_filename
from stockcast.errors import StockcastError

_GLOB_CHARS = set("*?[")


def data_files(path: str | Path) -> list[Path]:
    """The data files `path` names: itself, the parquet/CSV files directly in a folder, or a glob's matches."""
    text = str(path)
    if _GLOB_CHARS & set(text):
        found = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
    elif Path(text).is_dir():
        found = sorted(p for p in Path(text).iterdir() if p.is_file() and _is_data(p))
    elif Path(text).is_file():
        found = [Path(text)]
    else:
        raise StockcastError(f"{text}: no such file or folder")
    if not found:
        raise StockcastError(f"{text}: no data files found (expected {', '.join(DATA_SUFFIXES)})")
    return found


def _is_data(path: Path) -> bool:
    return path.name.lower().endswith(DATA_SUFFIXES)


def read_file(path: Path) -> pl.DataFrame:
    """One data file as RawOHLCV rows; its ticker comes from a ticker column or else from its name."""
    origin = str(path)
    try:
        if path.name.lower().endswith((".parquet", ".pq")):
            frame = pl.read_parquet(path)
        else:
            frame = pl.read_csv(path, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise StockcastError(f"{origin}: cannot read this file ({first})") from None
    long = "ticker" in contract_names(frame, origin).values()
    return conform(frame, origin, None if long else ticker_from_filename(path))


def load_directory(path: str | Path) -> pl.DataFrame:
    """Every data file under `path` (file, folder or glob), concatenated and sorted by ticker and date."""
    files = data_files(path)
    with ThreadPoolExecutor(max_workers=4) as pool:  # polars releases the GIL while parsing
        frames = list(pool.map(read_file, files))
    return sort_bars(pl.concat(frames))
