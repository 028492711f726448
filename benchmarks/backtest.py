"""Benchmark the backtest on 10.17M predictions (1,695 tickers x 6,000 sessions); prints JSON.

Predictions are synthetic (seeded numpy) in the Predictions layout the evaluate stage writes: one row
per (ticker, date), grouped by ticker and dated in order, P(up) as float32, with the clean bars they
are filled from (open, close, volume) and a sector per ticker (11, like GICS). Two universes of the
same size:
- dense: every ticker on every session (10.17M rows);
- ragged: tickers list and delist at random sessions and 0.1% of rows are missing, so the
  benchmark trades on most sessions and the grid has holes (fewer rows; its count is printed).
Each timing is the median of --repeats runs, in seconds (wall and process CPU):
- run_long_short[_ragged]: engine.run for the long-short top/bottom decile (k = 169), from the long
  table to daily net returns of the strategy and of the buy-and-hold benchmark. The issue's
  yardstick: a bare numpy long-short decile backtest took 0.28 s on 2 cores, vectorbt about 3-4 s;
  the goal is 0.5 s.
- its parts on the dense universe: grid (long table -> matrices), benchmark (buy-and-hold returns
  and turnover), long_short (weights + simulation);
- long_flat and topk_dropout (k = 169, 16 swaps a day), weights + simulation;
- fills: the holding returns of the next-open fill and the median dollar volume from the bars, joined
  to the predictions with sectors and borrow (fills.holding_returns + tradable_predictions);
- run_long_short_desk: run_long_short again on the filled predictions, with borrow, sectors and the
  participation cap at $100k checked: the issue's yardstick (at most 1.0 s);
- run_desk: engine.backtest of all three strategies on the filled predictions, with borrow on shorts
  and the participation cap at $100k checked (the stage's call); run_sector_neutral: long_short
  with neutralize=sector;
- capacity: the capacity table of long_short at five capitals from 1e5 to 1e9;
- the sizing policies on the dense grid with the default params (k = 169): history (the close-to-close
  returns of the bars, with 60 sessions before the grid), calibrate (isotonic on 1M rows standing in for
  val), vol_target, kelly, mean_variance (one PyPortfolioOpt solve over 50 names every session: 6,000
  solves, so one run however many --repeats) and average_correlation; the `sizing` block;
- ppo: one agent's training (the default 4,000 steps) and its scoring on a market the size of the
  sample's val segment (9 names x 965 sessions), and on the dense grid's 6,000 sessions; the `ppo` block.
The issue's goals: run_long_short_desk at most 1.0 s, capacity at most 5 s.

Usage: python benchmarks/backtest.py [--tickers 1695] [--days 6000] [--repeats 5] [--only sizing]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import date

import numpy as np
import polars as pl

from stockcast.backtest import ppo
from stockcast.backtest.benchmark import buy_and_hold
from stockcast.backtest.calibration import calibrate
from stockcast.backtest.capacity import capacity_table
from stockcast.backtest.correlation import average_correlation
from stockcast.backtest.engine import Capacity, Costs, Strategy, backtest, run, simulate
from stockcast.backtest.fills import holding_returns, tradable_predictions
from stockcast.backtest.grid import to_grid
from stockcast.backtest.history import close_returns
from stockcast.backtest.mean_variance import mean_variance
from stockcast.backtest.rl_env import market
from stockcast.backtest.sizing import kelly, vol_target
from stockcast.backtest.strategies import STRATEGIES, long_flat, long_short, topk_dropout
from stockcast.data.universe import universe_of
from stockcast.params import BacktestParams

COSTS = Costs(10 / 1e4, borrow_bps_per_year=25.0)
SECTORS = 11


def predictions(days: int, tickers: int, ragged: bool = False, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sessions = pl.date_range(date(1990, 1, 1), date(2060, 1, 1), "1d", eager=True)
    sessions = sessions.filter(sessions.dt.weekday() <= 5)[:days]
    names = np.array([f"T{i:05d}" for i in range(tickers)])
    frame = pl.DataFrame({
        "ticker": np.repeat(names, days),
        "date": pl.Series(np.tile(sessions.to_numpy(), tickers)),
        "prob": rng.random(days * tickers, dtype=np.float32),
        "next_return": rng.normal(0.0003, 0.02, days * tickers),
    })
    frame = frame.with_columns(close=(100 * (1 + pl.col("next_return").shift(1).fill_null(0.0)).cum_prod())
                               .over("ticker"))
    frame = frame.with_columns(open=pl.col("close") * pl.Series(rng.normal(1, 0.005, frame.height)),
                               volume=pl.Series(rng.integers(10_000, 5_000_000, frame.height)).cast(pl.Float64))
    if ragged:
        listed = np.sort(rng.integers(0, days, size=(tickers, 2)), axis=1)
        listed[rng.random(tickers) < 0.5, 0] = 0
        listed[rng.random(tickers) < 0.5, 1] = days - 1
        session = np.tile(np.arange(days), tickers)
        keep = (session >= np.repeat(listed[:, 0], days)) & (session <= np.repeat(listed[:, 1], days))
        frame = frame.filter(pl.Series(keep & (rng.random(len(keep)) >= 0.001)))
    last = pl.col("date") == pl.col("date").max().over("ticker")
    return frame.with_columns(next_return=pl.when(last).then(None).otherwise(pl.col("next_return")))


def median_seconds(fn: Callable[[], object], repeats: int) -> dict[str, float]:
    """Median wall-clock and process CPU seconds of `repeats` calls. On a shared machine the CPU time is
    the better guide to what the call costs on idle cores (the code is mostly single-threaded)."""
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start_wall)
        cpu.append(time.process_time() - start_cpu)
    return {"wall": round(statistics.median(wall), 4), "cpu": round(statistics.median(cpu), 4)}


def sizing_timings(frame: pl.DataFrame, repeats: int) -> dict[str, dict[str, float]]:
    """The sizing policies' seconds on the grid of `frame`, with the default backtest params."""
    params = BacktestParams()
    grid = to_grid(frame.rename({"next_return": "hold_return"}))
    k = grid.shape[1] // 10
    bars = frame.select("ticker", "date", "close")
    val = frame.head(1_000_000).rename({"next_return": "hold_return"})
    history = close_returns(bars, grid, params.vol_window)
    edge = calibrate(val, "isotonic")
    window, limits = params.vol_window, (params.max_weight, params.max_gross)
    return {
        "history": median_seconds(lambda: close_returns(bars, grid, params.vol_window), repeats),
        "calibrate": median_seconds(lambda: calibrate(val, "isotonic"), repeats),
        "vol_target": median_seconds(lambda: vol_target(grid, history, k, params.target_vol, window, *limits), repeats),
        "kelly": median_seconds(lambda: kelly(grid, history, edge, params.kelly_fraction, window, *limits), repeats),
        "mean_variance": median_seconds(lambda: mean_variance(
            grid, history, edge, params.risk_aversion, 0.001, window, *limits, params.max_names,
            params.rebalance_days), 1),
        "average_correlation": median_seconds(lambda: average_correlation(grid, history, window), repeats),
    }


def ppo_timings(frame: pl.DataFrame) -> dict[str, float]:
    """Seconds to train one agent with the default ppo params on a sample-sized val market (9 names x 965
    sessions), to score it there, and to score it on the grid of `frame`."""
    params = BacktestParams()
    settings = ppo.Settings((0,), params.ppo.timesteps, params.ppo.train_fraction, params.ppo.episode_days,
                            params.ppo.learning_rate, params.ppo.n_steps, params.ppo.gamma, params.risk_aversion)
    costs = Costs(10 / 1e4, borrow_bps_per_year=25.0)
    build = (params.vol_window, params.ppo.lookback, params.max_weight, params.max_gross, costs)
    small = predictions(965, 9, seed=1)
    small_grid = to_grid(small.rename({"next_return": "hold_return"}))
    val = market(small_grid, close_returns(small.select("ticker", "date", "close"), small_grid, 60), params.top_k,
                 *build)
    start = time.perf_counter()
    agent = ppo.train(val, range(val.days), settings, 0)
    trained = time.perf_counter() - start
    start = time.perf_counter()
    ppo.score(agent, val, range(val.days))
    scored_small = time.perf_counter() - start
    grid = to_grid(frame.rename({"next_return": "hold_return"}))
    big = market(grid, close_returns(frame.select("ticker", "date", "close"), grid, 60), grid.shape[1] // 10, *build)
    start = time.perf_counter()
    ppo.score(agent, big, range(big.days))
    return {"timesteps": params.ppo.timesteps, "train_one_agent": round(trained, 3),
            "score_val_965_sessions": round(scored_small, 3), "score_dense_grid": round(time.perf_counter() - start, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", choices=["sizing"], help="time the sizing policies and ppo only")
    args = parser.parse_args()
    frame = predictions(args.days, args.tickers)
    context = {"rows": frame.height, "days": args.days, "tickers": args.tickers, "repeats": args.repeats,
               "cpus": len(os.sched_getaffinity(0)), "numpy": np.__version__, "polars": pl.__version__,
               "python": platform.python_version()}
    sizing = {"sizing": sizing_timings(frame, args.repeats), "ppo": ppo_timings(frame)}
    if args.only == "sizing":
        print(json.dumps(context | {"load_average_1min": round(os.getloadavg()[0], 2)} | sizing, indent=2))
        return
    ragged = predictions(args.days, args.tickers, ragged=True)
    k = args.tickers // 10
    plain = frame.rename({"next_return": "hold_return"})
    grid = to_grid(plain)
    zero = np.zeros(grid.shape[1])
    universe = universe_of(frame["ticker"], None)[0].with_columns(
        sector=(pl.int_range(pl.len()) % SECTORS).cast(pl.String))
    bars = frame.select("ticker", "date", "open", "close", "volume")
    preds = frame.select("ticker", "date", "prob")

    def fills() -> pl.DataFrame:
        return tradable_predictions(preds, holding_returns(bars, "next_open", universe), universe, 0.0, 1e6)

    filled = fills()
    desk = backtest(filled, [Strategy(name, top_k=k, max_swaps=k // 10) for name in STRATEGIES], COSTS)
    long_short_k = Strategy("long_short", top_k=k)
    timings = {
        "run_long_short": median_seconds(lambda: run(plain, [long_short_k], COSTS), args.repeats),
        "run_long_short_ragged": median_seconds(
            lambda: run(ragged.rename({"next_return": "hold_return"}), [long_short_k], COSTS), args.repeats),
        "grid": median_seconds(lambda: to_grid(plain), args.repeats),
        "benchmark": median_seconds(lambda: buy_and_hold(grid), args.repeats),
        "long_short": median_seconds(lambda: simulate(long_short(grid, k), grid.returns, zero)[0], args.repeats),
        "long_flat": median_seconds(lambda: simulate(long_flat(grid, 0.5), grid.returns, zero), args.repeats),
        "topk_dropout": median_seconds(lambda: simulate(topk_dropout(grid, k, k // 10), grid.returns, zero),
                                       args.repeats),
        "fills": median_seconds(fills, args.repeats),
        "run_long_short_desk": median_seconds(lambda: backtest(filled, [long_short_k], COSTS, Capacity(1e5, 0.1)),
                                              args.repeats),
        "run_desk": median_seconds(lambda: backtest(filled, [Strategy(name, top_k=k, max_swaps=k // 10)
                                                             for name in STRATEGIES], COSTS, Capacity(1e5, 0.1)),
                                   args.repeats),
        "run_sector_neutral": median_seconds(
            lambda: backtest(filled, [Strategy("long_short", top_k=k // SECTORS, neutralize="sector")], COSTS,
                             Capacity(1e5, 0.1)), args.repeats),
        "capacity": median_seconds(lambda: capacity_table(desk.grid, long_short_k, COSTS,
                                                          desk.daily["long_flat"]["benchmark"].to_numpy(),
                                                          [1e5, 1e6, 1e7, 1e8, 1e9], 0.1), max(1, args.repeats // 2)),
    }
    print(json.dumps(context | {"rows_ragged": ragged.height, "top_k": k,
                                "load_average_1min": round(os.getloadavg()[0], 2), "seconds": timings} | sizing,
                     indent=2))


if __name__ == "__main__":
    main()
