"""The daily loop end to end (`make daily` runs tools/daily.sh): one new session appended to the sample
reruns every stage the new bars touch but train, moves the signals to the new date, and leaves train
listed by `dvc status` until the retrain rule fires or someone asks (`dvc repro`)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import exchange_calendars as xc
import polars as pl
import pytest

from .project import copy_of, run

TOUCHED = {"ingest", "quality", "features", "split", "evaluate", "backtest", "walkforward", "predict", "monitor",
           "report"}


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory) -> Path:
    return copy_of(reproduced, tmp_path_factory.mktemp("daily") / "repo")


def _append_a_session(repo: Path) -> tuple[str, list[str]]:
    """The sample's current tickers get one more bar, on the next XNYS session (1% up on the day)."""
    path = repo / "data/sample/ohlcv.parquet"
    bars = pl.read_parquet(path)
    last = bars["date"].max()
    nxt = xc.get_calendar("XNYS").next_session(str(last)).date()
    latest = bars.filter(pl.col("date") == last)
    up = pl.col("close") * 1.01
    new = latest.with_columns(date=pl.lit(nxt), open=pl.col("close"), high=up * 1.001, low=pl.col("close") * 0.999,
                              close=up, adj_close=pl.col("adj_close") * 1.01 if "adj_close" in bars.columns else None)
    pl.concat([bars, new.select(bars.columns)]).sort("ticker", "date").write_parquet(path)
    return str(nxt), latest["ticker"].to_list()


@pytest.mark.slow
def test_one_new_session_reruns_everything_it_touches_but_train(repo):
    new_date, tickers = _append_a_session(repo)
    env = os.environ | {"DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", "tools/daily.sh"], cwd=repo, capture_output=True, text=True, env=env)
    out = done.stdout + done.stderr
    assert done.returncode in (0, 1), out   # 1: the retrain rule fired, and said why
    assert set(re.findall(r"Running stage '([\w-]+)'", out)) == TOUCHED, out
    verdict = done.stdout.strip().splitlines()[-1]  # stockcast monitor --check's last line
    assert verdict.startswith("retrain: " if done.returncode else "keep the model"), verdict
    signals = pl.read_parquet(repo / "data/signals/latest.parquet")
    current = signals.filter(pl.col("ticker").is_in(tickers) & pl.col("reason").is_null())
    assert current.height and (current["as_of"].cast(pl.String) == new_date).all()
    status = run(["dvc", "status"], repo)
    assert "train:" in status and "changed deps" in status  # the model was kept, and dvc says it is behind
    assert json.loads((repo / "metrics/monitor.json").read_text())["drift"]["current_to"] == new_date
