"""Truth tests of the sizing policies, on the synthetic markets whose answer is known (test_truth.py).

Each market runs through the stage scripts: quality, features, split, train (logreg), evaluate and
backtest, so the policies are calibrated and the RL agents trained on the val predictions the
evaluate stage wrote, and scored on its test predictions, as in `dvc repro`.
- Null market: no policy, rule, sizing or RL, beats the benchmark beyond its 99% interval (the mean
  daily excess return s - b, one-sided) nor reaches the report's "beats" (excess DSR 0.95).
- Teeth: the same check fails for a policy that peeks at the return it is about to earn.
- Planted market: every policy keeps most (over half) of long_short's net Sharpe. The planted
  signal is tomorrow's close-to-close direction, so the backtest fills at the close (same_close):
  this tests the sizing, not the fill (test_backtest.py tests the fills).
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockcast.backtest import policies
from stockcast.backtest.metrics import deflated_sharpe
from stockcast.data.synthetic import generate

from .stages import run_stage, set_params
from .test_truth import Z99, _prepared

POLICIES = ["long_flat", "long_short", "topk_dropout", "vol_target", "kelly", "mean_variance", "ppo"]
SMALL_PPO = {"seeds": [0, 1], "timesteps": 1024, "n_steps": 256, "episode_days": 40}


def _evaluated(prepared: Path, folder: Path, backtest: dict) -> Path:
    """A copy of the prepared project in `folder` with logreg trained and evaluated, and `backtest` params."""
    folder = shutil.copytree(prepared, folder)
    set_params(folder, {"train": {"model": "logreg"}, "backtest": backtest})
    run_stage(folder, "train")
    run_stage(folder, "evaluate", "models/logreg")
    return folder


def _backtest(folder: Path) -> tuple[dict, pl.DataFrame]:
    """Run the backtest stage in `folder`: its summary, and the daily net returns of every strategy and
    the benchmark (from plots/equity.csv, each curve starting at the initial capital)."""
    run_stage(folder, "backtest")
    summary = json.loads((folder / "data" / "backtest" / "summary.json").read_text())
    equity = pl.read_csv(folder / "plots" / "equity.csv")
    daily = equity.select([(pl.col(c) / pl.col(c).shift(1, fill_value=100_000) - 1).alias(c)
                           for c in [*POLICIES, "benchmark"]])
    return summary, daily


def assert_no_edge_over_the_benchmark(daily: pl.DataFrame, policy: str, trials: int) -> None:
    """The mean daily excess return of `policy` is under its one-sided 99% bound, and the deflated
    Sharpe of the excess is under the report's 0.95."""
    spread = (daily[policy] - daily["benchmark"]).to_numpy()
    bound = Z99 * spread.std(ddof=1) / math.sqrt(len(spread))
    assert spread.mean() <= bound, f"{policy}: excess {spread.mean():.2e} a day above its 99% bound {bound:.2e}"
    assert deflated_sharpe(spread, trials) < 0.95, f"{policy}: the excess return's deflated Sharpe passes"


@pytest.fixture(scope="module")
def null_project(tmp_path_factory) -> Path:
    bars = generate("null", n_tickers=12, n_days=1500, seed=11)[0]
    prepared = _prepared(tmp_path_factory.mktemp("sizing_null"), bars)
    return _evaluated(prepared, tmp_path_factory.mktemp("run") / "project", {"ppo": SMALL_PPO})


@pytest.fixture(scope="module")
def null_backtest(null_project) -> tuple[dict, pl.DataFrame]:
    return _backtest(null_project)


@pytest.fixture(scope="module")
def planted_backtest(tmp_path_factory) -> tuple[dict, pl.DataFrame]:
    bars = generate("planted", n_tickers=12, n_days=1500, seed=5, bayes_accuracy=0.58)[0]
    prepared = _prepared(tmp_path_factory.mktemp("sizing_planted"), bars)
    return _backtest(_evaluated(prepared, tmp_path_factory.mktemp("run") / "project",
                                {"ppo": SMALL_PPO, "fill": "same_close"}))


@pytest.mark.parametrize("policy", POLICIES)
def test_no_policy_beats_the_benchmark_on_a_random_walk(null_backtest, policy):
    summary, daily = null_backtest
    assert_no_edge_over_the_benchmark(daily, policy, summary["trials"])


def test_the_null_check_catches_a_policy_that_peeks(null_project, null_backtest, monkeypatch):
    """kelly replaced by a book that holds 10% of each name on the side its coming return will take."""
    monkeypatch.setattr(policies, "kelly", lambda grid, *args: 0.1 * np.sign(grid.returns))
    summary, daily = _backtest(null_project)
    with pytest.raises(AssertionError, match="kelly: excess"):
        assert_no_edge_over_the_benchmark(daily, "kelly", summary["trials"])


def test_rl_is_trained_on_val_and_reported_beside_the_simple_policies(null_backtest):
    summary, _ = null_backtest
    rl = summary["sizing"]["ppo"]
    assert rl["run"] and set(rl["seeds"]) == {"0", "1"} and summary["trials"] == 6 + 2
    assert set(summary["strategies"]) == set(POLICIES)
    assert rl["chosen_seed"] == max(SMALL_PPO["seeds"], key=lambda s: rl["seeds"][str(s)]["val_sharpe"])
    assert rl["learned_on"][1] < rl["chosen_on"][0]
    assert summary["sizing"]["calibration"]["method"] == "isotonic" and summary["sizing"]["calibration"]["val_rows"]


@pytest.mark.parametrize("policy", POLICIES)
def test_every_policy_keeps_most_of_long_shorts_edge_on_a_planted_market(planted_backtest, policy):
    summary, _ = planted_backtest
    edge = summary["strategies"]["long_short"]["sharpe"]
    assert edge > 2, f"long_short's net Sharpe {edge:.2f}: the planted signal did not come through"
    assert summary["strategies"][policy]["sharpe"] > 0.5 * edge, summary["strategies"]
    assert np.isfinite(summary["strategies"][policy]["effective_bets"])
