"""Long predictions as dense (session x ticker) matrices: the shape every strategy is computed on.

A cell with no row (a ticker not listed yet, delisted, or missing that session) or with no
`hold_return` (fills.py: what a position taken on the signal earns until the next fill) is not
tradable: it is never held and earns nothing. Sessions are the dates present in the predictions
that can be traded, oldest first. Building the grid is index arithmetic, with no sort when the rows
are grouped by ticker (as the evaluate stage writes each segment). Optional columns: the median
dollar volume of each cell (for the participation cap), and per ticker its sector and borrow fee.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from stockcast.errors import StockcastError

COLUMNS = ("ticker", "date", "prob", "hold_return")


@dataclass(frozen=True)
class Grid:
    """prob (sessions, tickers), NaN where not tradable; returns, 0 where not tradable; dollar_volume
    (NaN where unknown), sectors and borrow_bps (per ticker) when the predictions carry them."""

    dates: pl.Series
    tickers: pl.Series
    prob: np.ndarray
    returns: np.ndarray
    tradable: np.ndarray
    dollar_volume: np.ndarray | None = None
    sectors: np.ndarray | None = None
    borrow_bps: np.ndarray | None = None

    @property
    def shape(self) -> tuple[int, int]:
        return self.prob.shape


def to_grid(predictions: pl.DataFrame) -> Grid:
    """The (session x ticker) grid of `predictions` (unique ticker, date, as Predictions guarantees).

    `hold_return` of (ticker, t) is what a position taken on the signal of t earns until the next
    fill (fills.py). Rows with a null or NaN prob or hold_return are not tradable, and a session with
    no tradable row is not a session of the grid.
    """
    missing = [c for c in COLUMNS if c not in predictions.columns]
    if missing:
        raise StockcastError(f"backtest: predictions lack column {missing[0]!r} (need {', '.join(COLUMNS)})")
    extra = [c for c in ("median_dollar_volume", "sector", "borrow_bps") if c in predictions.columns]
    frame = predictions.select(*COLUMNS, *extra).drop_nulls(["ticker", "date"])
    if frame.height == 0:
        raise StockcastError("backtest: no predictions to trade (is the test segment empty?)")
    starts = _ticker_starts(frame)
    if frame["ticker"].gather(starts).n_unique() != len(starts):
        frame = frame.sort("ticker")
        starts = _ticker_starts(frame)
    day = frame["date"].to_physical().to_numpy()
    first = int(day.min())
    session = day - first
    present = np.zeros(int(day.max()) - first + 1, dtype=bool)
    present[session] = True
    n_sessions = int(present.sum())
    np.take(np.cumsum(present, dtype=session.dtype) - 1, session, out=session, mode="clip")
    cells = _Cells(starts, session, (len(starts), n_sessions))
    prob, returns = cells.matrices(frame["prob"].cast(pl.Float32).fill_null(np.nan).to_numpy(),
                                   frame["hold_return"].cast(pl.Float64).fill_null(np.nan).to_numpy())
    tradable = ~np.isnan(prob)
    volume = None
    if "median_dollar_volume" in frame.columns:
        volume = cells.matrix(frame["median_dollar_volume"].cast(pl.Float64).fill_null(np.nan).to_numpy())
    per_ticker = {c: frame[c].gather(starts).to_numpy() for c in ("sector", "borrow_bps") if c in frame.columns}
    dates = pl.Series("date", np.flatnonzero(present) + first, dtype=pl.Int32).cast(pl.Date)
    traded = np.flatnonzero(tradable.any(axis=1))
    if len(traded) == 0:
        raise StockcastError("backtest: no prediction has both a prob and a hold_return to trade (see backtest.fill)")
    if len(traded) < len(dates):  # e.g. the last session, whose next return is not known yet
        keep = slice(traded[0], traded[-1] + 1) if traded[-1] - traded[0] + 1 == len(traded) else traded
        dates, prob, returns, tradable = dates[keep], prob[keep], returns[keep], tradable[keep]
        volume = None if volume is None else volume[keep]
    return Grid(dates, frame["ticker"].gather(starts).rename("ticker"), prob, returns, tradable, volume,
                per_ticker.get("sector"), per_ticker.get("borrow_bps"))


def _ticker_starts(frame: pl.DataFrame) -> np.ndarray:
    """Row numbers where a run of one ticker begins (comparing neighbours beats rle on strings 2:1)."""
    new = frame.lazy().select((pl.col("ticker") != pl.col("ticker").shift(1)).fill_null(True).arg_true())
    return new.collect().to_series().to_numpy().astype(np.int64)


class _Cells:
    """Where each row goes in a (ticker x session) matrix, and how to fill it fast.

    Rows come grouped by ticker, mostly in date order without gaps: each such run is one slice copy
    (a memcpy) into a ticker-major block of 64 tickers, which is small enough to stay in cache while
    it is transposed into the session-major matrix. That is about twice as fast as scattering rows
    one by one into the session-major matrix, where consecutive rows land a whole matrix row apart.
    Data with many gaps or unsorted dates (more than one run per 64 rows) is scattered into the
    blocks row by row instead.
    """

    block = 64

    def __init__(self, starts: np.ndarray, session: np.ndarray, shape: tuple[int, int]) -> None:
        self.shape = shape
        rows = len(session)
        self.bounds = np.append(starts, rows)[np.minimum(np.arange(0, shape[0] + self.block, self.block), shape[0])]
        breaks = np.flatnonzero(np.diff(session) != 1) + 1
        run_starts = np.union1d(breaks, starts)
        self.runs: list[list[tuple[int, int, int, int]]] | None = None
        if len(run_starts) * 64 <= rows:
            ticker = np.searchsorted(starts, run_starts, side="right") - 1
            stops = np.append(run_starts[1:], rows)
            runs = zip(ticker.tolist(), session[run_starts].tolist(), run_starts.tolist(), stops.tolist(), strict=True)
            self.runs = [[] for _ in range(len(self.bounds) - 1)]
            for ticker_, session_, start, stop in runs:
                self.runs[ticker_ // self.block].append((ticker_ % self.block, session_, start, stop))
            return
        offset = np.repeat(np.arange(shape[0], dtype=np.int64) % self.block * shape[1], np.diff(np.append(starts, rows)))
        self.cells = offset + session

    def matrices(self, prob: np.ndarray, returns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (session x ticker) matrices of prob (float32) and returns (float64) from one value per
        row (null as NaN): NaN prob and 0 return wherever either is missing or there is no row.
        Two threads fill alternate blocks of tickers (numpy releases the GIL while it copies)."""
        tickers, sessions = self.shape
        out = np.empty((sessions, tickers), dtype=np.float32), np.empty((sessions, tickers))
        blocks = list(enumerate(range(0, tickers, self.block)))
        with ThreadPoolExecutor(max_workers=2) as pool:
            for done in [pool.submit(self._blocks, blocks[half::2], prob, returns, out) for half in (0, 1)]:
                done.result()
        return out

    def matrix(self, values: np.ndarray) -> np.ndarray:
        """The (session x ticker) float64 matrix of one value per row, NaN where there is no row."""
        tickers, sessions = self.shape
        out = np.empty((sessions, tickers))
        block = np.empty((self.block, sessions))
        for index, first in enumerate(range(0, tickers, self.block)):
            width = min(self.block, tickers - first)
            self._fill(block[:width], values, index, np.nan)
            out[:, first:first + width] = block[:width].T
        return out

    def _blocks(self, blocks: list[tuple[int, int]], prob: np.ndarray, returns: np.ndarray,
                out: tuple[np.ndarray, np.ndarray]) -> None:
        """Fill the columns of `out` that belong to `blocks` ((index, first ticker) pairs)."""
        sessions = self.shape[1]
        prob_block = np.empty((self.block, sessions), dtype=np.float32)
        returns_block = np.empty((self.block, sessions))
        for index, first in blocks:
            width = min(self.block, self.shape[0] - first)
            self._fill(prob_block[:width], prob, index, np.nan)
            self._fill(returns_block[:width], returns, index, np.nan)
            missing = np.isnan(returns_block[:width])
            missing |= np.isnan(prob_block[:width])
            prob_block[:width][missing] = np.nan
            returns_block[:width][missing] = 0.0
            out[0][:, first:first + width] = prob_block[:width].T
            out[1][:, first:first + width] = returns_block[:width].T

    def _fill(self, part: np.ndarray, values: np.ndarray, index: int, fill: float) -> None:
        """Write the rows of block `index` (tickers index * block onwards) into `part`."""
        part.fill(fill)
        if self.runs is None:
            rows = slice(self.bounds[index], self.bounds[index + 1])
            part.ravel()[self.cells[rows]] = values[rows]
        else:
            for ticker, session, start, stop in self.runs[index]:
                part[ticker, session:session + stop - start] = values[start:stop]
