"""Chronological split by calendar date across the whole universe, with an embargo between segments.

One date belongs to one segment for every ticker, so no test date is ever seen in training for
another ticker. The `embargo_days` dates at the start of val and of test are dropped (segment
"embargo"): a training label ends at most h sessions after its date, and a validation window
starts at most `lookback` sessions before its date, so an embargo of at least h + lookback keeps
the segments from sharing any price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.errors import StockcastError


@dataclass(frozen=True)
class Boundaries:
    """First date of each segment (inclusive) after the embargo, and the last date of the data."""

    train_start: str
    val_start: str
    test_start: str
    end: str


def required_embargo(horizon: int, lookback: int) -> int:
    return horizon + lookback


def assign_segments(labels: pl.DataFrame, train_fraction: float, val_fraction: float,
                    embargo_days: int) -> tuple[pl.DataFrame, Boundaries]:
    """Add a `segment` column (train, val, test, embargo).

    The cut dates are where the cumulative share of rows first reaches each fraction, so 60/20/20
    means 60% of the observations, not of the calendar: a universe that grows over time (IPOs,
    longer histories) still gets a test segment of the size asked for.
    """
    per_date = labels.group_by("date").len().sort("date")
    dates = per_date["date"]
    n = dates.len()
    share = np.cumsum(per_date["len"].to_numpy()) / labels.height
    train_end = int(np.searchsorted(share, train_fraction, side="left")) + 1
    val_end = int(np.searchsorted(share, train_fraction + val_fraction, side="left")) + 1
    val_start, test_start = train_end + embargo_days, val_end + embargo_days
    if train_end < 1 or val_start >= val_end or test_start >= n:
        raise StockcastError(
            f"split: {n} dates cannot hold train/val/test of {train_fraction}/{val_fraction}/"
            f"{1 - train_fraction - val_fraction:.2f} with embargo_days={embargo_days}; "
            "lower split.embargo_days or provide a longer history")
    index = np.arange(n)
    segment = np.select(
        [index < train_end, index < val_start, index < val_end, index < test_start],
        ["train", "embargo", "val", "embargo"], "test")
    calendar = pl.DataFrame({"date": dates, "segment": segment})
    out = labels.join(calendar, on="date", how="left").sort("ticker", "date")
    return out, Boundaries(str(dates[0]), str(dates[val_start]), str(dates[test_start]), str(dates[-1]))
