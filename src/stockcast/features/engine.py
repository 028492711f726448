"""Compute features over the whole long table, one ticker's contiguous arrays at a time.

The table is sorted by (ticker, date) and cut at ticker boundaries; each ticker's rows become one
`Bars` and every feature is evaluated on it, in threads (TA-Lib and numpy release the GIL in
their loops). So a window can only ever see its own ticker's earlier rows, and a ticker's values
are the same bits whatever else is in the table. Results go into one preallocated float32 array
(a row per feature, handed to polars without a copy); the first `lookback` rows of each ticker
are NaN (the warm-up is explicit, never filled), and NaN and inf become null in the table.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from stockcast.features.bars import Bars

if TYPE_CHECKING:
    from stockcast.features.registry import Feature

PRICE_COLUMNS = ("open", "high", "low", "close", "volume")
BATCH_ROWS = 200_000  # rows per task: whole tickers, enough to amortise, small enough to balance threads


def compute(bars: pl.DataFrame, features: Sequence[Feature], threads: int | None = None) -> pl.DataFrame:
    """The features table: ticker, date and one Float32 column per feature; non-finite is null.

    `bars` are clean OHLCV rows (schemas.OHLCV), any order; the result is sorted by ticker, date.
    """
    bars = _sorted(bars)
    arrays = [bars[c].cast(pl.Float64).rechunk().to_numpy() for c in PRICE_COLUMNS]
    out = np.empty((len(features), bars.height), dtype=np.float32)  # row j: feature j's column

    def run(batch: list[tuple[int, int]]) -> None:
        for start, end in batch:
            _compute_ticker(Bars(*(a[start:end] for a in arrays)), features, out[:, start:end])

    def column(j: int) -> pl.Series:  # no copy of the values; the NaN scan for the null mask runs in threads
        return pl.Series(features[j].name, out[j], nan_to_null=True)

    with ThreadPoolExecutor(threads or _cpus()) as pool:
        list(pool.map(run, _batches(bars["ticker"].rle().struct.field("len").to_numpy())))
        series = list(pool.map(column, range(len(features))))
    return bars.select("ticker", "date").with_columns(series)


def _batches(lengths: np.ndarray) -> list[list[tuple[int, int]]]:
    """Consecutive tickers' (start, end) row spans, grouped into tasks of about BATCH_ROWS rows."""
    ends = np.cumsum(lengths)
    spans = list(zip((ends - lengths).tolist(), ends.tolist(), strict=True))
    batches: list[list[tuple[int, int]]] = []
    for span in spans:
        if not batches or batches[-1][-1][1] - batches[-1][0][0] >= BATCH_ROWS:
            batches.append([])
        batches[-1].append(span)
    return batches


def _compute_ticker(bars: Bars, features: Sequence[Feature], out: np.ndarray) -> None:
    """Evaluate every feature on one ticker's Bars into `out` (features x the ticker's rows)."""
    with np.errstate(all="ignore"):  # log(0), 0/0 and overflow become NaN/inf here and null in the table
        for row, f in zip(out, features, strict=True):
            row[:] = f.fn(bars)
            row[: f.lookback] = np.nan
        np.copyto(out, np.nan, where=np.isinf(out))


def _sorted(bars: pl.DataFrame) -> pl.DataFrame:
    """`bars` sorted by (ticker, date), without a copy when they already are."""
    in_order = bars.select(
        ((pl.col("ticker") > pl.col("ticker").shift(1))
         | ((pl.col("ticker") == pl.col("ticker").shift(1)) & (pl.col("date") > pl.col("date").shift(1))))
        .slice(1).all()
    ).item()
    return bars if in_order else bars.sort("ticker", "date")


def _cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
