"""Column spellings and types: any source's frame becomes the RawOHLCV contract here, or fails naming why.

Users' files come from Yahoo (`Date, Open, High, Low, Close, Adj Close, Volume`), pandas (`Unnamed: 0`,
`__index_level_0__` for an index), Kaggle dumps (`symbol`, `adj_close`) and spreadsheets (`1,234,567`, or `1.234,5` with a decimal comma).
Names are matched ignoring case, spaces, underscores and punctuation; values are parsed strictly, so a
column that is not what it claims is a one-line error naming the file, the column and a bad value.
"""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from stockcast.data.tickers import validate_ticker
from stockcast.errors import StockcastError, shown

OHLCV_COLUMNS = ["ticker", "date", "open", "high", "low", "close", "volume", "adj_close"]
REQUIRED = ["date", "open", "high", "low", "close", "volume"]
PRICE_COLUMNS = ["open", "high", "low", "close", "adj_close"]

# normalised spelling (lower case, letters and digits only) -> contract column
_ALIASES = {
    "ticker": "ticker", "symbol": "ticker",
    "date": "date", "datetime": "date", "timestamp": "date", "time": "date",
    "open": "open", "high": "high", "low": "low", "close": "close",
    "adjclose": "adj_close", "adjustedclose": "adj_close",
    "volume": "volume", "vol": "volume",
}
# what pandas calls an index it wrote without a name (CSV: "" or "Unnamed: 0"; parquet: __index_level_0__)
_UNNAMED_INDEX = {"", "unnamed0", "indexlevel0", "index"}
# date formats tried in order on text dates, after the ISO date prefix (which also covers time-zone suffixes)
_DATE_FORMATS = ("%Y%m%d", "%m/%d/%Y", "%Y/%m/%d", "%d.%m.%Y")
NULL_TEXT = ["", "null", "NULL", "NaN", "nan", "NA", "N/A", "None", "-"]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def contract_names(frame: pl.DataFrame, origin: str) -> dict[str, str]:
    """{file's column: contract column} for the columns the contract knows; an unnamed index may be the date."""
    mapping: dict[str, str] = {}
    unnamed = None
    for name in frame.columns:
        target = _ALIASES.get(_key(name))
        if target is None:
            unnamed = name if _key(name) in _UNNAMED_INDEX and unnamed is None else unnamed
            continue
        if target in mapping.values():
            other = next(k for k, v in mapping.items() if v == target)
            raise StockcastError(f"{origin}: columns {shown(other)} and {shown(name)} both mean {target!r}; keep one")
        mapping[name] = target
    if "date" not in mapping.values() and unnamed is not None:
        mapping[unnamed] = "date"
    return mapping


def conform(frame: pl.DataFrame, origin: str, ticker: str | None = None, decimal: str = ".") -> pl.DataFrame:
    """Any OHLCV frame -> RawOHLCV columns and types, sorted by ticker and date.

    `ticker` names a one-ticker file's rows when the frame has no ticker column (long files have one);
    `decimal` is the decimal mark of numbers written as text ("." or ",", see decimal_mark).
    """
    mapping = contract_names(frame, origin)
    label = {new: old for old, new in mapping.items()}  # errors name the file's own column
    frame = frame.select(pl.col(old).alias(new) for old, new in mapping.items())
    if "ticker" not in frame.columns:
        if ticker is None:
            raise StockcastError(f"{origin}: missing column 'ticker' (a long file needs one; "
                                 "a one-ticker file is named for its ticker, e.g. AAPL.csv)")
        frame = frame.with_columns(ticker=pl.lit(ticker))
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise StockcastError(f"{origin}: missing column {missing[0]!r} (needs Date, Open, High, Low, Close, "
                             "Volume in any case, spaces or underscores; Adj Close is optional)")
    if "adj_close" not in frame.columns:
        frame = frame.with_columns(adj_close=pl.lit(None, dtype=pl.Float64))
    frame = frame.with_columns(
        ticker=pl.col("ticker").cast(pl.String),
        date=_dates(frame["date"].alias(label["date"]), origin),
        **{c: _numbers(frame[c].alias(label.get(c, c)), origin, decimal).alias(c) for c in PRICE_COLUMNS},
        volume=_numbers(frame["volume"].alias(label["volume"]), origin, decimal, keep_integers=True).alias("volume"),
    )
    if frame["ticker"].null_count():
        raise StockcastError(f"{origin}: column 'ticker' has empty values")
    volume = pl.col("volume")
    if not frame["volume"].dtype.is_integer():  # fractional, infinite or NaN share counts: rounded or null
        volume = pl.when(volume.is_finite() & (volume.abs() < 9e18)).then(volume.round())
    bars = frame.select("ticker", "date", *PRICE_COLUMNS[:4], volume.cast(pl.Int64), "adj_close").pipe(sort_bars)
    symbols = bars["ticker"].gather(np.flatnonzero(np.diff(bars["ticker"].rle_id().to_numpy(), prepend=-1)))
    if (symbols != symbols.str.strip_chars()).any():  # " AAPL" in a CSV: strip, then sort again
        bars = sort_bars(bars.with_columns(pl.col("ticker").str.strip_chars()))
    for symbol in symbols.str.strip_chars().unique(maintain_order=True):  # sorted: each ticker is one run
        validate_ticker(symbol, f"{origin}: column 'ticker'")
    return bars


def _bad(series: pl.Series, parsed: pl.Series, origin: str, what: str) -> None:
    failed = series.filter(series.is_not_null() & parsed.is_null())
    if failed.len():
        raise StockcastError(f"{origin}: column {series.name!r}: {failed.len()} values are not {what} "
                             f"(first: {shown(failed[0])})")


def _dates(series: pl.Series, origin: str) -> pl.Series:
    """Calendar dates as the exchange printed them: a time zone is dropped, never converted (no day shift)."""
    dtype = series.dtype
    if dtype == pl.Date:
        parsed = series
    elif isinstance(dtype, pl.Datetime):
        parsed = series.dt.replace_time_zone(None).dt.date()
    elif dtype.is_integer() or dtype == pl.String:
        text = series.cast(pl.String).str.strip_chars()
        parsed = text.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False)
        for fmt in _DATE_FORMATS:
            if parsed.null_count() == text.null_count():
                break
            parsed = parsed.fill_null(text.str.to_date(fmt, strict=False))
    else:
        raise StockcastError(f"{origin}: column {series.name!r} has type {dtype}, not dates")
    _bad(series, parsed.alias(series.name), origin, "dates (YYYY-MM-DD, with or without a time and zone)")
    if parsed.null_count():
        raise StockcastError(f"{origin}: column {series.name!r} has {parsed.null_count()} empty dates")
    return parsed.alias("date")


def decimal_mark(frame: pl.DataFrame, origin: str, separator: str) -> str:
    """The decimal mark of a CSV file's prices: "," when a semicolon- or tab-separated file writes them as
    `1,5` or `1.234,5`, else ".". In a comma-separated file a comma can only be a thousands separator.

    A file that writes some prices as `1.5` and others as `1,5` is a one-line error: guessing would scale
    one of the two by a thousand.
    """
    prices = [name for name, target in contract_names(frame, origin).items()
              if target in PRICE_COLUMNS and frame[name].dtype == pl.String]
    if separator == "," or not prices:
        return "."
    cells = pl.concat([frame[name].drop_nulls().str.strip_chars() for name in prices])
    comma, dot = cells.str.contains(",", literal=True), cells.str.contains(".", literal=True)
    if not comma.any():
        return "."
    if not dot.any() or cells.str.contains(r"\.\d*,").any():  # 1,5 or 1.234,5
        return ","
    if cells.str.contains(r",\d*\.").any():                    # 1,234.5
        return "."
    raise StockcastError(f"{origin}: prices are written both as {shown(cells.filter(dot)[0])} and "
                         f"{shown(cells.filter(comma)[0])}: which is the decimal mark? Write them one way "
                         f"(read as {'semicolon' if separator == ';' else 'tab'}-separated)")


def _numbers(series: pl.Series, origin: str, decimal: str = ".", keep_integers: bool = False) -> pl.Series:
    """Float64 values (integers kept if asked); null-like text is null. Text may group thousands with the
    mark that is not `decimal` (1,234.5 or 1.234,5); any other use of it (74,06 in a comma-decimal world
    read as decimal ".") is an error naming the decimal mark, never a number a hundred times too large."""
    if series.dtype.is_integer() and keep_integers:
        return series
    if series.dtype.is_numeric():
        return series.cast(pl.Float64)
    if series.dtype == pl.Null:
        return series.cast(pl.Float64)
    if series.dtype != pl.String:
        raise StockcastError(f"{origin}: column {series.name!r} has type {series.dtype}, not numbers")
    thousands = "," if decimal == "." else "."
    text = series.str.strip_chars().replace(NULL_TEXT, None)
    grouped = text.str.contains(thousands, literal=True).fill_null(False)
    if grouped.any():
        groups = rf"^[+-]?\d{{1,3}}(\{thousands}\d{{3}})+(\{decimal}\d*)?$"
        wrong = text.filter(grouped & ~text.str.contains(groups).fill_null(False))
        if wrong.len():
            raise StockcastError(f"{origin}: column {series.name!r}: {shown(wrong[0])} is not a number with "
                                 f"decimal mark {decimal!r} and {thousands!r} between thousands "
                                 f"({wrong.len()} such values; a decimal comma is read in semicolon or tab files)")
        text = text.str.replace_all(thousands, "", literal=True)
    if decimal == ",":
        text = text.str.replace(",", ".", literal=True)
    parsed = text.cast(pl.Float64, strict=False)
    _bad(text, parsed, origin, "numbers")
    return parsed


def sort_bars(frame: pl.DataFrame) -> pl.DataFrame:
    """Sort by ticker then date, keeping input order among equal keys (a duplicate's first row stays first).

    Sorting ten million rows by a string costs seconds, so an already sorted frame is returned as is.
    """
    if frame.height < 2:
        return frame
    if frame["ticker"].is_sorted():
        new_ticker = np.diff(frame["ticker"].rle_id().to_numpy()) != 0
        if np.all(new_ticker | (np.diff(frame["date"].to_physical().to_numpy()) >= 0)):
            return frame
    return frame.with_row_index("_order").sort("ticker", "date", "_order").drop("_order")
