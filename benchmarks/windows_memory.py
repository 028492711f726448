"""Memory of the model's view of the universe: the float32 panel and its windows.

Writes a features parquet of N tickers x D days x F features (random values, warm-up NaN), loads it
with Panel.load (one column at a time), normalises in place and indexes windows of every segment;
prints JSON with the panel's bytes, peak RSS and seconds. Goal (issue 5): 10.17M rows x 95 features
in about 4 GB.

    python benchmarks/windows_memory.py --tickers 1695 --days 6000 --features 95
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

from stockcast.dataset import Panel
from stockcast.normalize import fit_normalizer
from stockcast.split import assign_segments


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def write_features(path: Path, tickers: int, days: int, features: int, seed: int = 0) -> pl.DataFrame:
    """Random float32 features written column by column; returns the labels frame (keys, label)."""
    rng = np.random.default_rng(seed)
    n = tickers * days
    keys = pl.DataFrame({
        "ticker": pl.Series(np.repeat([f"S{i:04d}" for i in range(tickers)], days)),
        "date": pl.Series(np.tile(np.arange(days), tickers)).cast(pl.Int32).cast(pl.Date),
    })
    columns = {f"f{j:03d}": rng.standard_normal(n, dtype=np.float32) for j in range(features)}
    for values in columns.values():
        values.reshape(tickers, days)[:, :20] = np.nan
    keys.with_columns(**{k: pl.Series(v) for k, v in columns.items()}).write_parquet(path, compression="zstd")
    labels = keys.with_columns(fwd_return=pl.lit(0.0), next_return=pl.lit(0.0),
                               label=pl.Series(rng.integers(0, 2, n, dtype=np.int8)))
    return labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--features", type=int, default=95)
    parser.add_argument("--seq-len", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "features.parquet"
        labels = write_features(path, args.tickers, args.days, args.features)
        labels, _ = assign_segments(labels, 0.6, 0.2, embargo_days=80)
        names = [f"f{j:03d}" for j in range(args.features)]
        rss_before = peak_rss_bytes()
        start = time.perf_counter()
        panel = Panel.load(path, labels, names)
        del labels
        fit_normalizer("zscore", panel.x, panel.segment_rows("train"), names).transform(panel.x)
        windows = {s: len(panel.window_ends(args.seq_len, s)) for s in ("train", "val", "test")}
        seconds = time.perf_counter() - start
    print(json.dumps({
        "rows": int(panel.x.shape[0]), "features": args.features, "panel_bytes": int(panel.x.nbytes),
        "peak_rss_bytes": peak_rss_bytes(), "peak_rss_before_load_bytes": rss_before,
        "seconds_load_normalise_index": round(seconds, 2), "windows": windows, "seq_len": args.seq_len,
    }, indent=2))


if __name__ == "__main__":
    main()
