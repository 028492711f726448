"""Benchmark the backtest on 10.17M predictions (1,695 tickers x 6,000 sessions); prints JSON.

Predictions are synthetic (seeded numpy) in the Predictions layout the evaluate stage writes: one row
per (ticker, date), grouped by ticker and dated in order, P(up) as float32, and no next_return on
each ticker's last row. Two universes of the same size:
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
- long_flat and topk_dropout (k = 169, 16 swaps a day), weights + simulation.

Usage: python benchmarks/backtest.py [--tickers 1695] [--days 6000] [--repeats 5]
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

from stockcast.backtest.benchmark import buy_and_hold
from stockcast.backtest.engine import Strategy, run, simulate
from stockcast.backtest.grid import to_grid
from stockcast.backtest.strategies import long_flat, long_short, topk_dropout

COST = 10 / 1e4


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    frame = predictions(args.days, args.tickers)
    ragged = predictions(args.days, args.tickers, ragged=True)
    k = args.tickers // 10
    grid = to_grid(frame)
    timings = {
        "run_long_short": median_seconds(lambda: run(frame, [Strategy("long_short", top_k=k)], COST), args.repeats),
        "run_long_short_ragged": median_seconds(lambda: run(ragged, [Strategy("long_short", top_k=k)], COST),
                                                args.repeats),
        "grid": median_seconds(lambda: to_grid(frame), args.repeats),
        "benchmark": median_seconds(lambda: buy_and_hold(grid), args.repeats),
        "long_short": median_seconds(lambda: simulate(long_short(grid, k), grid.returns, COST), args.repeats),
        "long_flat": median_seconds(lambda: simulate(long_flat(grid, 0.5), grid.returns, COST), args.repeats),
        "topk_dropout": median_seconds(lambda: simulate(topk_dropout(grid, k, k // 10), grid.returns, COST),
                                       args.repeats),
    }
    print(json.dumps({"rows": frame.height, "rows_ragged": ragged.height, "days": args.days, "tickers": args.tickers, "top_k": k,
                      "repeats": args.repeats, "cpus": len(os.sched_getaffinity(0)), "numpy": np.__version__,
                      "polars": pl.__version__, "python": platform.python_version(),
                      "load_average_1min": round(os.getloadavg()[0], 2), "seconds": timings}, indent=2))


if __name__ == "__main__":
    main()
