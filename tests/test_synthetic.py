"""The synthetic markets: seeded, on real sessions, and true to what their meta says."""

from __future__ import annotations

import json
import math
from datetime import date

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from stockcast.cli import app
from stockcast.data.calendar import sessions
from stockcast.data.synthetic import generate
from stockcast.errors import StockcastError
from stockcast.schemas import RawOHLCV


def _direction(bars: pl.DataFrame) -> pl.DataFrame:
    """Today's and tomorrow's close-to-close direction per row (the label of horizon 1)."""
    ret = pl.col("close").pct_change().over("ticker")
    return bars.with_columns(today=ret > 0, tomorrow=ret.shift(-1).over("ticker") > 0).drop_nulls(["today",
                                                                                                  "tomorrow"])


@pytest.mark.parametrize("mode", ["realistic", "null", "planted"])
def test_every_mode_is_seeded_and_honours_the_raw_contract(mode):
    bars, meta = generate(mode, 8, 400, seed=1)
    RawOHLCV.validate(bars)
    assert bars.equals(generate(mode, 8, 400, seed=1)[0])
    assert not bars.equals(generate(mode, 8, 400, seed=2)[0])
    assert bars.select(pl.struct("ticker", "date").is_unique().all()).item()
    assert bars.select((pl.col("high") >= pl.max_horizontal("open", "close")).all()
                       & (pl.col("low") <= pl.min_horizontal("open", "close")).all()
                       & (pl.col("low") > 0).all() & (pl.col("volume") > 0).all()).item()
    assert meta["mode"] == mode and meta["n_tickers"] == 8 and meta["seed"] == 1


def test_dates_are_exchange_sessions():
    bars, meta = generate("null", 2, 600, seed=0)
    days = sessions("XNYS", date(2000, 1, 3), date(2003, 1, 1)).astype("datetime64[D]")
    assert np.array_equal(bars.filter(pl.col("ticker") == "S0000")["date"].to_numpy(), days[:600])
    assert meta["start"] == "2000-01-03"


def test_null_market_has_nothing_to_predict():
    bars, meta = generate("null", 40, 2500, seed=7)
    d = _direction(bars)
    n = d.height
    same = d.select((pl.col("today") == pl.col("tomorrow")).mean()).item()
    up = d.select(pl.col("tomorrow").mean()).item()
    half = 3 * math.sqrt(0.25 / n)  # 3 standard errors
    assert abs(same - 0.5) < half and abs(up - 0.5) < half and meta["bayes_accuracy"] == 0.5


@pytest.mark.parametrize("target", [0.55, 0.6])
def test_planted_market_reaches_its_bayes_accuracy_and_no_more(target):
    bars, meta = generate("planted", 40, 2500, seed=3, bayes_accuracy=target)
    d = _direction(bars)
    rule = d.select((pl.col("today") == pl.col("tomorrow")).mean()).item()  # the Bayes rule: repeat today
    half = 3 * math.sqrt(target * (1 - target) / d.height)
    assert meta["bayes_accuracy"] == target and abs(rule - target) < half
    assert abs(d.select(pl.col("tomorrow").mean()).item() - 0.5) < 3 * math.sqrt(0.25 / d.height)


def test_planted_bayes_accuracy_formula_matches_monte_carlo():
    """E[Phi(beta |Z|)] = 1/2 + arctan(beta)/pi, the identity generate() relies on."""
    from scipy.special import ndtr

    z = np.abs(np.random.default_rng(0).standard_normal(2_000_000))
    for beta in (0.1, 0.3, 1.0):
        assert ndtr(beta * z).mean() == pytest.approx(0.5 + math.atan(beta) / math.pi, abs=1e-3)


def test_realistic_market_has_splits_delistings_gaps_and_fat_tails():
    bars, meta = generate("realistic", 120, 3000, seed=5)
    assert len(meta["splits"]) > 10 and {s["ratio"] for s in meta["splits"]} & {2.0, 3.0}
    assert meta["delisted"] and meta["missing_sessions"] > 0
    split = meta["splits"][0]
    rows = bars.filter(pl.col("ticker") == split["ticker"]).with_columns(prev=pl.col("close").shift(1))
    day = rows.filter(pl.col("date") == date.fromisoformat(split["date"]))
    assert day["prev"][0] / day["open"][0] == pytest.approx(split["ratio"], rel=0.05)  # left unadjusted
    returns = bars.with_columns(r=pl.col("close").log().diff().over("ticker")).drop_nulls("r")
    kurtosis = returns.select(pl.col("r").kurtosis()).item()
    assert kurtosis > 3  # excess kurtosis: fat tails (a Gaussian has 0)
    lengths = bars.group_by("ticker").len()["len"]
    assert lengths.min() < 3000 and lengths.max() == 3000  # late listings and delistings


def test_bad_arguments_are_clear_errors():
    with pytest.raises(StockcastError, match="mode 'noise' is not one of realistic, null, planted"):
        generate("noise", 2, 10, 0)  # type: ignore[arg-type]
    with pytest.raises(StockcastError, match=r"bayes_accuracy must be in \[0.5, 1\)"):
        generate("planted", 2, 10, 0, bayes_accuracy=1.2)


def test_synth_command_writes_the_file_and_its_truth(tmp_path):
    out = tmp_path / "planted.parquet"
    done = CliRunner().invoke(app, ["synth", "--mode", "planted", "--tickers", "3", "--days", "300", "--seed", "9",
                                    "--out", str(out), "--bayes-accuracy", "0.57"])
    assert done.exit_code == 0, done.output
    RawOHLCV.validate(pl.read_parquet(out))
    meta = json.loads((tmp_path / "planted.meta.json").read_text())
    assert meta["bayes_accuracy"] == 0.57 and meta["n_tickers"] == 3


def test_synth_command_fails_in_one_line(tmp_path):
    done = CliRunner().invoke(app, ["synth", "--mode", "chaos", "--out", str(tmp_path / "x.parquet")])
    assert done.exit_code == 2
    assert done.output.strip().splitlines() == [
        "error: synthetic mode 'chaos' is not one of realistic, null, planted"]
