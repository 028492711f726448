"""Feature normalisation, fitted on the training segment only and saved as JSON beside the model.

Leakage rule: `fit` is given training rows only; statistics of val/test never enter the model.
`fit` reads the training rows one feature at a time and `transform` works in place on the float32
panel (a copy of 10M x 95 would double the memory); NaN (warm-up) stays NaN, so masked rows stay
masked.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import polars as pl

from stockcast.errors import StockcastError

MAD_TO_SD = 1.4826  # MAD of a normal distribution times this is its standard deviation


def _per_feature(x: np.ndarray, rows: np.ndarray, stat) -> np.ndarray:
    """stat(column restricted to `rows`) for each feature, gathering one column at a time."""
    return np.array([stat(x[rows, j].astype(np.float64)) for j in range(x.shape[1])], dtype=np.float64)


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
        center = np.nan_to_num(_per_feature(x, rows, np.nanmean))
        return cls(list(features), center.tolist(), _safe_scale(_per_feature(x, rows, np.nanstd)).tolist())

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
        median = _per_feature(x, rows, np.nanmedian)
        mad = np.array([np.nanmedian(np.abs(x[rows, j].astype(np.float64) - median[j])) for j in range(x.shape[1])])
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
