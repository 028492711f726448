"""A gymnasium environment in which an agent sizes long_short's book one session at a time.

The agent does not pick names: the model's ranking does (long_short, strategies.py). It picks how
much of that book to hold, the same decision vol_target makes by rule, so the two are comparable.

- Action: a in [-1, 1], the multiple ((a + 1) / 2) * cap[t] of the book b[t], from cash (a = -1) to
  the largest multiple inside the limits (cap[t], sizing.limit_scale: max_weight and max_gross).
- State at the close of t (all known then): the model's conviction, 10 * (mean P(up) of the longs -
  mean P(up) of the shorts); the book's recent returns, 100 * b[t] . r[s] for the `lookback` last
  sessions s <= t and its volatility over the window (historical simulation on close-to-close
  returns, history.py, as vol_target's); and the current weights, as the held multiple of the book.
  Each is clipped to +-BOUND (a 50% daily move), so the observation space is bounded.
- Reward: the net return of the period after the trade, with the engine's accounting (engine.py:
  drifted weights, turnover charged at the cost per side, borrow on shorts), less a variance penalty:
  100 * (n - risk_aversion / 2 * n^2), the per-period mean-variance utility that mean_variance
  maximises with the same lambda (the factor 100, percent, only keeps PPO's gradients of order 1).
- Episodes: `episode_days` sessions from a start drawn in the environment's `days` (truncated at the
  end, a time limit rather than a terminal state), starting from cash; with episode_days None one
  episode runs through `days` from its first session, which is how a policy is scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from stockcast.backtest.engine import Costs, borrow_rates
from stockcast.backtest.grid import Grid
from stockcast.backtest.history import History
from stockcast.backtest.sizing import book_volatility, limit_scale
from stockcast.backtest.strategies import long_short

BOUND = 50.0


@dataclass(frozen=True)
class Market:
    """What the environment plays on, per session of a grid: long_short's book and its cap, the
    returns each weight earns, the per-period borrow fee of each ticker, the state's features and
    the cost per side."""

    book: np.ndarray
    cap: np.ndarray
    returns: np.ndarray
    borrow: np.ndarray
    features: np.ndarray
    cost: float

    @property
    def days(self) -> int:
        return len(self.book)


def market(grid: Grid, history: History, top_k: int, window: int, lookback: int, max_weight: float,
           max_gross: float, costs: Costs) -> Market:
    """The Market of `grid` (module doc: the state's features)."""
    book = long_short(grid, top_k)
    prob = np.nan_to_num(grid.prob.astype(np.float64))
    longs, shorts = book > 0, book < 0
    with np.errstate(invalid="ignore", divide="ignore"):
        conviction = np.nan_to_num((prob * longs).sum(1) / longs.sum(1) - (prob * shorts).sum(1) / shorts.sum(1))
    recent = np.zeros((grid.shape[0], lookback))
    for t in range(grid.shape[0]):
        past = np.nan_to_num(history.window(t, lookback)) @ book[t]
        recent[t, lookback - len(past):] = past
    volatility = np.nan_to_num(book_volatility(book, history, window))
    features = np.column_stack([10 * conviction, 100 * recent, 100 * volatility]).clip(-BOUND, BOUND)
    return Market(book, limit_scale(book, max_weight, max_gross), grid.returns, borrow_rates(grid, costs), features,
                  costs.per_side)


class SizingEnv(gym.Env):
    """The sizing game of the module doc over the sessions `days` of `market`."""

    metadata = {"render_modes": []}

    def __init__(self, market: Market, days: range, episode_days: int | None, risk_aversion: float) -> None:
        self.market, self.days, self.episode_days, self.risk_aversion = market, days, episode_days, risk_aversion
        width = market.features.shape[1] + 1
        self.observation_space = gym.spaces.Box(-BOUND, BOUND, (width,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.t = self.stop = days.start
        self.drifted = np.zeros(market.book.shape[1])
        self.held = 0.0

    def _observation(self, t: int | None = None) -> np.ndarray:
        features = self.market.features[self.t if t is None else t]
        return np.append(features, min(self.held, BOUND)).astype(np.float32)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if self.episode_days is None:
            self.t, self.stop = self.days.start, self.days.stop
        else:
            last_start = max(self.days.stop - self.episode_days, self.days.start)
            self.t = int(self.np_random.integers(self.days.start, last_start + 1))
            self.stop = min(self.t + self.episode_days, self.days.stop)
        self.drifted = np.zeros(self.market.book.shape[1])
        self.held = 0.0
        return self._observation(), {}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        m, t = self.market, self.t
        multiple = (float(np.clip(np.asarray(action).reshape(-1)[0], -1.0, 1.0)) + 1.0) / 2.0 * m.cap[t]
        weights = multiple * m.book[t]
        gross = float(weights @ m.returns[t])
        turnover = float(np.abs(weights - self.drifted).sum())
        net = gross - m.cost * turnover - float(np.minimum(weights, 0.0) @ -m.borrow)
        self.drifted = weights * (1.0 + m.returns[t]) / (1.0 + gross) if gross > -1.0 else np.zeros_like(weights)
        self.held = multiple
        self.t += 1
        reward = 100.0 * (net - self.risk_aversion / 2.0 * net * net)
        done = self.t >= self.stop
        observation = self._observation(t if done else None)  # at the end: the last session's state
        return observation, reward, False, done, {"net": net, "multiple": multiple}
