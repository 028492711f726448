"""Benchmark feature computation on the synthetic 1,695 tickers x 6,000 sessions universe; prints JSON.

The universe is stockcast.data.synthetic's seeded `null` market (10.17M rows of RawOHLCV). The
timing is `stockcast.features.compute` from the long table to the finished features table (sort
check, per-ticker TA-Lib and numpy, null masks, polars columns), median of --repeats runs: wall
seconds, and CPU seconds of all threads, user and system apart. System time is mostly the first
touch of the fresh output memory (~4 GB for seed95), which on a virtual machine can cost seconds.
Memory is the process's peak RSS (getrusage) against the output table's size; the issue's goals for
seed95: at most 10 s on 2 cores, peak memory at most 3x the output table.

Usage: python benchmarks/features.py [--set seed95] [--families price volume] [--tickers 1695]
       [--days 6000] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import time

import numpy as np
import polars as pl
import talib

from stockcast.data.synthetic import generate
from stockcast.features import compute, feature_set


def cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU seconds of this process so far, all threads."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", default="seed95")
    parser.add_argument("--families", nargs="*", default=None)
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="default: the CPUs this process may use")
    args = parser.parse_args()

    bars, _ = generate("null", args.tickers, args.days, seed=0)
    features = feature_set(args.set, args.families)
    rss_before = peak_rss_bytes()
    times, user, system, output_bytes = [], [], [], 0
    for _ in range(args.repeats):
        start, (user0, system0) = time.perf_counter(), cpu_seconds()
        table = compute(bars, features, threads=args.threads)
        times.append(time.perf_counter() - start)
        user1, system1 = cpu_seconds()
        user.append(user1 - user0)
        system.append(system1 - system0)
        output_bytes = table.estimated_size()
        del table
    peak = peak_rss_bytes()
    print(json.dumps({
        "set": args.set, "families": args.families, "rows": bars.height, "tickers": args.tickers,
        "features": len(features), "seconds": round(statistics.median(times), 3),
        "seconds_each": [round(t, 3) for t in times], "user_seconds": round(statistics.median(user), 3),
        "system_seconds": round(statistics.median(system), 3),
        "input_bytes": bars.estimated_size(),
        "output_bytes": output_bytes, "peak_rss_bytes": peak, "peak_rss_before_compute_bytes": rss_before,
        "peak_rss_over_output": round(peak / output_bytes, 2), "threads": args.threads or len(os.sched_getaffinity(0)),
        "load_average_1m": os.getloadavg()[0], "numpy": np.__version__, "polars": pl.__version__,
        "ta_lib": talib.__version__, "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
