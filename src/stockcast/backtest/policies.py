"""The sizing policies' target weights on the test grid, from the backtest params, and what to report.

vol_target, kelly and mean_variance size on the test grid with the edge calibrated on val; ppo's
agents learn and are chosen on val (ppo.py), then the chosen one sizes test. Each policy's weights
then go to the engine beside the three rules, with the same fills and costs (engine.Strategy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from stockcast.backtest import ppo
from stockcast.backtest.calibration import calibrate
from stockcast.backtest.engine import Costs
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.history import History, close_returns
from stockcast.backtest.mean_variance import mean_variance
from stockcast.backtest.metrics import sharpe
from stockcast.backtest.rl_env import market
from stockcast.backtest.sizing import kelly, vol_target
from stockcast.params import BacktestParams


@dataclass(frozen=True)
class Sized:
    """Target weights by policy name, the test grid's history, the trials the policies add (one per
    ppo agent trained) and the summary's `sizing` block."""

    weights: dict[str, np.ndarray]
    history: History
    trials: int
    report: dict[str, Any]


def size(grid: Grid, bars: pl.DataFrame, val: pl.DataFrame, params: BacktestParams, costs: Costs) -> Sized:
    """Every sizing policy's weights on `grid` (the test segment's), `val` the val segment's tradable
    predictions (empty when train.refit scored test only)."""
    window = params.vol_window
    history = close_returns(bars, grid, max(window, params.ppo.lookback))
    edge = calibrate(val, params.calibration)
    limits = (params.max_weight, params.max_gross)
    weights = {
        "vol_target": vol_target(grid, history, params.top_k, params.target_vol, window, *limits,
                                 params.periods_per_year),
        "kelly": kelly(grid, history, edge, params.kelly_fraction, window, *limits),
        "mean_variance": mean_variance(grid, history, edge, params.risk_aversion,
                                       params.turnover_penalty * costs.per_side, window, *limits, params.max_names,
                                       params.rebalance_days),
    }
    report: dict[str, Any] = {"calibration": edge.describe()}
    outcome, why = _ppo(grid, history, bars, val, params, costs)
    if outcome is None:
        report["ppo"] = {"run": False, "why": why}
        return Sized(weights, history, 0, report)
    weights["ppo"], report["ppo"] = outcome
    return Sized(weights, history, len(params.ppo.seeds), report)


def _ppo(grid: Grid, history: History, bars: pl.DataFrame, val: pl.DataFrame, params: BacktestParams,
         costs: Costs) -> tuple[tuple[np.ndarray, dict[str, Any]] | None, str]:
    """ppo's test weights and report, or None and why it was not run."""
    settings = params.ppo
    if not settings.seeds:
        return None, "backtest.ppo.seeds is empty"
    if val.height == 0 or val["hold_return"].is_null().all():
        return None, "no val predictions to learn on (train.refit: train_val scores test only)"
    val_grid = to_grid(val)
    cut = int(round(val_grid.shape[0] * settings.train_fraction))
    if min(cut, val_grid.shape[0] - cut) < 2:
        return None, f"val has {val_grid.shape[0]} sessions: too few to learn on and choose with"
    build = {"top_k": params.top_k, "window": params.vol_window, "lookback": settings.lookback,
             "max_weight": params.max_weight, "max_gross": params.max_gross, "costs": costs}
    val_market = market(val_grid, close_returns(bars, val_grid, max(params.vol_window, settings.lookback)), **build)
    agents = ppo.fit(val_market, ppo.Settings(tuple(settings.seeds), settings.timesteps, settings.train_fraction,
                                              settings.episode_days, settings.learning_rate, settings.n_steps,
                                              settings.gamma, params.risk_aversion), params.periods_per_year)
    test_market = market(grid, history, **build)
    scored = {seed: ppo.score(model, test_market, range(test_market.days)) for seed, model in agents.models.items()}
    test_sharpe = {seed: sharpe(nets, params.periods_per_year) for seed, (_, nets) in scored.items()}
    dates = val_grid.dates
    report = {
        "run": True, "chosen_seed": agents.chosen, "timesteps": settings.timesteps,
        "learned_on": [str(dates[agents.train_days.start]), str(dates[agents.train_days.stop - 1])],
        "chosen_on": [str(dates[agents.select_days.start]), str(dates[agents.select_days.stop - 1])],
        "train_seconds": float(sum(agents.seconds.values())),
        "seeds": {str(seed): {"val_sharpe": agents.val_sharpe[seed], "test_sharpe": test_sharpe[seed],
                              "mean_multiple": float(scored[seed][0].mean()), "train_seconds": agents.seconds[seed]}
                  for seed in settings.seeds},
        "test_sharpe_mean": float(np.mean(list(test_sharpe.values()))),
        "test_sharpe_std": float(np.std(list(test_sharpe.values()), ddof=1)) if len(test_sharpe) > 1 else 0.0,
    }
    return (scored[agents.chosen][0][:, None] * test_market.book, report), ""
