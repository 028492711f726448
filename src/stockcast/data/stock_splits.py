"""Unadjusted splits: overnight jumps whose size is a split ratio, in series that carry no adjustment.

A 2:1 split halves the traded price between one close and the next open. Where a source gives no
adj_close (or one equal to close) nothing else reveals it, and left alone it reads as a -50% day.

Definition: a row is a split of ratio r (new shares per old share, "2:1" -> 2, "1:10" -> 0.1) when
  |ln(prev_close / open) - ln(r)| <= ln(1 + tolerance)   (the overnight jump is the ratio) and
  |ln(prev_close / close) - ln(r)| <= ln(1.25)            (the day's close confirms the new scale).
The first test is what separates a split from a crash: AAPL's real -52% day of 2000-09-29 opened at
prev_close / 1.898, 5.2% away from 2:1, while its 2:1 splits opened within 0.4% of it.
"""

from __future__ import annotations

import math
import re

import numpy as np

from stockcast.errors import StockcastError

_CONFIRM = math.log(1.25)
_RATIO = re.compile(r"\s*(\d+(?:\.\d+)?)\s*:\s*(\d+(?:\.\d+)?)\s*")


def parse_ratio(text: str) -> float:
    """"2:1" -> 2.0, "3:2" -> 1.5, "1:10" -> 0.1 (new shares per old share)."""
    match = _RATIO.fullmatch(text)
    if not match or float(match[2]) == 0 or float(match[1]) == 0:
        raise StockcastError(f"quality.split_ratios: {text!r} is not a split ratio like '2:1' or '1:10'")
    ratio = float(match[1]) / float(match[2])
    if abs(math.log(ratio)) < math.log(1.1):
        raise StockcastError(f"quality.split_ratios: {text!r} moves the price by under 10%: "
                             "too close to an ordinary day to detect")
    return ratio


def find_splits(close: np.ndarray, open_: np.ndarray, same: np.ndarray, ratios: list[float],
                tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows k that open a split against row k-1's close, and the ratio of each (the nearest that matches).

    `same[k]` says row k-1 is the previous row of row k's ticker (rows of one ticker, by date).
    """
    none = np.empty(0, dtype=np.int64), np.empty(0)
    if not ratios or len(close) < 2:
        return none
    up = min((r for r in ratios if r > 1), default=np.inf) / (1 + tolerance)
    down = max((r for r in ratios if r < 1), default=0.0) * (1 + tolerance)
    with np.errstate(divide="ignore", invalid="ignore"):
        jump = close[:-1] / open_[1:]  # previous close / open: 2.0 for a 2:1 split
        rows = 1 + np.flatnonzero(same[1:] & ((jump >= up) | (jump <= down)))  # the few that could match
        gap = np.log(jump[rows - 1])
        day = np.log(close[rows - 1] / close[rows])
    logs = np.log(np.asarray(ratios))
    distance = np.abs(gap[:, None] - logs[None, :])
    nearest = distance.argmin(axis=1)
    matched = (distance[np.arange(len(rows)), nearest] <= math.log(1 + tolerance)) & (
        np.abs(day - logs[nearest]) <= _CONFIRM)
    return rows[matched], np.asarray(ratios)[nearest[matched]]


def restatement(same: np.ndarray, splits: np.ndarray, ratios: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the tickers that split, and the price factor that puts each on its ticker's latest shares.

    A row is divided by the ratio of every split after it in its ticker (`same` as in find_splits).
    """
    starts = np.flatnonzero(~same)
    ends = np.append(starts[1:], len(same))
    block = np.searchsorted(starts, splits, side="right") - 1
    blocks = np.unique(block)
    lengths = ends[blocks] - starts[blocks]
    offsets = np.cumsum(lengths) - lengths
    rows = np.repeat(starts[blocks] - offsets, lengths) + np.arange(lengths.sum())
    log_ratio = np.zeros(len(rows))
    np.add.at(log_ratio, offsets[np.searchsorted(blocks, block)] + splits - starts[block], np.log(ratios))
    total = np.cumsum(log_ratio)
    return rows, np.exp(total - total[np.repeat(offsets + lengths - 1, lengths)])
