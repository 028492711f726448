"""Feature normalisation, fitted on the training segment only and saved as JSON beside the model.

Leakage rule: `fit` is given training rows only; statistics of val/test never enter the model.
The panel is row-major (10M x 95 float32), so `fit` reads the training rows a block of whole rows at
a time (a column gather would pull every cache line of the panel once per feature), and
`transform` works in place (a copy would double the memory); NaN (warm-up) stays NaN, so masked
rows stay masked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from stockcast.errors import StockcastError

MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


BLOCK_ROWS = 1 << 16  # rows per gathered block: ~25 MB of float32 at 95 features
MEDIAN_FEATURES = 12  # features per pass of the median: 12 x 6M training rows ~ 290 MB of float32


def _blocks(x: np.ndarray, rows: np.ndarray) -> Iterator[np.ndarray]:
    """The training rows of `x` as float64 blocks of whole rows, in order."""
    for start in range(0, len(rows), BLOCK_ROWS):
        yield x[rows[start:start + BLOCK_ROWS]].astype(np.float64)


def _mean_std(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature NaN-skipping mean and population std (np.nanmean / np.nanstd) of `x[rows]`, in two
    passes over blocks: the sum of squared deviations from the exact mean is as stable as numpy's."""
    count, total = np.zeros(x.shape[1]), np.zeros(x.shape[1])
    for block in _blocks(x, rows):
        count += np.count_nonzero(~np.isnan(block), axis=0)
        total += np.nansum(block, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / count
    squares = np.zeros(x.shape[1])
    for block in _blocks(x, rows):
        block -= mean
        squares += np.nansum(block * block, axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return mean, np.sqrt(squares / count)


def _median_mad(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature NaN-skipping median and median absolute deviation of `x[rows]`: the training rows
    of MEDIAN_FEATURES features at a time are gathered into one contiguous buffer per pass."""
    median, mad = np.full(x.shape[1], np.nan), np.full(x.shape[1], np.nan)
    for first in range(0, x.shape[1], MEDIAN_FEATURES):
        columns = slice(first, min(first + MEDIAN_FEATURES, x.shape[1]))
        values = np.empty((columns.stop - first, len(rows)), dtype=np.float32)
        for start in range(0, len(rows), BLOCK_ROWS):
            values[:, start:start + BLOCK_ROWS] = x[rows[start:start + BLOCK_ROWS], columns].T
        for j, single in enumerate(values, start=first):
            column = single.astype(np.float64)
            if np.isnan(column).all():
                continue
            median[j] = np.nanmedian(column)
            mad[j] = np.nanmedian(np.abs(column - median[j]))
    return median, mad


def _safe_scale(scale: np.ndarray) -> np.ndarray:
    """A constant (or empty) feature gets scale 1, so it maps to 0 instead of inf."""
    return np.where(np.isfinite(scale) & (scale > 0), scale, 1.0)


@dataclass(frozen=True)
class ZScore:
    """x -> (x - mean) / std per feature, with the training segment's mean and std."""

    features: list[str]
    center: list[float]
    scale: list[float]
    kind: str = "zscore"

    @classmethod
    def fit(cls, x: np.ndarray, rows: np.ndarray, features: list[str]) -> ZScore:
        mean, std = _mean_std(x, rows)
        return cls(list(features), np.nan_to_num(mean).tolist(), _safe_scale(std).tolist())

    def transform(self, x: np.ndarray, dates: np.ndarray | None = None) -> np.ndarray:
        x -= np.asarray(self.center, dtype=np.float32)
        x /= np.asarray(self.scale, dtype=np.float32)
        return x


@dataclass(frozen=True)
class RobustZScore:
    """x -> clip((x - median) / (MAD x 1.4826), -clip, clip): outliers (crashes, split days that
    slipped through) neither set the scale nor dominate the input."""

    features: list[str]
    center: list[float]
    scale: list[float]
    clip: float = 5.0
    kind: str = "robust"

    @classmethod
    def fit(cls, x: np.ndarray, rows: np.ndarray, features: list[str], clip: float = 5.0) -> RobustZScore:
        median, mad = _median_mad(x, rows)
        return cls(list(features), np.nan_to_num(median).tolist(), _safe_scale(mad * MAD_TO_SD).tolist(), clip)

    def transform(self, x: np.ndarray, dates: np.ndarray | None = None) -> np.ndarray:
        x -= np.asarray(self.center, dtype=np.float32)
        x /= np.asarray(self.scale, dtype=np.float32)
        np.clip(x, -self.clip, self.clip, out=x)
        return x


@dataclass(frozen=True)
class CrossSectionalRank:
    """x -> rank of x among the tickers of the same date, scaled to [-1, 1] (a lone ticker gets 0).

    Nothing is fitted: each date uses only that date's values, which are known at its close.
    """

    features: list[str]
    kind: str = "rank"

    @classmethod
    def fit(cls, x: np.ndarray, rows: np.ndarray, features: list[str]) -> CrossSectionalRank:
        return cls(list(features))

    def transform(self, x: np.ndarray, dates: np.ndarray | None = None) -> np.ndarray:
        if dates is None:
            raise StockcastError("rank normalisation needs the date of every row")
        frame = pl.DataFrame({"date": dates})
        v, n = pl.col("v"), pl.col("v").count()
        scaled = pl.when(v.is_null()).then(None).when(n > 1).then((v.rank("average") - 1) / (n - 1) * 2 - 1)
        rank = scaled.otherwise(0.0).over("date").fill_null(float("nan"))
        for j in range(x.shape[1]):
            x[:, j] = frame.with_columns(v=pl.Series(x[:, j]).fill_nan(None)).select(rank).to_series().to_numpy()
        return x


NORMALIZERS = {"zscore": ZScore, "robust": RobustZScore, "rank": CrossSectionalRank}
Normalizer = ZScore | RobustZScore | CrossSectionalRank


def fit_normalizer(kind: str, x: np.ndarray, train_rows: np.ndarray, features: list[str]) -> Normalizer:
    """Fit the normaliser `kind` on the rows `train_rows` of `x` (the training segment, nothing else)."""
    if kind not in NORMALIZERS:
        raise StockcastError(f"unknown normalisation {kind!r} (known: {', '.join(NORMALIZERS)})")
    return NORMALIZERS[kind].fit(x, train_rows, features)


def normalizer_to_dict(normalizer: Normalizer) -> dict:
    return asdict(normalizer)


def normalizer_from_dict(data: dict) -> Normalizer:
    """Rebuild a saved normaliser; an unknown kind or missing field is a one-line error."""
    kind = data.get("kind")
    if kind not in NORMALIZERS:
        raise StockcastError(f"normaliser config: unknown kind {kind!r} (known: {', '.join(NORMALIZERS)})")
    try:
        return NORMALIZERS[kind](**data)
    except TypeError as err:
        raise StockcastError(f"normaliser config ({kind}): {err}") from None
