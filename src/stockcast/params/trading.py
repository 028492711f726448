"""Params of the stages that score and trade: evaluate, the universe, backtest, walk-forward, report.

A leaf like the rest of stockcast.params, which re-exports every name (import them from there).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from stockcast.section import Section


class EvaluateParams(Section):
    threshold: float = Field(0.5, gt=0, lt=1)   # P(up) above it calls up (flat: likeliest class)
    top_k: int = Field(2, ge=1)                 # most confident calls per day scored by top/flop accuracy


class RegimeParams(Section):
    """A named market regime: a calendar window whose backtest days are reported on their own."""

    name: str = Field(min_length=1)
    start: date = Field(strict=False)           # ISO dates, both inclusive
    end: date = Field(strict=False)

    @model_validator(mode="after")
    def _ordered(self) -> RegimeParams:
        if self.end < self.start:
            raise ValueError(f"regime {self.name!r} ends ({self.end}) before it starts ({self.start})")
        return self


REGIMES = [  # reported wherever the test segment reaches; windows may overlap
    {"name": "dotcom_bust", "start": "2000-01-01", "end": "2002-12-31"},
    {"name": "bull_2003_2007", "start": "2003-01-01", "end": "2007-12-31"},
    {"name": "financial_crisis", "start": "2008-01-01", "end": "2009-03-09"},      # to the S&P 500 low
    {"name": "recovery_2009_2013", "start": "2009-03-10", "end": "2013-12-31"},
    {"name": "sideways_2015_2016", "start": "2015-01-01", "end": "2016-12-31"},
    {"name": "pre_covid", "start": "2017-01-01", "end": "2020-02-19"},             # to the S&P 500 peak
    {"name": "covid_crash", "start": "2020-02-20", "end": "2020-03-23"},           # peak to low, 23 sessions
    {"name": "rebound_2020_2021", "start": "2020-03-24", "end": "2021-12-31"},
    {"name": "bear_2022", "start": "2022-01-01", "end": "2022-12-31"},
    {"name": "recent_2023_2025", "start": "2023-01-01", "end": "2025-12-31"},
]


class UniverseParams(Section):
    path: str = Field("data/sample/universe.csv", min_length=1)  # a CSV (stockcast.data.universe); a dep in dvc.yaml


class PPOParams(Section):
    """backtest.ppo: the RL sizing agents (stockcast.backtest.ppo), trained on val's first sessions."""

    seeds: list[int] = [0, 1, 2]                # one agent per seed, all reported; each adds a trial
    timesteps: int = Field(4000, ge=1)          # environment steps per agent
    train_fraction: float = Field(0.6, gt=0, lt=1)  # of val's sessions: learned on; the rest chooses the agent
    episode_days: int = Field(63, ge=2)         # sessions per training episode, from a random start
    lookback: int = Field(5, ge=1)              # recent returns of the book in the state
    learning_rate: float = Field(0.0003, gt=0)
    n_steps: int = Field(256, ge=2)             # steps per PPO update
    gamma: float = Field(0.9, gt=0, le=1)       # discount: a sizing decision pays off within days

    @model_validator(mode="after")
    def _distinct_seeds(self) -> PPOParams:
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"seeds must be distinct (got {self.seeds})")
        return self


class BacktestParams(Section):
    strategy: Literal["long_flat", "long_short", "topk_dropout", "vol_target", "kelly", "mean_variance",
                      "ppo"] = "long_flat"  # reported as `test`
    fill: Literal["next_open", "next_close", "same_close"] = "next_open"  # same_close: research only, untradable
    threshold: float = Field(0.5, gt=0, lt=1)   # long_flat: long when P(up) > threshold, else cash
    top_k: int = Field(2, ge=1)                 # long_short and topk_dropout: names per side
    max_swaps: int = Field(1, ge=0)             # topk_dropout: holdings replaced per day at most
    cost_bps: float = Field(5.0, ge=0, le=1000)
    slippage_bps: float = Field(5.0, ge=0, le=1000)
    initial_capital: float = Field(100_000.0, gt=0)
    periods_per_year: int = Field(252, ge=1)
    risk_free: float = Field(0.0, ge=-0.01, le=0.01)  # per period (daily), for Sharpe and Sortino
    trials: int = Field(6, ge=1)                # experiments tried; deflates the Sharpe ratio (+ ppo seeds)
    borrow_bps_per_year: float = Field(25.0, ge=0, le=10_000)  # on shorts, unless the universe gives a ticker's own
    min_price: float = Field(0.0, ge=0)         # tradable when the close reaches it (clean prices are adjusted)
    min_dollar_volume: float = Field(1e6, ge=0)  # ... and the median dollar volume over liquidity_window
    liquidity_window: int = Field(20, ge=1)     # sessions ending at the signal's date
    max_participation: float = Field(0.1, gt=0, le=1)  # of the median dollar volume per trade, at the book's capital
    neutralize: Literal["none", "sector"] = "none"  # long_short: as much long as short in each sector
    capacity_capitals: list[float] = [1e5, 1e6, 1e7, 1e8, 1e9]  # starting capitals of the capacity table
    regimes: list[RegimeParams] = Field(default_factory=lambda: [RegimeParams.model_validate(r) for r in REGIMES])
    calibration: Literal["isotonic", "none"] = "isotonic"  # kelly, mean_variance: edge of P(up), fitted on val
    vol_window: int = Field(60, ge=2)           # sessions of close-to-close returns behind volatilities, covariances
    target_vol: float = Field(0.1, gt=0, le=2)  # vol_target: annualised ex-ante volatility of long_short's book
    kelly_fraction: float = Field(0.25, gt=0, le=1)  # kelly: share of the full Kelly bet
    risk_aversion: float = Field(4.0, gt=0)     # mean_variance and ppo's reward: lambda of mu'w - lambda/2 w'Sw
    turnover_penalty: float = Field(1.0, ge=0)  # mean_variance: times the cost per side, on |w - drifted w|
    rebalance_days: int = Field(1, ge=1)        # mean_variance: solves every n sessions, drifts between
    max_names: int = Field(50, ge=1)            # mean_variance: the names with the largest calibrated |edge|
    max_weight: float = Field(0.25, gt=0, le=1)  # sizing policies: |weight| of one name at most
    max_gross: float = Field(1.5, gt=0, le=10)  # sizing policies: sum of |weights| at most
    ppo: PPOParams = Field(default_factory=PPOParams)

    @model_validator(mode="after")
    def _distinct_regimes(self) -> BacktestParams:
        names = [r.name for r in self.regimes]
        if len(set(names)) != len(names):
            raise ValueError(f"regime names must be distinct (got {names})")
        if len(self.capacity_capitals) < 4 or any(c <= 0 for c in self.capacity_capitals) \
                or sorted(self.capacity_capitals) != self.capacity_capitals:
            raise ValueError("capacity_capitals must be at least 4 rising positive capitals "
                             f"(got {self.capacity_capitals})")
        if self.strategy == "ppo" and not self.ppo.seeds:
            raise ValueError("strategy ppo needs at least one of ppo.seeds")
        return self


class WalkForwardParams(Section):
    """Retrain per fold of split.folds; the model's settings are the train section's, but `model`."""

    model: Literal["logreg", "lightgbm"] = "logreg"  # tabular: one fit per fold; dvc.yaml tracks train.<model>
    max_folds: int = Field(6, ge=1)             # the most recent folds only (each is a full training run)


class ReportParams(Section):
    title: str = "stockcast report"
