"""Sizing policies with known answers: vol_target, kelly, mean_variance, the RL environment and PPO,
the calibrated edge, the history they read, and the correlation analysis."""

from datetime import date, timedelta

import cvxpy as cp
import numpy as np
import pandas as pd
import polars as pl
import pytest
from gymnasium.utils.env_checker import check_env
from pypfopt import risk_models
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression

from stockcast.backtest import ppo
from stockcast.backtest.calibration import BIN_ROWS, Edge, calibrate
from stockcast.backtest.correlation import average_correlation, effective_bets
from stockcast.backtest.engine import Costs, Strategy, backtest_grid
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.history import History, close_returns
from stockcast.backtest.mean_variance import mean_variance, shrunk_covariance, solve, within_limits
from stockcast.backtest.policies import size
from stockcast.backtest.rl_env import SizingEnv, market
from stockcast.backtest.sizing import book_volatility, kelly, vol_target
from stockcast.backtest.strategies import long_short
from stockcast.params import BacktestParams

COSTS = Costs(0.001, borrow_bps_per_year=50.0)


def _world(days: int, sigma: np.ndarray, lookback: int = 60, seed: int = 0, prob: np.ndarray | None = None
           ) -> tuple[Grid, History]:
    """A grid of `days` sessions over len(sigma) independent names with daily volatility sigma, and its
    history: close-to-close returns of `lookback` sessions before the grid and of every grid session,
    the grid's returns being the next session's (a same_close fill)."""
    rng = np.random.default_rng(seed)
    names = len(sigma)
    r = rng.standard_normal((lookback + days + 1, names)) * sigma
    start = date(2000, 1, 3)
    dates = pl.Series("date", [start + timedelta(i) for i in range(days)])
    prob = rng.uniform(0.4, 0.6, (days, names)).astype(np.float32) if prob is None else prob
    grid = Grid(dates, pl.Series("ticker", [f"T{i}" for i in range(names)]), prob, r[lookback + 1:],
                np.ones((days, names), dtype=bool))
    return grid, History(r[:lookback + days], np.arange(days) + lookback)


def test_history_holds_the_close_to_close_returns_known_at_each_close():
    days = [date(2021, 1, 4) + timedelta(i) for i in range(8)]
    close = {"A": [10.0, 11, 12.1, 11, 11, 12, 13, 14], "B": [20.0, 20, 21, 22, 23, 24, 25, 26]}
    bars = pl.DataFrame([{"ticker": t, "date": d, "close": c} for t in close for d, c in zip(days, close[t])])
    bars = bars.filter(~((pl.col("ticker") == "B") & (pl.col("date") == days[5])))  # B misses day 5
    predictions = pl.DataFrame([{"ticker": t, "date": d, "prob": 0.5, "hold_return": 0.0}
                                for t in close for d in days[4:7]])
    grid = to_grid(predictions)
    past = close_returns(bars, grid, lookback=2)
    np.testing.assert_array_equal(past.row, [2, 3, 4])  # days 2..6 are the rows: 2 before the grid, then it
    np.testing.assert_allclose(past.window(0, 3)[:, 0], [0.1, 11 / 12.1 - 1, 0.0])  # A's days 2, 3, 4
    np.testing.assert_allclose(past.returns[:, 1], [21 / 20 - 1, 22 / 21 - 1, 23 / 22 - 1, np.nan, 25 / 23 - 1])
    later = bars.with_columns(pl.when(pl.col("date") > days[4]).then(pl.col("close") * 3).otherwise("close"))
    np.testing.assert_array_equal(close_returns(later, grid, 2).window(0, 3), past.window(0, 3))  # t sees <= t


def test_mean_move_needs_half_a_window_of_returns():
    returns = np.full((10, 2), np.nan)
    returns[:, 0] = np.tile([0.01, -0.03], 5)
    returns[:2, 1] = 0.02
    move = History(returns, np.array([3, 9])).mean_abs(4)
    np.testing.assert_allclose(move[:, 0], [0.02, 0.02])
    assert move[0, 1] == pytest.approx(0.02) and np.isnan(move[1, 1])  # 2 of 4 returns, then none


def test_vol_target_hits_its_target_on_a_series_of_known_volatility():
    sigma = np.array([0.01, 0.02, 0.015, 0.03])
    grid, history = _world(3000, sigma)
    weights = vol_target(grid, history, top_k=1, target_vol=0.10, window=60, max_weight=10.0, max_gross=10.0)
    book = long_short(grid, 1)
    np.testing.assert_array_equal(np.sign(weights), np.sign(book))  # long_short's names, only resized
    ex_ante = book_volatility(weights, history, 60) * np.sqrt(252)
    np.testing.assert_allclose(ex_ante, 0.10, rtol=1e-9)
    realised = np.einsum("ij,ij->i", weights, grid.returns).std(ddof=1) * np.sqrt(252)
    assert realised == pytest.approx(0.10, rel=0.06)  # a 60-day estimate of a known volatility: within 6%
    capped = vol_target(grid, history, 1, 0.10, 60, max_weight=0.2, max_gross=0.3)
    assert np.abs(capped).max() <= 0.2 + 1e-12 and np.abs(capped).sum(axis=1).max() <= 0.3 + 1e-12
    assert np.abs(capped).sum(axis=1) == pytest.approx(np.minimum(np.abs(weights).sum(axis=1), 0.3))


def test_kelly_bets_the_closed_form_fraction_of_a_calibrated_edge():
    m = 0.02
    moves = np.tile([m, -m], 50)[:, None] * np.ones((1, 3))  # every move is +-2%: mean |r| = m exactly
    prob = np.array([[0.55, 0.45, 0.505]], dtype=np.float32)
    grid = Grid(pl.Series("date", [date(2020, 1, 1)]), pl.Series("ticker", ["A", "B", "C"]), prob,
                np.zeros((1, 3)), np.ones((1, 3), dtype=bool))
    history = History(moves, np.array([99]))
    edge = Edge("isotonic", 10, np.array([0.4, 0.6]), np.array([-0.3, 0.3]))  # e(p) = 3 (p - 0.5)
    full = kelly(grid, history, edge, fraction=1.0, window=60, max_weight=100.0, max_gross=100.0)[0]
    for e, f in zip(edge(prob[0].astype(float)), full, strict=True):
        win = (e + 1) / 2  # e = P(up) - P(down)
        growth = minimize_scalar(lambda x, w=win: -(w * np.log1p(x * m) + (1 - w) * np.log1p(-x * m)),
                                 bounds=(-1 / m + 1e-9, 1 / m - 1e-9), method="bounded", options={"xatol": 1e-10})
        assert f == pytest.approx(growth.x, rel=1e-6)  # argmax of p log(1 + f m) + (1 - p) log(1 - f m)
        assert f == pytest.approx(e / m)
    quarter = kelly(grid, history, edge, 0.25, 60, 100.0, 100.0)[0]
    np.testing.assert_allclose(quarter, full / 4)
    limited = kelly(grid, history, edge, 0.25, 60, max_weight=0.5, max_gross=0.8)[0]
    np.testing.assert_allclose(limited, np.clip(quarter, -0.5, 0.5) * 0.8 / np.abs(np.clip(quarter, -0.5, 0.5)).sum())


def test_calibration_is_isotonic_on_the_sign_of_the_traded_return():
    rng = np.random.default_rng(3)
    prob = rng.uniform(0.45, 0.55, 40_000)
    up = rng.random(40_000) < 0.5 + 3 * (prob - 0.5)  # true edge e(p) = 6 (p - 0.5)
    val = pl.DataFrame({"prob": prob.astype(np.float32),
                        "hold_return": np.where(up, 0.01, -0.01) * np.where(rng.random(40_000) < 0.02, 0, 1)})
    edge = calibrate(val, "isotonic")
    grid = np.linspace(0.46, 0.54, 9)
    np.testing.assert_allclose(edge(grid), 6 * (grid - 0.5) * 0.98, atol=0.05)  # 2% of returns are 0
    assert np.all(np.diff(edge(np.linspace(0.4, 0.6, 200))) >= 0)
    order = np.argsort(val["prob"].to_numpy(), kind="stable")
    bins = np.array_split(order, len(order) // BIN_ROWS)
    sign, p32 = np.sign(val["hold_return"].to_numpy()), val["prob"].cast(pl.Float64).to_numpy()
    reference = IsotonicRegression(y_min=-1, y_max=1, out_of_bounds="clip").fit(
        [p32[b].mean() for b in bins], [sign[b].mean() for b in bins], sample_weight=[len(b) for b in bins])
    np.testing.assert_allclose(edge(grid), reference.predict(grid), atol=1e-12)
    assert np.isnan(edge(np.array([np.nan]))[0])
    for raw in (calibrate(val, "none"), calibrate(val.clear(), "isotonic"), calibrate(None, "isotonic")):
        np.testing.assert_allclose(raw(np.array([0.3, 0.5, 0.6])), [-0.4, 0.0, 0.2])
    assert calibrate(val.clear(), "isotonic").method.startswith("none: no val")


def test_shrunk_covariance_is_ledoit_wolfs():
    """Ledoit & Wolf (2004), lemma 3.3 and the estimators of section 3.3, by hand: S* = (b2 / d2) m I + (1 - b2 / d2) S,
    with <A, B> = tr(AB') / p, m = <S, I>, d2 = ||S - m I||^2, b2 = min(d2, sum_k ||x_k x_k' - S||^2 / n^2);
    and what PyPortfolioOpt's CovarianceShrinkage (which wraps the same estimator) returns. A missing return is 0."""
    window = np.random.default_rng(1).normal(0, 0.02, (60, 8))
    window[3, 2] = np.nan
    x = np.nan_to_num(window) - np.nan_to_num(window).mean(axis=0)
    n, p = x.shape
    sample = x.T @ x / n
    norm = lambda a: (a * a).sum() / p  # noqa: E731
    m = np.trace(sample) / p
    d2 = norm(sample - m * np.eye(p))
    b2 = min(d2, sum(norm(np.outer(row, row) - sample) for row in x) / n**2)
    expected = b2 / d2 * m * np.eye(p) + (1 - b2 / d2) * sample
    np.testing.assert_allclose(shrunk_covariance(window), expected, rtol=1e-10)
    wrapped = risk_models.CovarianceShrinkage(pd.DataFrame(np.nan_to_num(window)), returns_data=True, frequency=1)
    np.testing.assert_allclose(shrunk_covariance(window), wrapped.ledoit_wolf().to_numpy(), rtol=1e-12)


def test_mean_variance_is_the_closed_form_when_nothing_binds():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 0.01, (5, 5))
    covariance = a @ a.T + np.eye(5) * 1e-4
    mu = rng.normal(0, 5e-4, 5)
    weights = solve(mu, covariance, np.zeros(5), risk_aversion=4.0, kappa=0.0, max_weight=100.0, max_gross=1000.0)
    np.testing.assert_allclose(weights, np.linalg.solve(covariance, mu) / 4.0, rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_mean_variance_matches_an_independent_solve_of_its_problem_and_keeps_its_limits(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(0, 0.01, (60, 6))
    covariance = np.cov(a.T) + np.eye(6) * 1e-5
    mu, previous = rng.normal(0, 2e-3, 6), rng.normal(0, 0.1, 6)
    weights = solve(mu, covariance, previous, 4.0, kappa=0.001, max_weight=0.25, max_gross=0.8)
    w = cp.Variable(6)
    objective = mu @ w - 2.0 * cp.quad_form(w, covariance) - 0.001 * cp.norm1(w - previous)
    cp.Problem(cp.Maximize(objective), [cp.abs(w) <= 0.25, cp.norm1(w) <= 0.8]).solve(solver="SCS", eps=1e-10)
    np.testing.assert_allclose(weights, w.value, atol=1e-4)
    assert np.abs(weights).max() <= 0.25 + 1e-12 and np.abs(weights).sum() <= 0.8 + 1e-12


def test_the_mean_variance_book_keeps_the_limits_every_session_and_trades_only_on_rebalance_days():
    grid, history = _world(120, np.array([0.01, 0.02, 0.015, 0.03, 0.012]), seed=4)
    edge = Edge("isotonic", 10, np.array([0.4, 0.6]), np.array([-0.4, 0.4]))
    weights = mean_variance(grid, history, edge, 4.0, 0.001, 60, max_weight=0.3, max_gross=1.0, max_names=3,
                            rebalance_days=10)
    assert np.abs(weights).max() <= 0.3 + 1e-12 and np.abs(weights).sum(axis=1).max() <= 1.0 + 1e-12
    assert (np.count_nonzero(weights, axis=1) <= 3).all() and np.abs(weights).sum() > 1
    book = Strategy("mean_variance", weights=weights)
    turnover = backtest_grid(grid, [book], COSTS).daily["mean_variance"]["turnover"].to_numpy()
    between = [t for t in np.flatnonzero(turnover > 1e-12) if t % 10]
    for t in between:  # a trade between solves only trims a book that drifted past a limit back to it
        drifted = weights[t - 1] * (1 + grid.returns[t - 1]) / (1 + weights[t - 1] @ grid.returns[t - 1])
        assert np.abs(drifted).max() > 0.3 or np.abs(drifted).sum() > 1.0
        np.testing.assert_allclose(weights[t], within_limits(drifted, 0.3, 1.0), rtol=1e-12)
    assert len(between) < 120 - 12


def test_the_environment_passes_gymnasiums_check_env():
    grid, history = _world(200, np.array([0.01, 0.02, 0.015, 0.03]))
    env = SizingEnv(market(grid, history, 1, 60, 5, 0.25, 1.5, COSTS), range(0, 150), 30, 4.0)
    with pytest.warns(UserWarning, match="render") as caught:  # the only complaint: no render modes to test
        check_env(env, skip_render_check=False)
    assert all("render" in str(w.message) for w in caught)
    observation, _ = env.reset(seed=1)
    assert env.observation_space.contains(observation)


def test_the_environment_accounts_like_the_engine():
    grid, history = _world(150, np.array([0.01, 0.02, 0.015, 0.03, 0.025]), seed=5)
    book = market(grid, history, 2, 60, 5, 0.25, 1.5, COSTS)
    env = SizingEnv(book, range(book.days), None, 4.0)
    env.reset()
    actions = np.random.default_rng(0).uniform(-1.2, 1.2, book.days).astype(np.float32)
    steps = [env.step(np.array([a])) for a in actions]
    multiples, nets = np.array([s[4]["multiple"] for s in steps]), np.array([s[4]["net"] for s in steps])
    assert steps[-1][3] and not any(s[3] for s in steps[:-1])  # one episode, truncated at the end
    np.testing.assert_allclose(multiples, (np.clip(actions.astype(float), -1, 1) + 1) / 2 * book.cap, rtol=1e-12)
    traded = backtest_grid(grid, [Strategy("ppo", weights=multiples[:, None] * book.book)], COSTS).daily["ppo"]
    np.testing.assert_allclose(traded["strategy"].to_numpy(), nets, atol=1e-15)
    np.testing.assert_allclose([s[1] for s in steps], 100 * (nets - 2.0 * nets**2))


def test_ppo_agents_are_chosen_on_val_and_score_deterministically():
    grid, history = _world(240, np.array([0.01, 0.02, 0.015, 0.03]), seed=6)
    val = market(grid, history, 1, 60, 5, 0.25, 1.5, COSTS)
    settings = ppo.Settings((0, 1), timesteps=256, train_fraction=0.5, episode_days=40, learning_rate=3e-4,
                            n_steps=128, gamma=0.9, risk_aversion=4.0)
    agents = ppo.fit(val, settings)
    assert (agents.train_days, agents.select_days) == (range(0, 120), range(120, 240))
    best = max(agents.val_sharpe, key=lambda s: agents.val_sharpe[s])
    assert agents.chosen == best
    chosen = agents.models[agents.chosen]
    nets = ppo.score(chosen, val, agents.select_days)[1]
    assert agents.val_sharpe[agents.chosen] == pytest.approx(nets.mean() / nets.std(ddof=1) * np.sqrt(252))
    again = ppo.train(val, agents.train_days, settings, agents.chosen)
    np.testing.assert_array_equal(ppo.score(again, val, agents.select_days)[0],
                                  ppo.score(chosen, val, agents.select_days)[0])


def test_average_pairwise_correlation_is_the_mean_of_the_correlation_matrix():
    rng = np.random.default_rng(7)
    common = rng.normal(0, 0.01, (100, 1))
    returns = common + rng.normal(0, 0.01, (100, 5))
    returns[95, 4] = np.nan  # E misses a day: out of the last sessions' windows
    tradable = np.ones((3, 5), dtype=bool)
    tradable[0, 1] = False
    grid = Grid(pl.Series("date", [date(2020, 1, 1)] * 3), pl.Series("ticker", list("ABCDE")),
                np.full((3, 5), 0.5, dtype=np.float32), np.zeros((3, 5)), tradable)
    history = History(returns, np.array([59, 80, 99]))
    out = average_correlation(grid, history, 40)
    for t, names in ((0, [0, 2, 3, 4]), (1, [0, 1, 2, 3, 4]), (2, [0, 1, 2, 3])):
        rho = np.corrcoef(history.window(t, 40)[:, names].T)
        assert out[t] == pytest.approx(rho[np.triu_indices(len(names), 1)].mean(), rel=1e-12)
    assert np.isnan(average_correlation(grid, history, 90)[0])  # no full window at row 59


def test_effective_bets_count_uncorrelated_risks():
    rng = np.random.default_rng(8)
    a, b = rng.normal(0, 0.01, 5000), rng.normal(0, 0.02, 5000)
    history = History(np.column_stack([a, b, a]), np.array([4999]))
    assert effective_bets(np.array([[0.6, 0.0, 0.0]]), history, 5000) == pytest.approx(1.0)
    assert effective_bets(np.array([[2 / 3, 1 / 3, 0.0]]), history, 5000) == pytest.approx(2.0, abs=0.01)  # equal risk
    assert effective_bets(np.array([[0.5, 0.0, 0.5]]), history, 5000) == pytest.approx(1.0)  # one bet, two names
    assert np.isnan(effective_bets(np.zeros((1, 3)), history, 5000))


def test_without_val_predictions_ppo_is_not_run_and_the_edge_is_raw():
    rng = np.random.default_rng(9)
    days = [date(2021, 1, 4) + timedelta(i) for i in range(150)]
    bars = pl.DataFrame([{"ticker": t, "date": d, "close": c} for t in "ABCD"
                         for d, c in zip(days, 50 * np.cumprod(1 + rng.normal(0, 0.02, 150)))])
    test = pl.DataFrame([{"ticker": t, "date": d, "prob": float(rng.uniform(0.4, 0.6)), "hold_return": 0.01}
                         for t in "ABCD" for d in days[80:]])
    params = BacktestParams(rebalance_days=20)
    sized = size(to_grid(test), bars, test.clear(), params, COSTS)
    assert set(sized.weights) == {"vol_target", "kelly", "mean_variance"} and sized.trials == 0
    assert sized.report["ppo"] == {"run": False, "why": "no val predictions to learn on (train.refit: train_val "
                                                        "scores test only)"}
    assert sized.report["calibration"]["method"].startswith("none: no val")
    assert sized.report["calibration"]["edge_at"]["0.55"] == pytest.approx(0.1)
