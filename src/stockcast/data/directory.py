"""The `directory` source: a user's own parquet or CSV files, one per ticker or long format.

A one-ticker file is named for its ticker (`AAPL.csv`, `BRK-B.parquet`); a long file has a ticker
(or symbol) column. Both may sit in the same folder. Column spellings and date formats are those of
columns.py; a file that cannot be read or lacks a column is a one-line error naming the file.

What spreadsheets and file managers leave behind is tolerated and reported, never silently:
- hidden and editor files in a folder or a glob's matches (`.*`, `~*`, `*~`: macOS `._AAPL.csv`,
  Excel's `~$AAPL.csv`, `AAPL.csv~` backups) are skipped and listed;
- blank lines and all-empty rows (`,,,,,,`, often at the end of an export) are skipped and counted;
- the delimiter is sniffed from the header (comma, semicolon or tab), and a semicolon or tab file
  may write prices with a decimal comma (`1,5`), as Excel does in much of Europe (columns.decimal_mark).
"""

from __future__ import annotations

import glob
import gzip
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from stockcast.data.columns import conform, contract_names, decimal_mark, sort_bars
from stockcast.data.exchanges import exchanges_in, merge
from stockcast.data.tickers import DATA_SUFFIXES, ticker_from_filename
from stockcast.errors import StockcastError, shown

_GLOB_CHARS = set("*?[")
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
_HEAD_BYTES = 64 * 1024  # enough to hold any header line


@dataclass(frozen=True)
class DataFiles:
    found: list[Path]    # the files to read, sorted
    skipped: list[Path]  # hidden and editor files left out


@dataclass(frozen=True)
class _Read:
    bars: pl.DataFrame
    blank_rows: int  # blank lines and all-empty rows skipped
    exchanges: dict[str, str]  # {ticker: exchange} from an `exchange` column, if the file has one


def is_hidden(path: Path) -> bool:
    """A hidden or editor file: `.name` (macOS `._AAPL.csv`), `~name` (Excel's `~$AAPL.csv`), `name~` (backups)."""
    return path.name.startswith((".", "~")) or path.name.endswith("~")


def data_files(path: str | Path) -> DataFiles:
    """The data files `path` names: itself, the parquet/CSV files directly in a folder, or a glob's matches.

    A file named explicitly is read whatever its name; in a folder or a glob, hidden and editor files are not.
    """
    text = str(path)
    if _GLOB_CHARS & set(text):
        candidates = [Path(p) for p in sorted(glob.glob(text, recursive=True)) if Path(p).is_file()]
    elif Path(text).is_dir():
        candidates = sorted(p for p in Path(text).iterdir() if p.is_file() and (_is_data(p) or is_hidden(p)))
    elif Path(text).is_file():
        return DataFiles([Path(text)], [])
    else:
        raise StockcastError(f"{text}: no such file or folder")
    found = [p for p in candidates if not is_hidden(p)]
    if not found:
        raise StockcastError(f"{text}: no data files found (expected {', '.join(DATA_SUFFIXES)}"
                             f"{'; skipped hidden or editor files' if candidates else ''})")
    return DataFiles(found, [p for p in candidates if is_hidden(p)])


def _is_data(path: Path) -> bool:
    return path.name.lower().endswith(DATA_SUFFIXES)


def sniff_delimiter(path: Path) -> str:
    """The delimiter of a CSV file: whichever of comma, semicolon and tab its header line holds most often."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES).decode("utf-8", errors="replace")
    header = next((line for line in head.splitlines() if line.strip()), "")
    counts = {sep: header.count(sep) for sep in DELIMITERS}
    return max(counts, key=lambda sep: (counts[sep], sep == ","))  # a tie (or none at all) reads as comma


def _blank(frame: pl.DataFrame) -> pl.Expr:
    """Rows whose every cell is empty: a blank line, or `,,,,,,` at the end of a spreadsheet export."""
    return pl.all_horizontal(pl.col(c).is_null() | (pl.col(c).str.strip_chars() == "") for c in frame.columns)


def read_file(path: Path) -> _Read:
    """One data file as RawOHLCV rows; its ticker comes from a ticker column or else from its name."""
    origin, parquet = str(path), path.name.lower().endswith((".parquet", ".pq"))
    separator, blank_rows, decimal = ",", 0, "."
    try:
        if parquet:
            frame = pl.read_parquet(path)
        else:
            separator = sniff_delimiter(path)
            frame = pl.read_csv(path, separator=separator, infer_schema=False)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        read_as = "" if parquet else f" as {DELIMITERS[separator]}-separated CSV"
        raise StockcastError(f"{origin}: cannot read this file{read_as} ({shown(first, 200)})") from None
    if not parquet:
        if frame.width == 1:
            raise StockcastError(f"{origin}: one column only ({shown(frame.columns[0])}): the delimiter is none "
                                 f"of {', '.join(DELIMITERS.values())}")
        kept = frame.filter(~_blank(frame))
        blank_rows, frame = frame.height - kept.height, kept
        decimal = decimal_mark(frame, origin, separator)
    ticker = None if "ticker" in contract_names(frame, origin).values() else ticker_from_filename(path)
    return _Read(conform(frame, origin, ticker, decimal), blank_rows, exchanges_in(frame, origin, ticker))


def load_directory(path: str | Path) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Every data file under `path` (file, folder or glob), concatenated and sorted by ticker and date, and
    what reading them skipped and found: {files, skipped_files (hidden, editor), blank_rows (per file, when any),
    exchanges ({ticker: exchange} of files with an exchange column)}."""
    files = data_files(path)
    with ThreadPoolExecutor(max_workers=4) as pool:  # polars releases the GIL while parsing
        read = list(pool.map(read_file, files.found))
    notes = {"files": len(files.found), "skipped_files": [str(p) for p in files.skipped],
             "blank_rows": {str(p): r.blank_rows for p, r in zip(files.found, read) if r.blank_rows}, "exchanges": {}}
    for found, r in zip(files.found, read):
        notes["exchanges"] = merge(notes["exchanges"], r.exchanges, str(found), "an earlier file")
    return sort_bars(pl.concat([r.bars for r in read])), notes
