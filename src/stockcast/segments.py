"""Chronological split by calendar date across the whole universe, with an embargo between segments.

One date belongs to one segment for every ticker, so no test date is ever seen in training for
another ticker (coverage.py may then leave a ticker out of a segment: its rows there are in none). The `embargo_days` dates at the start of val and of test are dropped (segment
"embargo"): a training label ends h sessions after its date, and an input at the start of val
reaches `lookback` sessions back, so an embargo of at least h + lookback keeps the last training
label and the first validation input from sharing any price. `check_embargo` enforces it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date
from typing import Literal

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


@dataclass(frozen=True)
class Fold:
    """One walk-forward fold: inclusive first and last dates of its train, val and test periods."""

    fold: int
    train: tuple[str, str]
    val: tuple[str, str]
    test: tuple[str, str]


def check_embargo(embargo_days: int, horizon: int, lookback: int) -> None:
    """Refuse an embargo shorter than horizon + the longest feature lookback (see module doc)."""
    needed = horizon + lookback
    if embargo_days < needed:
        raise StockcastError(f"split.embargo_days={embargo_days} is below horizon + feature lookback "
                             f"= {horizon} + {lookback} = {needed}")


def _cut_by_share(counts: np.ndarray, share: float) -> int:
    """Index of the first date after which at least `share` of all rows lie before it."""
    return int(np.searchsorted(np.cumsum(counts) / counts.sum(), share, side="left")) + 1


def assign_segments(labels: pl.DataFrame, train_fraction: float, val_fraction: float, embargo_days: int,
                    val_start: date | None = None, test_start: date | None = None,
                    fraction_of: Literal["rows", "dates"] = "rows") -> tuple[pl.DataFrame, Boundaries]:
    """Add a `segment` column (train, val, test, embargo).

    With explicit `val_start`/`test_start` the segments begin at those dates (the embargo eats the
    dates just before them). Otherwise the cut dates are where the cumulative share of rows (or of
    dates, with `fraction_of="dates"`) first reaches each fraction. By rows, 60/20/20 means 60% of
    the observations: a universe that grows over time still gets a test segment of the size asked
    for. By dates, it means 60% of the calendar, however many tickers trade on each date.
    """
    if missing := labels["date"].null_count():
        raise StockcastError(f"split: {missing} label rows have no date, so no segment; build the labels from "
                             "the clean table (its contract refuses a bar without a date)")
    per_date = labels.group_by("date").len().sort("date")
    dates = per_date["date"]
    n = dates.len()
    if n == 0:
        raise StockcastError("split: no rows to split: the clean table is empty (quality kept no row; its report "
                             "says why); add tickers with more history or relax the quality rules")
    if val_start is not None and test_start is not None:
        val_begin = int(dates.search_sorted(val_start, side="left"))
        test_begin = int(dates.search_sorted(test_start, side="left"))
        train_end, val_end = val_begin - embargo_days, test_begin - embargo_days
    else:
        counts = per_date["len"].to_numpy() if fraction_of == "rows" else np.ones(n)
        train_end = _cut_by_share(counts, train_fraction)
        val_end = _cut_by_share(counts, train_fraction + val_fraction)
        val_begin, test_begin = train_end + embargo_days, val_end + embargo_days
    if train_end < 1 or val_begin >= val_end or test_begin >= n:
        raise StockcastError(
            f"split: the {n} dates from {dates[0]} to {dates[-1]} cannot hold a train, val and test segment "
            f"with embargo_days={embargo_days}; lower split.embargo_days, move the split dates or add history")
    index = np.arange(n)
    segment = np.select([index < train_end, index < val_begin, index < val_end, index < test_begin],
                        ["train", "embargo", "val", "embargo"], "test")
    calendar = pl.DataFrame({"date": dates, "segment": segment})
    out = labels.join(calendar, on="date", how="left").sort("ticker", "date")
    return out, Boundaries(str(dates[0]), str(dates[val_begin]), str(dates[test_begin]), str(dates[-1]))


def walk_forward_folds(dates: pl.Series, scheme: str, step_days: int, min_train_days: int, train_days: int,
                       embargo_days: int, val_share: float = 0.25) -> list[Fold]:
    """Test periods of `step_days` dates, back to back until the data ends, each preceded by an
    embargo; before it, the fold's training dates (all earlier ones for `expanding`, the last
    `train_days` for `rolling`) of which the last `val_share` (after another embargo) are its val."""
    dates = dates.unique().sort()
    n = dates.len()
    folds = []
    start = min_train_days + embargo_days
    while start < n:
        fit_end = start - embargo_days
        fit_start = 0 if scheme == "expanding" else max(0, fit_end - train_days)
        val_begin = fit_end - max(1, int(round((fit_end - fit_start) * val_share)))
        train_end = val_begin - embargo_days
        if train_end - fit_start < 1:
            raise StockcastError(f"split.folds: fold {len(folds)} has no training dates left after two embargoes "
                                 f"of {embargo_days}; raise split.folds.min_train_days or train_days")
        stop = min(start + step_days, n)
        folds.append(Fold(len(folds),
                          (str(dates[fit_start]), str(dates[train_end - 1])),
                          (str(dates[val_begin]), str(dates[fit_end - 1])),
                          (str(dates[start]), str(dates[stop - 1]))))
        start = stop
    if not folds:
        raise StockcastError(f"split.folds: {n} dates leave no test period after min_train_days="
                             f"{min_train_days} and embargo_days={embargo_days}")
    return folds


def folds_to_dict(folds: list[Fold]) -> list[dict]:
    return [asdict(f) for f in folds]


def fold_segments(dates: pl.Series, fold: Fold) -> pl.Series:
    """The segment of each date under `fold`: its train, val and test periods, embargo elsewhere."""
    d = pl.col("date")
    periods = {"train": fold.train, "val": fold.val, "test": fold.test}
    segment = pl.lit("embargo")
    for name, (first, last) in periods.items():
        segment = pl.when(d.is_between(date.fromisoformat(first), date.fromisoformat(last))).then(pl.lit(name)) \
            .otherwise(segment)
    return pl.DataFrame({"date": dates}).select(segment.alias("segment")).to_series()
