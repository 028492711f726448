"""Sliding windows over one contiguous float32 array: the model's view of the long table.

Rows are sorted by ticker and date. A window of length L ending at row e is x[e-L+1 : e+1]. It is
used only if all L rows share the ticker and the segment of row e (a window never crosses tickers
or segments), have no NaN (warm-up rows are masked, never filled) and row e has a label. Windows
are index arithmetic over the one array; a batch gathers its windows in one numpy take.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from stockcast.errors import StockcastError
from stockcast.rowfile import RowFile, gather_rows


@dataclass
class Panel:
    """The long table as arrays: keys (ticker, date, segment, label, returns), x (n, F), y (n,)."""

    keys: pl.DataFrame
    x: np.ndarray | RowFile  # a RowFile once spilled to disk (tabular models)
    y: np.ndarray
    features: list[str]

    def __post_init__(self) -> None:
        self._finite: np.ndarray | None = None
        self.normalized_by: object | None = None  # the normaliser x was transformed by in place (scoring.py)

    @classmethod
    def from_tables(cls, features: pl.DataFrame, labels: pl.DataFrame, names: list[str]) -> Panel:
        """Panel from in-memory tables (tests, notebooks)."""
        _require(features.columns, names, "features table")
        keys, order = _join(features.select("ticker", "date"), labels)
        x = np.empty((len(keys), len(names)), dtype=np.float32)
        _fill_rows(x, order, [(0, features.select(names))])
        return cls._with_labels(keys, x, names)

    @classmethod
    def load(cls, features_path: str | Path, labels: pl.DataFrame, names: list[str]) -> Panel:
        """Panel from the features parquet, read a batch of rows at a time: peak memory is the float32
        array plus one batch, not the whole table twice (10.17M rows x 95 features ~ 3.9 GB)."""
        scan = pl.scan_parquet(features_path)
        _require(scan.collect_schema().names(), names, str(features_path))
        keys, order = _join(scan.select("ticker", "date").collect(), labels)
        x = np.empty((len(keys), len(names)), dtype=np.float32)
        _fill_rows(x, order, _row_batches(features_path, names))
        return cls._with_labels(keys, x, names)

    @classmethod
    def _with_labels(cls, keys: pl.DataFrame, x: np.ndarray, names: list[str]) -> Panel:
        y = keys["label"].cast(pl.Float32).fill_null(float("nan")).to_numpy()
        return cls(keys.select("ticker", "date", "segment", "label", "fwd_return", "next_return"), x, y, list(names))

    def spill(self, folder: Path) -> None:
        """Move x to a file in `folder` (rowfile.RowFile) and free it from memory: for tabular models,
        which gather the rows they read (scoring.model_windows). The finite mask is computed first."""
        self.finite_rows()
        self.x = RowFile.spill(self.x, Path(folder) / "panel.f32")

    def with_segments(self, segment: pl.Series) -> Panel:
        """The same rows (x shared, not copied) with other segments: one walk-forward fold."""
        panel = Panel(self.keys.with_columns(segment=segment), self.x, self.y, self.features)
        panel._finite = self.finite_rows()
        return panel

    def segment_rows(self, segment: str) -> np.ndarray:
        return np.flatnonzero((self.keys["segment"] == segment).to_numpy())

    def finite_rows(self, block: int = 1 << 18) -> np.ndarray:
        """Rows without NaN, checked a block at a time (a whole-panel mask would be 1 byte per value).
        Computed once: the normalisers keep NaN where it is and make nothing else NaN."""
        if self._finite is None:
            self._finite = np.empty(len(self.x), dtype=bool)
            for start in range(0, len(self.x), block):
                self._finite[start:start + block] = np.isfinite(self.x[start:start + block]).all(axis=1)
        return self._finite

    def window_ends(self, seq_len: int, segment: str) -> np.ndarray:
        """Rows that end a usable window of length `seq_len` inside `segment` (see module doc)."""
        n = len(self.keys)
        new_run = self.keys.select(
            (pl.col("ticker") != pl.col("ticker").shift(1)) | (pl.col("segment") != pl.col("segment").shift(1))
        ).to_series().fill_null(True).to_numpy()
        run_start = np.maximum.accumulate(np.where(new_run, np.arange(n), 0))
        long_enough = np.arange(n) - run_start >= seq_len - 1
        bad = np.concatenate([[0], np.cumsum(~self.finite_rows())])
        ends = np.arange(n)
        clean_window = bad[ends + 1] - bad[np.maximum(ends + 1 - seq_len, 0)] == 0
        keep = (self.keys["segment"] == segment).to_numpy() & long_enough & clean_window & np.isfinite(self.y)
        return np.flatnonzero(keep)

    def why_no_windows(self, seq_len: int, segment: str, sample: int = 100_000) -> str:
        """What is short when `segment` has no usable window: rows, labels, finite features (naming
        those most often NaN, from up to `sample` rows), or runs of consecutive rows long enough."""
        in_segment = (self.keys["segment"] == segment).to_numpy()
        labelled = in_segment & np.isfinite(self.y)
        finite = in_segment & self.finite_rows()
        if not in_segment.any():
            return f"the {segment} segment has no rows (see the split stage's coverage: data/splits/coverage.json)"
        if not labelled.any():
            return f"none of the {int(in_segment.sum())} rows of the {segment} segment has a label"
        if not (labelled & finite).any():
            rows = np.flatnonzero(labelled)[:sample]
            values = np.isfinite(gather_rows(self.x, rows, np.empty((len(rows), len(self.features)), np.float32)))
            bad = (~values).sum(axis=0)
            worst = ", ".join(f"{self.features[i]} in {bad[i]}" for i in np.argsort(-bad, kind="stable")[:3] if bad[i])
            return (f"every one of its {int(labelled.sum())} labelled rows has a NaN or infinite feature ({worst} "
                    "rows): the prices behind them are missing, infinite or zero; check the clean data, or use "
                    "other features")
        tickers = self.keys["ticker"].to_numpy()
        starts = np.flatnonzero(np.concatenate([[True], (finite[1:] != finite[:-1]) | (tickers[1:] != tickers[:-1])]))
        lengths = np.where(finite[starts], np.diff(np.append(starts, len(finite))), 0)
        longest, ticker = int(lengths.max()), tickers[starts[lengths.argmax()]]
        return (f"its longest run of consecutive rows with finite features is {longest} ({ticker}), shorter than "
                f"train.seq_len={seq_len}; lower train.seq_len or add history")


def _join(feature_keys: pl.DataFrame, labels: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """The labelled rows sorted by (ticker, date), and for each row of the features table its row in
    them (-1: no label row, left out)."""
    keys = feature_keys.with_row_index("_row").join(labels, on=["ticker", "date"], how="inner", maintain_order="left")
    if not _sorted_by_ticker_date(keys):  # the features stage writes them sorted: no second copy then
        keys = keys.sort("ticker", "date")
    order = np.full(feature_keys.height, -1, dtype=np.int64)
    order[keys["_row"].to_numpy()] = np.arange(keys.height)
    return keys.drop("_row"), order


def _sorted_by_ticker_date(frame: pl.DataFrame) -> bool:
    """Are the rows in (ticker, date) order, each pair once?"""
    ticker, date = pl.col("ticker"), pl.col("date")
    ordered = (ticker > ticker.shift(1)) | ((ticker == ticker.shift(1)) & (date > date.shift(1)))
    return frame.height < 2 or bool(frame.select(ordered.slice(1).all()).item())


def _row_batches(path: str | Path, names: list[str]) -> Iterator[tuple[int, pl.DataFrame]]:
    """(first row, the `names` columns of its rows) for each row group of a parquet file, in order.
    A slice on a row-group boundary decodes just that group; pyarrow's own batch reader was tried
    and held the whole file in its memory pool."""
    scan = pl.scan_parquet(path).select(names)
    metadata = pq.ParquetFile(path).metadata
    start = 0
    for group in range(metadata.num_row_groups):
        rows = metadata.row_group(group).num_rows
        yield start, scan.slice(start, rows).collect()
        start += rows


def _fill_rows(x: np.ndarray, order: np.ndarray, batches: Iterable[tuple[int, pl.DataFrame]]) -> None:
    """Copy row batches of the features table into the rows `order` gives them in `x`: whole rows,
    so the row-major panel is written a contiguous block at a time in the usual, already-sorted case."""
    for start, frame in batches:
        values = frame.select(pl.all().cast(pl.Float32).fill_null(float("nan"))).to_numpy(order="c")
        target = order[start:start + len(values)]
        if len(target) and target[0] >= 0 and target[-1] - target[0] == len(target) - 1 \
                and np.array_equal(target, np.arange(target[0], target[0] + len(target))):
            x[target[0]:target[0] + len(target)] = values
        else:
            kept = target >= 0
            x[target[kept]] = values[kept]


def _require(columns: list[str], names: list[str], where: str) -> None:
    missing = [n for n in names if n not in columns]
    if missing:
        raise StockcastError(f"{where}: lacks feature {missing[0]!r}; rerun the features stage")


class WindowDataset(Dataset):
    """Map-style dataset of (window, label); `__getitems__` serves a whole batch in one gather."""

    def __init__(self, x: np.ndarray, y: np.ndarray, ends: np.ndarray, seq_len: int):
        self.x, self.y, self.ends = x, y, ends
        self.offsets = np.arange(-seq_len + 1, 1)

    def __len__(self) -> int:
        return len(self.ends)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        xb, yb = self.__getitems__([i])
        return xb[0], yb[0]

    def __getitems__(self, idx: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        ends = self.ends[np.asarray(idx)]
        windows = self.x[ends[:, None] + self.offsets]
        return torch.from_numpy(windows), torch.from_numpy(self.y[ends])


def _whole_batch(batch):
    """Collate for `__getitems__`: the dataset already returns stacked tensors."""
    return batch


def loader(dataset: WindowDataset, batch_size: int, shuffle: bool, seed: int, pin_memory: bool,
           sampler: Sampler | None = None) -> DataLoader:
    """A DataLoader over windows; `seed` makes the shuffle order reproducible. A `sampler` (DDP's
    DistributedSampler) replaces `shuffle`."""
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      collate_fn=_whole_batch, generator=generator, pin_memory=pin_memory)
