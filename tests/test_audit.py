"""`stockcast audit`: the quality checks on any file or folder, a readable table, an optional JSON report."""

from __future__ import annotations

import json

import polars as pl
from typer.testing import CliRunner

from stockcast.cli import app

from .conftest import SAMPLE

runner = CliRunner()


def test_audit_prints_the_rules_and_writes_the_json_report(tmp_path):
    out, rows = tmp_path / "audit.json", tmp_path / "quarantine.parquet"
    done = runner.invoke(app, ["audit", str(SAMPLE), "--json", str(out), "--quarantine", str(rows)])
    assert done.exit_code == 0, done.output
    assert "non_positive_volume" in done.output and "missing sessions: 2" in done.output
    assert "MSFT 1998-10-29 missing_session" in done.output
    assert "quarantined: ^IXIC non_positive_volume 2 rows" in done.output
    assert pl.read_parquet(rows).height == json.loads(out.read_text())["rows_quarantined"]
    report = json.loads(out.read_text())
    assert report["rows_in"] == 39_329 == report["rows_clean"] + report["rows_quarantined"]
    assert report["by_rule"]["non_positive_volume"] == 3


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
    (tmp_path / "params.yaml").write_text("quality:\n  rules:\n    non_positive_volume: {action: quarantine_ticker}\n")
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
