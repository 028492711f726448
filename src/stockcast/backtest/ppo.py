"""ppo: the sizing environment's agent, trained with stable-baselines3's PPO, chosen on val, scored once.

Where it learns. The predictions file has no train rows: the train segment is in-sample for the
model, whose probabilities there are more confident than anywhere it will trade, so an agent trained
on them would learn to trust the model too much. The agent learns on out-of-sample probabilities
instead: the first `train_fraction` of the val segment's sessions. The rest of val chooses between
the agents (their net Sharpe there), and test scores the chosen one once. Without val predictions
(train.refit: train_val) there is nothing honest to learn from, and ppo is not run.

Seeds. PPO's result moves with its seed, so one agent is trained per seed of `seeds`, every one is
reported (val and test Sharpe) so their spread shows, and the count of agents trained is added to
backtest.trials for the deflated Sharpe: picking the best of n agents on val is n trials.

Each agent is a small MLP (two layers of 32) trained for `timesteps` steps on one CPU thread (the
network is too small for more threads to help); its scoring is deterministic (the policy's mean
action), one session at a time through SizingEnv, so its multiples are the ones the engine trades.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from stable_baselines3 import PPO

from stockcast.backtest.metrics import sharpe
from stockcast.backtest.rl_env import Market, SizingEnv


@dataclass(frozen=True)
class Settings:
    """PPO's knobs (params.yaml backtest.ppo) and the utility's risk aversion."""

    seeds: tuple[int, ...]
    timesteps: int
    train_fraction: float
    episode_days: int
    learning_rate: float
    n_steps: int
    gamma: float
    risk_aversion: float


@dataclass(frozen=True)
class Agents:
    """The trained agents by seed, the sessions of val each learned on and was chosen on, the
    chosen seed, and per seed its val Sharpe and training seconds."""

    models: dict[int, PPO]
    train_days: range
    select_days: range
    chosen: int
    val_sharpe: dict[int, float]
    seconds: dict[int, float]


@contextmanager
def _one_thread() -> Iterator[None]:
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


def train(market: Market, days: range, settings: Settings, seed: int) -> PPO:
    """One agent trained on the sessions `days` of `market`."""
    env = SizingEnv(market, days, settings.episode_days, settings.risk_aversion)
    model = PPO("MlpPolicy", env, learning_rate=settings.learning_rate, n_steps=settings.n_steps,
                batch_size=min(64, settings.n_steps), n_epochs=5, gamma=settings.gamma,
                policy_kwargs={"net_arch": [32, 32]}, seed=seed, device="cpu", verbose=0)
    with _one_thread():
        model.learn(total_timesteps=settings.timesteps)
    return model


def score(model: PPO, market: Market, days: range, risk_aversion: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """(multiples, net returns) of the deterministic policy over `days`, from cash."""
    env = SizingEnv(market, days, None, risk_aversion)
    observation, _ = env.reset()
    multiples, nets = np.zeros(len(days)), np.zeros(len(days))
    with _one_thread():
        for i in range(len(days)):
            action, _ = model.predict(observation, deterministic=True)
            observation, _, _, _, info = env.step(action)
            multiples[i], nets[i] = info["multiple"], info["net"]
    return multiples, nets


def fit(val: Market, settings: Settings, periods_per_year: int = 252) -> Agents:
    """Train one agent per seed on val's first sessions and choose the best net Sharpe on the rest
    (the lowest seed among ties; an agent that stays in cash has no Sharpe and is never chosen
    over one that trades)."""
    cut = int(round(val.days * settings.train_fraction))
    train_days, select_days = range(0, cut), range(cut, val.days)
    models, seconds, val_sharpe = {}, {}, {}
    for seed in settings.seeds:
        start = time.perf_counter()
        models[seed] = train(val, train_days, settings, seed)
        seconds[seed] = time.perf_counter() - start
        val_sharpe[seed] = sharpe(score(models[seed], val, select_days)[1], periods_per_year)
    ranked = sorted(settings.seeds, key=lambda s: (-np.nan_to_num(val_sharpe[s], nan=-np.inf), s))
    return Agents(models, train_days, select_days, ranked[0], val_sharpe, seconds)
