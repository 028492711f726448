"""Benchmark the backtest on 10.17M predictions (1,695 sessions x 6,000 tickers); prints JSON.

Predictions are synthetic (seeded numpy) in the Predictions layout: one row per (ticker, date),
grouped by ticker, P(up) as float32. Each timing is the median of --repeats runs, in seconds:
- run_long_short: engine.run for the long-short top/bottom decile (k = 600), from the long table to
  daily net returns of the strategy and of the buy-and-hold benchmark. The issue's yardstick: a bare
  numpy long-short decile backtest took 0.28 s on 2 cores, vectorbt about 3-4 s; the goal is 0.5 s.
- its parts: grid (long table -> matrices), benchmark (buy-and-hold returns and turnover),
  long_short (weights + simulation);
- long_flat and topk_dropout (k = 600, 60 swaps a day), weights + simulation.

Usage: python benchmarks/backtest.py [--days 1695] [--tickers 6000] [--repeats 5]
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


def predictions(days: int, tickers: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    sessions = pl.date_range(date(1990, 1, 1), date(2060, 1, 1), "1d", eager=True)
    sessions = sessions.filter(sessions.dt.weekday() <= 5)[:days]
    names = np.array([f"T{i:05d}" for i in range(tickers)])
    return pl.DataFrame({
        "ticker": np.repeat(names, days),
        "date": pl.Series(np.tile(sessions.to_numpy(), tickers)),
        "prob": rng.random(days * tickers, dtype=np.float32),
        "next_return": rng.normal(0.0003, 0.02, days * tickers),
    })


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
    parser.add_argument("--days", type=int, default=1695)
    parser.add_argument("--tickers", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    frame = predictions(args.days, args.tickers)
    k = args.tickers // 10
    grid = to_grid(frame)
    timings = {
        "run_long_short": median_seconds(lambda: run(frame, [Strategy("long_short", top_k=k)], COST), args.repeats),
        "grid": median_seconds(lambda: to_grid(frame), args.repeats),
        "benchmark": median_seconds(lambda: buy_and_hold(grid), args.repeats),
        "long_short": median_seconds(lambda: simulate(long_short(grid, k), grid.returns, COST), args.repeats),
        "long_flat": median_seconds(lambda: simulate(long_flat(grid, 0.5), grid.returns, COST), args.repeats),
        "topk_dropout": median_seconds(lambda: simulate(topk_dropout(grid, k, k // 10), grid.returns, COST),
                                       args.repeats),
    }
    print(json.dumps({"rows": frame.height, "days": args.days, "tickers": args.tickers, "top_k": k,
                      "repeats": args.repeats, "cpus": len(os.sched_getaffinity(0)), "numpy": np.__version__,
                      "polars": pl.__version__, "python": platform.python_version(),
                      "load_average_1min": round(os.getloadavg()[0], 2), "seconds": timings}, indent=2))


if __name__ == "__main__":
    main()
