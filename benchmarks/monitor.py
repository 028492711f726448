"""Benchmark the monitor's drift on a 10.17M-row universe (1,695 tickers x 6,000 sessions x 95 features); prints JSON.

The features table is synthetic (seeded numpy, float32, per-ticker random walks so that features are
persistent as real ones are) in the layout the features stage writes: sorted by ticker and date,
zstd parquet. The reference is the first 60% of the sessions (the monitor reads a sample of about
sample of at most monitor.reference_rows of them), current the last monitor.window (60) sessions.
Timings, medians of --repeats runs, wall seconds:
- read: the reference sample and the current rows from the parquet file (monitor.read_sides, one pass);
- drift: PSI, KS, normed Wasserstein and the calibrated flag of every feature (monitor.feature_drift);
- total: both. The issue's goal: at most 10 s on 2 cores.
Permutation importance is not included: it scores the model on at most monitor.importance_windows
windows per side whatever the universe's size (its cost is the model's, see benchmarks/inference.py).

Usage: python benchmarks/monitor.py [--tickers 1695] [--days 6000] [--features 95] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
from scipy.signal import lfilter

from stockcast.monitor import feature_drift, read_sides
from stockcast.params import MonitorParams


def universe(path: Path, tickers: int, days: int, features: int, seed: int = 0) -> list[str]:
    """Write the synthetic features table one ticker block at a time; return the feature names."""
    rng = np.random.default_rng(seed)
    names = [f"f{j:02d}" for j in range(features)]
    dates = pl.Series([date(2000, 1, 3) + timedelta(days=d) for d in range(days)], dtype=pl.Date)
    writer = None
    for first in range(0, tickers, 100):  # 100 tickers per row group: memory stays at one block
        frames = [pl.DataFrame(_ar1(rng.standard_normal((days, features), dtype=np.float32)), schema=names)
                  .with_columns(ticker=pl.lit(f"T{t:04d}"), date=dates).select("ticker", "date", *names)
                  for t in range(first, min(first + 100, tickers))]
        table = pl.concat(frames).to_arrow()
        writer = writer or pq.ParquetWriter(path, table.schema, compression="zstd", compression_level=1)
        writer.write_table(table)
    writer.close()
    return names


def _ar1(steps: np.ndarray, phi: float = 0.95) -> np.ndarray:
    """x_t = phi x_(t-1) + e_t down each column: persistent and stationary, as most features are."""
    return lfilter([1.0], [1.0, -phi], steps, axis=0).astype(np.float32)


def run_once(path: Path, names: list[str], params: MonitorParams) -> dict[str, float]:
    scan = pl.scan_parquet(path)
    sessions = scan.select("date").unique().sort("date").collect()["date"]
    train_to, current_from = sessions[int(len(sessions) * 0.6)], sessions[-params.window]
    start = time.perf_counter()
    reference, block, n_reference, current = read_sides(scan, names, (sessions[0], train_to), current_from,
                                                        params.reference_rows, params.window)
    read = time.perf_counter() - start
    drift = feature_drift(reference, current, names, params, n_reference, block)
    total = time.perf_counter() - start
    return {"read": read, "drift": total - read, "total": total, "flagged": int(drift["drifted"].sum()),
            "reference_rows": n_reference, "sampled": len(reference), "current_rows": len(current)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--features", type=int, default=95)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    params = MonitorParams()
    with tempfile.TemporaryDirectory(prefix="stockcast-monitor-") as folder:
        path = Path(folder) / "features.parquet"
        names = universe(path, args.tickers, args.days, args.features)
        runs = [run_once(path, names, params) for _ in range(args.repeats)]
    timing = {k: round(statistics.median(r[k] for r in runs), 3) for k in ("read", "drift", "total")}
    print(json.dumps({"rows": args.tickers * args.days, "features": args.features, "cpus": len(os.sched_getaffinity(0)),
                      "repeats": args.repeats, "seconds_median": timing,
                      "runs": [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in runs],
                      "goal_total_s": 10.0, "goal_met": timing["total"] <= 10.0}, indent=1))


if __name__ == "__main__":
    main()
