"""Sources: the sample, a user's folder of files, the synthetic market; tickers never become bad paths."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import polars as pl
import pytest

from stockcast.data.columns import conform
from stockcast.data.directory import load_directory
from stockcast.data.sources import load, sidecar_path, write_meta
from stockcast.data.tickers import cache_path, read_universe, ticker_from_filename, validate_ticker
from stockcast.errors import StockcastError, shown
from stockcast.params import parse_section
from stockcast.params_check import check_sections
from stockcast.schemas import RawOHLCV

from .conftest import ROOT, SAMPLE

YAHOO_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2020-01-02,74.06,75.15,73.80,75.09,73.45,135480400
2020-01-03,74.29,75.14,74.13,74.36,72.74,146322800
2020-01-06,73.45,74.99,73.19,74.95,73.31,118387200
"""


def _ingest(**params) -> tuple[pl.DataFrame, dict]:
    return load(parse_section("ingest", params))


def test_sample_source_reads_the_bundled_file():
    bars, meta = load(parse_section("ingest", {"source": "sample", "path": str(SAMPLE)}))
    RawOHLCV.validate(bars)
    assert bars.height == 39_329 and meta["tickers"] == 9 and meta["source"] == "sample"
    assert bars.select(pl.struct("ticker", "date").is_unique().all()).item()


def test_directory_source_accepts_yahoo_columns(tmp_path):
    (tmp_path / "AAPL.csv").write_text(YAHOO_CSV)
    bars, meta = _ingest(source="directory", path=str(tmp_path))
    RawOHLCV.validate(bars)
    assert bars.columns == ["ticker", "date", "open", "high", "low", "close", "volume", "adj_close"]
    assert bars["ticker"].unique().to_list() == ["AAPL"] and meta["files"] == 1
    assert bars["date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)]
    assert bars["adj_close"][0] == pytest.approx(73.45) and bars["volume"][0] == 135_480_400


def test_directory_source_accepts_case_spaces_underscores_and_an_unnamed_index(tmp_path):
    index = pd.date_range("2020-01-02", periods=3, freq="B", tz="America/New_York")
    frame = pd.DataFrame({"OPEN": [1.0, 2, 3], "high": [2.0, 3, 4], "Low": [0.5, 1, 2], "close ": [1.5, 2.5, 3.5],
                          "adj_close": [1.4, 2.4, 3.4], "VOLUME": [10, 20, 30]}, index=index)
    frame.to_parquet(tmp_path / "MSFT.parquet")            # pandas stores the unnamed index as __index_level_0__
    frame.to_csv(tmp_path / "NVDA.csv")                    # and writes it under an empty header in CSV
    with gzip.open(tmp_path / "IBM.csv.gz", "wt") as out:  # compressed CSV, Yahoo spellings
        out.write(YAHOO_CSV.replace("Adj Close", "Adj_Close"))
    bars, _ = load_directory(tmp_path)
    assert sorted(bars["ticker"].unique()) == ["IBM", "MSFT", "NVDA"]
    # midnight New York time stays the same calendar day (no shift to the UTC date)
    assert bars.filter(pl.col("ticker") == "MSFT")["date"].to_list() == [
        date(2020, 1, 2), date(2020, 1, 3), date(2020, 1, 6)]
    assert bars.filter(pl.col("ticker") == "NVDA")["date"].to_list()[0] == date(2020, 1, 2)


def test_directory_source_reads_long_files_and_globs(tmp_path):
    sample = pl.read_parquet(SAMPLE).filter(pl.col("ticker").is_in(["IBM", "FB"]))
    sample.rename({"ticker": "Symbol", "adj_close": "Adj Close"}).write_csv(tmp_path / "long.csv")
    (tmp_path / "AAPL.csv").write_text(YAHOO_CSV)
    bars, _ = load_directory(str(tmp_path / "*.csv"))
    assert sorted(bars["ticker"].unique()) == ["AAPL", "FB", "IBM"]
    assert bars.filter(pl.col("ticker") != "AAPL").height == sample.height


def test_directory_source_parses_common_date_formats():
    frame = pl.DataFrame({"Date": ["01/02/2020", "01/03/2020"], "Open": ["1", "2"], "High": ["2", "3"],
                          "Low": ["1", "1"], "Close": ["1.5", "2.5"], "Volume": ["1,000", "null"]})
    bars = conform(frame, "x.csv", "X")
    assert bars["date"].to_list() == [date(2020, 1, 2), date(2020, 1, 3)]
    assert bars["volume"].to_list() == [1000, None]  # a null stays null: quality decides, not the reader


@pytest.mark.parametrize(("content", "message"), [
    ("Date,Open,High,Low,Volume\n2020-01-02,1,2,0.5,10\n", r"AAPL\.csv: missing column 'close'"),
    ("Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,0.5,abc,10\n",
     r"AAPL\.csv: column 'Close': 1 values are not numbers \(first: 'abc'\)"),
    ("Date,Open,High,Low,Close,Volume\nyesterday,1,2,0.5,1,10\n",
     r"AAPL\.csv: column 'Date': 1 values are not dates"),
    ("Date,Open,High,Low,Close,close,Volume\n2020-01-02,1,2,0.5,1,1,10\n",
     r"AAPL\.csv: columns 'Close' and 'close' both mean 'close'"),
])
def test_a_bad_file_is_a_one_line_error_naming_the_file_and_column(tmp_path, content, message):
    (tmp_path / "AAPL.csv").write_text(content)
    with pytest.raises(StockcastError, match=message) as info:
        load_directory(tmp_path)
    assert "\n" not in str(info.value)


def test_an_unreadable_parquet_file_is_named(tmp_path):
    (tmp_path / "AAPL.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(StockcastError, match=r"AAPL\.parquet: cannot read this file"):
        load_directory(tmp_path)


def test_an_empty_folder_or_missing_path_is_an_error(tmp_path):
    with pytest.raises(StockcastError, match="no data files found"):
        load_directory(tmp_path)
    with pytest.raises(StockcastError, match="no such file or folder"):
        load_directory(tmp_path / "nope")


@pytest.mark.parametrize("bad", ["../etc", "a/b", "a\\b", "..", ".hidden", "", "x" * 40, "A..B", "nul\0"])
def test_tickers_with_separators_or_dots_are_rejected(bad):
    with pytest.raises(StockcastError, match="not a valid ticker"):
        validate_ticker(bad)


@pytest.mark.parametrize("good", ["AAPL", "^GSPC", "BRK-B", "BRK.B", "EURUSD=X", "0700.HK", "ES=F"])
def test_real_symbols_are_accepted(good):
    assert validate_ticker(good) == good


def test_ticker_cannot_escape_the_cache_dir(tmp_path):
    assert cache_path(tmp_path, "^GSPC") == tmp_path / "^GSPC.parquet"
    for bad in ("../../x", "/etc/passwd", "a/../../b"):
        with pytest.raises(StockcastError):
            cache_path(tmp_path, bad)
    with pytest.raises(StockcastError, match="ingest.download.tickers: '../secret' is not a valid ticker"):
        check_sections({"ingest": parse_section("ingest", {"download": {"tickers": ["AAPL", "../secret"]}})})


def test_a_ticker_column_with_a_path_in_it_is_rejected():
    frame = pl.DataFrame({"ticker": ["../x"], "date": [date(2020, 1, 2)], "open": [1.0], "high": [1.0],
                          "low": [1.0], "close": [1.0], "volume": [1]})
    with pytest.raises(StockcastError, match="long.parquet: column 'ticker'.*not a valid ticker"):
        conform(frame, "long.parquet")


def test_file_names_give_tickers(tmp_path):
    assert ticker_from_filename(Path("BRK.B.csv")) == "BRK.B"
    assert ticker_from_filename(Path("msft.csv.gz")) == "msft"
    with pytest.raises(StockcastError):
        ticker_from_filename(Path("my prices.csv"))


def test_universe_file_lists_tickers_in_order_once(tmp_path):
    (tmp_path / "u.txt").write_text("# S&P names\nAAPL\nMSFT  # software\n\nAAPL\n^GSPC\n")
    assert read_universe(tmp_path / "u.txt") == ["AAPL", "MSFT", "^GSPC"]
    (tmp_path / "u.csv").write_text("name,Symbol\nApple,AAPL\nNvidia,NVDA\n")
    assert read_universe(tmp_path / "u.csv") == ["AAPL", "NVDA"]
    (tmp_path / "bad.txt").write_text("AAPL\n../../etc\n")
    with pytest.raises(StockcastError, match=r"bad\.txt: '\.\./\.\./etc' is not a valid ticker"):
        read_universe(tmp_path / "bad.txt")


def test_synthetic_source_follows_its_params():
    bars, meta = load(parse_section("ingest", {"source": "synthetic", "synthetic": {
        "mode": "planted", "tickers": 3, "days": 300, "seed": 4, "bayes_accuracy": 0.6}}))
    RawOHLCV.validate(bars)
    assert bars.height == 900 and meta["source"] == "synthetic" and meta["bayes_accuracy"] == 0.6


def test_meta_is_written_beside_the_table(tmp_path):
    path = write_meta({"source": "synthetic", "bayes_accuracy": 0.55}, tmp_path / "raw" / "ohlcv.parquet")
    assert path == sidecar_path(tmp_path / "raw" / "ohlcv.parquet") == tmp_path / "raw" / "ohlcv.meta.json"
    assert '"bayes_accuracy": 0.55' in path.read_text()


def test_ingest_stage_writes_the_raw_table_and_its_meta(tmp_path):
    (tmp_path / "params.yaml").write_text(
        "ingest:\n  source: synthetic\n  synthetic: {mode: planted, tickers: 2, days: 100, seed: 1}\n")
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "ingest.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    RawOHLCV.validate(pl.read_parquet(tmp_path / "data" / "raw" / "ohlcv.parquet"))
    meta = json.loads((tmp_path / "data" / "raw" / "ohlcv.meta.json").read_text())
    assert meta["source"] == "synthetic" and meta["rows"] == 200 and meta["bayes_accuracy"] == 0.55


def test_ingest_stage_with_a_bad_folder_prints_one_line(tmp_path):
    (tmp_path / "params.yaml").write_text("ingest:\n  source: directory\n  path: nowhere\n")
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "ingest.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.strip().splitlines() == ["error: nowhere: no such file or folder"]


def _rows(bars: pl.DataFrame) -> list[tuple]:
    return bars.select("date", "open", "high", "low", "close", "adj_close", "volume").rows()


YAHOO_ROWS = [(date(2020, 1, 2), 74.06, 75.15, 73.80, 75.09, 73.45, 135_480_400),
              (date(2020, 1, 3), 74.29, 75.14, 74.13, 74.36, 72.74, 146_322_800),
              (date(2020, 1, 6), 73.45, 74.99, 73.19, 74.95, 73.31, 118_387_200)]


@pytest.mark.parametrize(("tail", "blank"), [("\n", 1), (",,,,,,\n", 1), ("\n\n,,,,,,\n  \n", 4),
                                             (" , ,,,,,\n", 1)])
def test_blank_lines_and_all_empty_rows_are_skipped_and_counted(tmp_path, tail, blank):
    """A trailing blank line or `,,,,,,` row stopped ingest with "2 empty dates"; now it is counted."""
    (tmp_path / "AAPL.csv").write_text(YAHOO_CSV + tail)
    bars, meta = _ingest(source="directory", path=str(tmp_path))
    assert _rows(bars) == YAHOO_ROWS
    assert meta["blank_rows"] == {str(tmp_path / "AAPL.csv"): blank} and meta["rows"] == 3


@pytest.mark.parametrize("separator", [";", "\t"])
def test_semicolon_and_tab_files_with_a_decimal_comma_are_read(tmp_path, separator):
    text = YAHOO_CSV.replace(",", separator)
    (tmp_path / "AAPL.csv").write_text(text)
    assert _rows(load_directory(tmp_path)[0]) == YAHOO_ROWS                         # 74.06: decimal point
    (tmp_path / "AAPL.csv").write_text(text.replace(".", ","))                       # 74,06: decimal comma
    assert _rows(load_directory(tmp_path)[0]) == YAHOO_ROWS
    (tmp_path / "AAPL.csv").write_text(text.replace(".", ",").replace("135480400", "135.480.400"))
    assert _rows(load_directory(tmp_path)[0]) == YAHOO_ROWS                         # 135.480.400 shares


def test_european_thousands_and_decimal_comma_are_read():
    frame = pl.DataFrame({"Date": ["2020-01-02"], "Open": ["1.234,5"], "High": ["1.300,25"], "Low": ["1.200"],
                          "Close": ["1.250"], "Volume": ["1.234.567"]})
    bars = conform(frame, "x.csv", "X", decimal=",")
    assert bars.select("open", "high", "low", "close", "volume").row(0) == (1234.5, 1300.25, 1200.0, 1250.0, 1234567)


@pytest.mark.parametrize(("content", "message"), [
    ("Date;Open;High;Low;Close;Volume\n2020-01-02;1.5;2;1;1,5;10\n",
     r"AAPL\.csv: prices are written both as '1\.5' and '1,5': which is the decimal mark\? .*semicolon-separated"),
    ('Date,Open,High,Low,Close,Volume\n2020-01-02,"74,06",75,73,74,10\n',
     r"AAPL\.csv: column 'Open': '74,06' is not a number with decimal mark '\.' and ',' between thousands"),
    ("Date|Open|High|Low|Close|Volume\n2020-01-02|1|2|1|1|10\n",
     r"AAPL\.csv: one column only \('Date\|Open\|High\|Low\|Close\|Volume'\): the delimiter is none of comma, semicolon"),
    ("Date;Open;High;Low;Close;Volume\n2020-01-02;1;2;1;1;10;11\n",
     r"AAPL\.csv: cannot read this file as semicolon-separated CSV"),
])
def test_a_delimiter_or_decimal_mark_that_cannot_be_read_is_named(tmp_path, content, message):
    (tmp_path / "AAPL.csv").write_text(content)
    with pytest.raises(StockcastError, match=message) as info:
        load_directory(tmp_path)
    assert "\n" not in str(info.value)


def test_hidden_and_editor_files_are_skipped_and_listed(tmp_path):
    """A macOS `._NFLX.csv` (binary resource fork) stopped the whole ingest."""
    (tmp_path / "AAPL.csv").write_text(YAHOO_CSV)
    (tmp_path / "._NFLX.csv").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X")
    (tmp_path / "~$MSFT.csv").write_text("locked by Excel")
    (tmp_path / "IBM.csv~").write_text("a backup")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    bars, meta = _ingest(source="directory", path=str(tmp_path))
    assert _rows(bars) == YAHOO_ROWS and meta["files"] == 1
    assert meta["skipped_files"] == [str(tmp_path / n) for n in (".DS_Store", "._NFLX.csv", "IBM.csv~", "~$MSFT.csv")]
    only_hidden = tmp_path / "hidden"
    only_hidden.mkdir()
    (only_hidden / "._NFLX.csv").write_bytes(b"\x00")
    with pytest.raises(StockcastError, match="no data files found .*skipped hidden or editor files"):
        load_directory(only_hidden)
    assert load_directory(str(tmp_path / "*.csv"))[1]["skipped_files"] == [str(tmp_path / "~$MSFT.csv")]


def test_a_10000_character_ticker_gives_a_short_line(tmp_path):
    """It gave a 10,175-character line; a value in a message is cut at 80 characters."""
    (tmp_path / "long.csv").write_text("Ticker," + YAHOO_CSV.splitlines()[0] + "\n" + "X" * 10_000 + ","
                                       + YAHOO_CSV.splitlines()[1] + "\n")
    with pytest.raises(StockcastError, match=r"long\.csv: column 'ticker': 'XXX+… \(10,002 chars\) is not a valid ticker") as info:
        load_directory(tmp_path)
    assert len(str(info.value)) - len(str(tmp_path)) < 250 and "\n" not in str(info.value)


def test_shown_cuts_long_values_only():
    assert shown("AAPL") == "'AAPL'" and shown(3.5) == "3.5"
    cut = shown("y" * 500)
    assert len(cut) < 100 and cut.startswith("'yyy") and cut.endswith("… (502 chars)")


def test_a_glob_ingest_path_is_a_params_error_that_says_how_to_split_it():
    with pytest.raises(StockcastError, match=r"ingest\.path: .*'/x/\*\.csv' is a glob.*set path: '/x' and pattern: "
                                             r"'\*\.csv'"):
        parse_section("ingest", {"source": "directory", "path": "/x/*.csv"})
    with pytest.raises(StockcastError, match=r"ingest\.pattern: .*must stay inside the folder"):
        parse_section("ingest", {"source": "directory", "path": "/x", "pattern": "../y/*.csv"})
    with pytest.raises(StockcastError, match="pattern applies to the directory source only"):
        parse_section("ingest", {"source": "sample", "pattern": "*.parquet"})


def test_a_folder_and_pattern_in_ingest_work_under_dvc_repro(tmp_path):
    """`ingest.path: /x/*.csv` failed under `dvc repro` (the stage depends on its path, and DVC hashes
    paths, not globs): the folder is the dependency, the glob selects inside it, and editing a file reruns."""
    from .project import copy_project, run, set_params

    prices = tmp_path / "prices"  # outside the repository, as in the issue
    prices.mkdir()
    (prices / "AAPL.csv").write_text(YAHOO_CSV + ",,,,,,\n")
    (prices / "MSFT.csv").write_text(YAHOO_CSV.replace(",", ";"))
    (prices / "._NFLX.csv").write_bytes(b"\x00\x05\x16\x07")  # not even a match: glob skips dot files
    (prices / "~$NFLX.csv").write_bytes(b"\x00\x05\x16\x07")  # a match, skipped and listed
    (prices / "notes.txt").write_text("not matched by *.csv")
    repo = tmp_path / "repo"
    repo.mkdir()
    copy_project(repo)
    set_params(repo, {"ingest": {"source": "directory", "path": str(prices), "pattern": "*.csv"}})
    out = run(["dvc", "repro", "ingest"], repo)
    assert "ingest: 6 rows, 2 tickers from directory" in out and "skipped 1 blank rows" in out
    meta = json.loads((repo / "data/raw/ohlcv.meta.json").read_text())
    assert meta["path"] == str(prices / "*.csv") and meta["files"] == 2
    assert meta["skipped_files"] == [str(prices / "~$NFLX.csv")]
    assert "up to date" in run(["dvc", "repro", "ingest"], repo)
    (prices / "IBM.csv").write_text(YAHOO_CSV)
    assert "ingest: 9 rows, 3 tickers" in run(["dvc", "repro", "ingest"], repo)
    assert pl.read_parquet(repo / "data/raw/ohlcv.parquet")["ticker"].unique().sort().to_list() == ["AAPL", "IBM", "MSFT"]
