"""Hostile OHLCV files: `stockcast audit` and the pipeline (ingest, then the quality stage's own script) agree on
every row, no row is lost, and nothing non-finite, non-positive or from the future is ever clean."""

from __future__ import annotations

import contextlib
import json
import runpy
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.directory import load_directory
from stockcast.data.ledger import RULES
from stockcast.data.sources import write_meta
from stockcast.errors import StockcastError
from stockcast.schemas import RawOHLCV
from stockcast.tables import write_table

from .conftest import ROOT

QUALITY_STAGE = runpy.run_path(str(ROOT / "stages" / "quality.py"))["main"]  # the stage's own code, not a copy
runner = CliRunner()
SESSIONS = [date(2020, 1, d) for d in (2, 3, 6, 7, 8, 9, 10, 13, 14, 15, 16, 17)]  # XNYS sessions
COLUMNS = ["open", "high", "low", "close", "adj_close", "volume"]
PARAMS = "quality:\n  min_history_days: 1\n"  # every ticker may stay: the rules, not the length, decide
UNIVERSE = ROOT / "data" / "sample" / "universe.csv"  # its tickers are on XNAS: the others on quality.calendar
FUTURE = [date(2099, 1, 2), date(2150, 6, 1), date(2999, 12, 31)]


def _base(tickers: list[str]) -> list[dict[str, str]]:
    """Consistent bars as text cells: close 100+i, a range of 1 around it, adj_close 0.9 x close."""
    rows = []
    for t, ticker in enumerate(tickers):
        for i, day in enumerate(SESSIONS):
            close = 100 + 10 * t + i
            rows.append({"ticker": ticker, "date": str(day), "open": f"{close - 0.5}", "high": f"{close + 1}",
                         "low": f"{close - 1}", "close": f"{close}", "adj_close": f"{close * 0.9:.4f}",
                         "volume": f"{1000 + i}"})
    return rows


HOSTILE_PRICES = ["", "inf", "-inf", "NaN", "nan", "0", "-0", "-10", "1e308", "1.8e308", "1e-300", "1e-320", "0.5",
                  "1000000", " 101 ", "null", "-"]
HOSTILE_VOLUMES = ["", "inf", "NaN", "0", "-5", "1e30", "1.5", "9223372036854775807"]
SYMBOLS = ["AAPL", "^GSPC", "BRK.B", "0700.HK", "ES=F", "EURUSD=X", " MSFT ", "a"]
NOT_SYMBOLS = ["../x", "A B", "X" * 40, ""]
odd_tickers = st.tuples(st.lists(st.sampled_from(SYMBOLS), min_size=2, max_size=2, unique=True),
                        st.sampled_from([None] * 9 + NOT_SYMBOLS))  # one file in ten has a ticker ingest refuses


def _table(tickers: list[str], seed: int, rate: float) -> list[dict[str, str]]:
    """The base bars with each cell made hostile with probability `rate` (a seeded draw, so every cell is as
    likely to be hit: hypothesis alone favours short edit lists), some dates moved to the future, some rows
    repeated, and the rows shuffled (or left sorted)."""
    rng = np.random.default_rng(seed)
    rows = _base(tickers)
    for row in rows:
        for column in COLUMNS:
            if rng.random() < rate:
                row[column] = str(rng.choice(HOSTILE_VOLUMES if column == "volume" else HOSTILE_PRICES))
        if rng.random() < rate / 2:
            row["date"] = str(FUTURE[rng.integers(len(FUTURE))])
    for at in rng.choice(len(rows), rng.binomial(len(rows), rate / 2)):  # a repeated (ticker, date)
        rows.append(dict(rows[at], close=rows[at]["close"] if rng.random() < 0.5 else "100.25"))
    return rows if rng.random() < 0.2 else [rows[i] for i in rng.permutation(len(rows))]


def _audit(csv: Path, params: Path, work: Path) -> tuple[int, str, dict | None, pl.DataFrame | None]:
    report, rows = work / "audit.json", work / "audit-quarantine.parquet"
    done = runner.invoke(app, ["audit", str(csv), "--params", str(params), "--universe", str(UNIVERSE), "--json", str(report),
                               "--quarantine", str(rows)], terminal_width=10_000)
    if done.exit_code:
        return done.exit_code, done.output, None, None
    return 0, done.output, json.loads(report.read_text()), pl.read_parquet(rows)


def _pipeline(csv: Path, params: Path, work: Path) -> tuple[str | None, dict | None, pl.DataFrame | None]:
    """ingest (the directory source's reader) then the quality stage's script, as `dvc repro` runs them."""
    try:
        bars, notes = load_directory(csv)
    except StockcastError as err:
        return str(err), None, None
    with contextlib.chdir(work):
        write_table(bars, "data/raw/ohlcv.parquet", RawOHLCV)
        write_meta(notes, "data/raw/ohlcv.parquet")
        Path("params.yaml").write_text(params.read_text() + f"universe: {{path: {UNIVERSE}}}\n")
        QUALITY_STAGE()  # a broken contract on any output would raise here, as it aborted the stage
        return None, json.loads(Path("data/quarantine/report.json").read_text()), pl.read_parquet(
            "data/quarantine/ohlcv.parquet")


@settings(max_examples=120, derandomize=True, database=None, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(symbols=odd_tickers, seed=st.integers(0, 2**32 - 1), rate=st.sampled_from([0.01, 0.03, 0.1, 0.3]))
def test_audit_and_the_quality_stage_agree_on_hostile_files(symbols, seed, rate):
    tickers = symbols[0] if symbols[1] is None else [symbols[0][0], symbols[1]]
    rows = _table(tickers, seed, rate)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        csv, params = work / "prices.csv", work / "params.yaml"
        pl.DataFrame(rows, schema=dict.fromkeys(["ticker", "date", *COLUMNS], pl.String)).write_csv(csv)
        params.write_text(PARAMS)
        code, output, report, quarantine = _audit(csv, params, work)
        error, stage_report, stage_quarantine = _pipeline(csv, params, work)
        if error is not None:  # ingest refuses the file (a ticker that is no symbol): audit says the same line
            assert code == 2 and output.strip() == f"error: {error}" and "\n" not in error
            assert symbols[1] is not None
            return
        assert code == 0, output
        provenance = stage_report.pop("provenance")  # the stage adds where ingest got the data; audit reads it direct
        assert provenance.get("served_by") is None
        assert report == stage_report                         # one code path: the same verdict on every rule
        assert quarantine.equals(stage_quarantine)
        assert report["rows_in"] == len(rows) == report["rows_clean"] + report["rows_quarantined"]
        assert sum(report["by_rule"].values()) == report["rows_quarantined"] and set(report["by_rule"]) == set(RULES)
        clean = pl.read_parquet(work / "data/clean/ohlcv.parquet")
        assert clean.height == report["rows_clean"]
        prices = clean.select("open", "high", "low", "close").to_numpy()
        adj = clean["adj_close"].drop_nulls().to_numpy()
        assert np.isfinite(prices).all() and (prices > 0).all() and np.isfinite(adj).all() and (adj > 0).all()
        assert clean.is_empty() or clean["date"].max() <= date.fromisoformat(report["last_completed_session"])
        future = {(r["ticker"].strip(), date.fromisoformat(r["date"])) for r in rows if r["date"] > "2098"}
        assert future <= set(quarantine.select("ticker", "date").iter_rows())
