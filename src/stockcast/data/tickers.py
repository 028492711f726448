"""Ticker symbols: checked before one is ever turned into a file name.

A ticker comes from a params file, a universe file or a data file name, and the download cache
writes `<cache_dir>/<ticker>.parquet`. A symbol like `../../etc/x` or `a/b` must never get that
far, so every ticker is validated here first.
"""

from __future__ import annotations

import re
from pathlib import Path

from stockcast.errors import StockcastError, shown

# Yahoo-style symbols: letters, digits and . ^ = - _ & (^GSPC, BRK-B, BRK.B, EURUSD=X, 0700.HK, ES=F).
_TICKER = re.compile(r"[A-Za-z0-9^][A-Za-z0-9.^=_&-]{0,31}")
DATA_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz", ".txt")


def validate_ticker(ticker: str, origin: str = "ticker") -> str:
    """Return `ticker` stripped if it is a safe symbol; otherwise a one-line error naming `origin`."""
    symbol = ticker.strip()
    if not _TICKER.fullmatch(symbol) or ".." in symbol:
        raise StockcastError(
            f"{origin}: {shown(ticker)} is not a valid ticker (1-32 of A-Z a-z 0-9 . ^ = - _ &, "
            "starting with a letter, digit or ^; no path separators, no '..')")
    return symbol


def ticker_from_filename(path: Path) -> str:
    """The ticker a one-ticker file is named for: `AAPL.csv`, `BRK.B.parquet`, `msft.csv.gz` keep their case."""
    name = path.name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return validate_ticker(name, str(path))


def cache_path(cache_dir: Path, ticker: str) -> Path:
    """`<cache_dir>/<ticker>.parquet`, refusing anything that would resolve outside `cache_dir`."""
    symbol = validate_ticker(ticker, str(cache_dir))
    path = cache_dir / f"{symbol}.parquet"
    if path.resolve().parent != cache_dir.resolve():
        raise StockcastError(f"{cache_dir}: ticker {shown(ticker)} would be written outside the cache folder")
    return path


def read_universe(path: Path) -> list[str]:
    """Tickers from a universe file: one per line, or a CSV whose first column (or `ticker`/`symbol`) holds them.

    Blank lines and `#` comments are skipped, order is kept and repeats are dropped.
    """
    try:
        lines = path.read_text().splitlines()
    except OSError as err:
        raise StockcastError(f"{path}: cannot read the universe file ({err.strerror})") from None
    rows = [line.split("#", 1)[0].strip() for line in lines]
    rows = [row for row in rows if row]
    if rows and "," in rows[0]:
        header = [h.strip().lower() for h in rows[0].split(",")]
        column = next((header.index(h) for h in ("ticker", "symbol") if h in header), None)
        rows = [row.split(",")[column or 0].strip() for row in rows[1 if column is not None else 0:]]
    tickers = [validate_ticker(row, str(path)) for row in rows]
    if not tickers:
        raise StockcastError(f"{path}: the universe file lists no tickers")
    return list(dict.fromkeys(tickers))
