"""`stockcast audit`: the quality checks on any file or folder, a readable table, an optional JSON report."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import polars as pl
from typer.testing import CliRunner

from stockcast.cli import app

from .conftest import ROOT, SAMPLE

runner = CliRunner()


def test_audit_prints_the_rules_and_writes_the_json_report(tmp_path):
    out, rows = tmp_path / "audit.json", tmp_path / "quarantine.parquet"
    done = runner.invoke(app, ["audit", str(SAMPLE), "--json", str(out), "--quarantine", str(rows)])
    assert done.exit_code == 0, done.output
    assert "zero_volume" in done.output and "missing sessions: 2" in done.output
    assert "MSFT 1998-10-29 missing_session" in done.output
    assert "quarantined: ^IXIC zero_volume 2 rows" in done.output
    assert pl.read_parquet(rows).height == json.loads(out.read_text())["rows_quarantined"]
    report = json.loads(out.read_text())
    assert report["rows_in"] == 39_329 == report["rows_clean"] + report["rows_quarantined"]
    assert report["by_rule"]["zero_volume"] == 3


def test_audit_reads_a_folder_of_yahoo_csv_files_like_the_parquet_file(tmp_path):
    sample = pl.read_parquet(SAMPLE)
    for (ticker,), rows in sample.group_by("ticker"):
        rows.select(Date="date", Open="open", High="high", Low="low", Close="close",
                    **{"Adj Close": "adj_close"}, Volume="volume").write_csv(tmp_path / f"{ticker}.csv")
    folder, single = tmp_path / "folder.json", tmp_path / "single.json"
    assert runner.invoke(app, ["audit", str(tmp_path), "--json", str(folder)]).exit_code == 0
    assert runner.invoke(app, ["audit", str(SAMPLE), "--json", str(single)]).exit_code == 0
    assert json.loads(folder.read_text()) == json.loads(single.read_text())


def test_audit_can_skip_the_calendar_and_take_rules_from_a_params_file(tmp_path):
    (tmp_path / "params.yaml").write_text("quality:\n  rules:\n    zero_volume: {action: quarantine_ticker}\n")
    out = tmp_path / "audit.json"
    done = runner.invoke(app, ["audit", str(SAMPLE), "--calendar", "none", "--params", str(tmp_path / "params.yaml"),
                               "--json", str(out)])
    assert done.exit_code == 0, done.output
    report = json.loads(out.read_text())
    assert report["missing_sessions"]["total"] == 0 and {"MSFT", "^IXIC"} <= set(report["tickers_dropped"])


def test_audit_errors_are_one_line_and_exit_2(tmp_path):
    for args, message in ((["audit", str(tmp_path / "nope")], "no such file or folder"),
                          (["audit", str(SAMPLE), "--calendar", "XNSY"], "did you mean 'XNYS'")):
        done = runner.invoke(app, args, terminal_width=400)
        assert done.exit_code == 2 and len(done.output.strip().splitlines()) == 1 and message in done.output


HOSTILE_CSV = """Date,Open,High,Low,Close,Adj Close,Volume
2020-01-02,74.06,75.15,73.80,75.09,73.45,135480400
2020-01-03,74.29,inf,74.13,74.36,72.74,146322800
2020-01-06,73.45,74.99,73.19,74.95,inf,118387200
2020-01-07,74.96,75.22,74.37,74.60,0,108872000
2020-01-08,74.29,76.11,74.29,75.80,-10,132079200
2020-01-09,76.81,77.61,76.55,77.41,75.72,170108400
2099-01-02,76.81,77.61,76.55,77.41,75.72,170108400
2099-01-05,76.81,77.61,76.55,77.41,75.72,170108400
"""
HOSTILE_RULES = {date(2020, 1, 3): "non_finite_value", date(2020, 1, 6): "non_finite_value",
                 date(2020, 1, 7): "non_positive_price", date(2020, 1, 8): "non_positive_price",
                 date(2099, 1, 2): "future_date", date(2099, 1, 5): "future_date"}


def test_audit_and_the_stages_quarantine_the_same_hostile_rows_by_ticker_and_date(tmp_path):
    """inf in High or Adj Close passed as clean; Adj Close 0 or -10 passed audit, then the quality stage broke
    its own output contract naming neither ticker nor date; 2099 rows were clean."""
    prices = tmp_path / "prices"
    prices.mkdir()
    (prices / "AAPL.csv").write_text(HOSTILE_CSV)
    (tmp_path / "params.yaml").write_text(
        f"ingest: {{source: directory, path: {prices}}}\nquality: {{min_history_days: 1}}\n"
        f"universe: {{path: {ROOT / 'data/sample/universe.csv'}}}\n")
    audited = tmp_path / "audit.parquet"
    done = runner.invoke(app, ["audit", str(prices), "--params", str(tmp_path / "params.yaml"), "--universe",
                               str(ROOT / "data/sample/universe.csv"), "--quarantine", str(audited)], terminal_width=400)
    assert done.exit_code == 0, done.output
    assert "rows: 8 in, 2 clean, 6 quarantined" in done.output
    assert "quarantined: AAPL non_finite_value 2 rows" in done.output
    assert "quarantined: AAPL non_positive_price 2 rows" in done.output
    for stage in ("ingest", "quality"):
        run = subprocess.run([sys.executable, str(ROOT / "stages" / f"{stage}.py")], cwd=tmp_path,
                             capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
    quarantine = pl.read_parquet(tmp_path / "data/quarantine/ohlcv.parquet")
    assert dict(quarantine.select("date", "rule").iter_rows()) == HOSTILE_RULES
    assert quarantine.equals(pl.read_parquet(audited))
    assert pl.read_parquet(tmp_path / "data/clean/ohlcv.parquet")["date"].to_list() == [date(2020, 1, 2),
                                                                                         date(2020, 1, 9)]


def test_audit_lists_what_it_skipped(tmp_path):
    (tmp_path / "AAPL.csv").write_text(HOSTILE_CSV + ",,,,,,\n\n")
    (tmp_path / "._NFLX.csv").write_bytes(b"\x00\x05\x16\x07")
    done = runner.invoke(app, ["audit", str(tmp_path), "--calendar", "none"], terminal_width=400)
    assert done.exit_code == 0, done.output
    assert f"skipped hidden or editor file: {tmp_path / '._NFLX.csv'}" in done.output
    assert f"skipped 2 blank or all-empty rows in {tmp_path / 'AAPL.csv'}" in done.output
