"""A panel's float32 rows on disk, read back a run of consecutive rows at a time.

A tabular model reads only the rows that end its windows, so the raw panel need not stay in memory
while it trains: the panel is written once to a file (which the page cache keeps warm) and each
gather of rows reads them back with one `readinto` per run of consecutive rows. Memory is then the
gathered rows alone, not the panel plus its gathered copy; walk-forward gathers each fold's rows
from the same file without ever copying the panel. Indexing supports what the library uses of an
array: `x[rows]` and `x[rows, columns]` with ascending integer `rows`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

BLOCK_ROWS = 1 << 16  # rows written per call when spilling: ~25 MB at 95 features


class RowFile:
    """float32 rows (n, F) in a file; `path` is removed with the folder its owner made."""

    dtype = np.dtype(np.float32)
    ndim = 2

    def __init__(self, path: Path, shape: tuple[int, int]) -> None:
        self.path, self.shape = Path(path), shape
        self._row_bytes = shape[1] * self.dtype.itemsize

    @classmethod
    def spill(cls, x: np.ndarray, path: Path) -> RowFile:
        """Write `x` (C order float32) to `path` a block of rows at a time."""
        with Path(path).open("wb") as handle:
            for start in range(0, len(x), BLOCK_ROWS):
                handle.write(np.ascontiguousarray(x[start:start + BLOCK_ROWS], dtype=np.float32).data)
        return cls(path, x.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, columns = key if isinstance(key, tuple) else (key, slice(None))
        if isinstance(rows, slice):
            rows = np.arange(*rows.indices(self.shape[0]))
        out = self.read_rows(np.asarray(rows, dtype=np.int64), np.empty((len(rows), self.shape[1]), self.dtype))
        return out if columns == slice(None) else out[:, columns]

    def read_rows(self, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Read the ascending `rows` into `out` (len(rows), F), C-contiguous."""
        if len(rows):
            if (np.diff(rows) <= 0).any() or rows[0] < 0 or rows[-1] >= self.shape[0]:
                raise IndexError("RowFile reads ascending row numbers inside the panel")
            breaks = np.flatnonzero(np.diff(rows) != 1) + 1
            starts = np.concatenate(([0], breaks))
            stops = np.concatenate((breaks, [len(rows)]))
            with self.path.open("rb", buffering=0) as handle:
                for first, last in zip(starts.tolist(), stops.tolist()):
                    handle.seek(int(rows[first]) * self._row_bytes)
                    handle.readinto(memoryview(out[first:last]).cast("B"))
        return out


def gather_rows(x: np.ndarray | RowFile, rows: np.ndarray, out: np.ndarray) -> np.ndarray:
    """x[rows] written into `out`, from memory or from the file, without a temporary copy."""
    if isinstance(x, RowFile):
        return x.read_rows(rows, out)
    return np.take(x, rows, axis=0, out=out)
