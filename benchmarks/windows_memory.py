"""Memory of the model's view of the universe: the float32 panel and its windows.

A child process writes a features parquet of N tickers x D days x F features (random values,
warm-up NaN) and its labels; this process then loads them as the train stage does (Panel.load, one
column at a time), normalises in place and indexes the windows of every segment, and prints JSON
with the panel's bytes, its keys' bytes, this process's RSS before loading (interpreter, torch,
polars), its peak RSS and the seconds per step. Goal (issue 5): 10.17M rows x 95 features
in about 4 GB.

    python benchmarks/windows_memory.py --tickers 1695 --days 6000 --features 95
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from stockcast.dataset import Panel
from stockcast.normalize import fit_normalizer
from stockcast.segments import assign_segments


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_tables(folder: Path, tickers: int, days: int, features: int, seed: int = 0) -> None:
    """Random float32 features and random labels (with segments) as features.parquet and labels.parquet."""
    rng = np.random.default_rng(seed)
    n = tickers * days
    keys = pl.DataFrame({
        "ticker": pl.Series(np.repeat([f"S{i:04d}" for i in range(tickers)], days)),
        "date": pl.Series(np.tile(np.arange(days), tickers)).cast(pl.Int32).cast(pl.Date),
    })
    columns = {f"f{j:03d}": rng.standard_normal(n, dtype=np.float32) for j in range(features)}
    for values in columns.values():
        values.reshape(tickers, days)[:, :20] = np.nan
    keys.with_columns(**{k: pl.Series(v) for k, v in columns.items()}).write_parquet(folder / "features.parquet")
    labels = keys.with_columns(fwd_return=pl.lit(0.0), next_return=pl.lit(0.0),
                               label=pl.Series(rng.integers(0, 2, n, dtype=np.int8)))
    assign_segments(labels, 0.6, 0.2, embargo_days=80)[0].write_parquet(folder / "labels.parquet")


def rss_now() -> dict[str, int]:
    """Current resident memory split into anonymous (arrays) and file-backed (mapped parquet) bytes."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) * 1024 for k in ("RssAnon", "RssFile") if k in fields}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--features", type=int, default=95)
    parser.add_argument("--seq-len", type=int, default=60)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)  # the child's job
    args = parser.parse_args()
    if args.write:
        write_tables(args.write, args.tickers, args.days, args.features)
        return
    names = [f"f{j:03d}" for j in range(args.features)]
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, __file__, "--write", tmp, "--tickers", str(args.tickers), "--days",
                        str(args.days), "--features", str(args.features)], check=True)
        seconds = {}
        rss_before = rss_now()
        start = time.perf_counter()
        panel = Panel.load(Path(tmp) / "features.parquet", pl.read_parquet(Path(tmp) / "labels.parquet"), names)
        seconds["load"] = time.perf_counter() - start
    start = time.perf_counter()
    fit_normalizer("zscore", panel.x, panel.segment_rows("train"), names).transform(panel.x)
    seconds["normalise"] = time.perf_counter() - start
    start = time.perf_counter()
    windows = {s: len(panel.window_ends(args.seq_len, s)) for s in ("train", "val", "test")}
    seconds["index_windows"] = time.perf_counter() - start
    print(json.dumps({
        "rows": int(panel.x.shape[0]), "features": args.features, "panel_bytes": int(panel.x.nbytes),
        "keys_bytes": int(panel.keys.estimated_size()), "rss_before_load_bytes": rss_before,
        "peak_rss_bytes": peak_rss_bytes(), "peak_over_panel": round(peak_rss_bytes() / panel.x.nbytes, 2),
        "rss_now_bytes": rss_now(),
        "seconds": {k: round(v, 2) for k, v in seconds.items()}, "windows": windows, "seq_len": args.seq_len,
    }, indent=2))


if __name__ == "__main__":
    main()
