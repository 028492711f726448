"""The quality stage end to end (stages/quality.py in a subprocess) and a calendar that cannot be built: the
slow quality tests, kept out of the mutation shard (benchmarks/mutation.py), whose every mutant runs them."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date

import polars as pl
import pytest

from stockcast.data.quality import check
from stockcast.errors import StockcastError
from stockcast.params import parse_section
from stockcast.schemas import Findings

from .conftest import ROOT, SAMPLE
from .quality_bars import NOW, null_bars


def test_quality_stage_writes_its_outputs(tmp_path):
    (tmp_path / "data" / "raw").mkdir(parents=True)
    shutil.copy(SAMPLE, tmp_path / "data" / "raw" / "ohlcv.parquet")
    (tmp_path / "data" / "raw" / "ohlcv.meta.json").write_text('{"exchanges": {"^GSPC": "XNYS"}}')
    shutil.copytree(ROOT / "data" / "sample", tmp_path / "data" / "sample", ignore=shutil.ignore_patterns("*.parquet"))
    shutil.copy(ROOT / "params.yaml", tmp_path / "params.yaml")
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "quality.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    metrics = json.loads((tmp_path / "metrics" / "quality.json").read_text())
    assert metrics["rows_in"] == metrics["rows_clean"] + metrics["rows_quarantined"] == 39_329
    report = json.loads((tmp_path / "data" / "quarantine" / "report.json").read_text())
    assert report["calendars"]["XNAS"]["tickers"] == 7 and report["calendars"]["XNYS"]["tickers"] == 2  # universe.csv
    assert metrics["broken"] == report["broken_by_rule"] and metrics["quarantined"] == report["by_rule"]
    Findings.validate(pl.read_parquet(tmp_path / "data" / "quarantine" / "findings.parquet"))


def test_a_far_future_date_that_only_warns_is_a_one_line_error():
    """future_date set to warn keeps a row dated 9999-12-31, so its calendar must be built to that year, which
    pandas cannot: a one-line error, not a traceback. Slow (exchange_calendars builds ~8,000 years before it
    fails), so kept out of the mutation shard."""
    far = pl.concat([null_bars(), null_bars().tail(1).with_columns(date=pl.lit(date(9999, 12, 31)))])
    with pytest.raises(StockcastError, match="calendar XNYS: no sessions for 2000..9999"):
        check(far, parse_section("quality", {"rules": {"future_date": {"action": "warn"}}}),
              now=NOW)
