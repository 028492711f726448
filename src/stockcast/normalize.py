"""Feature normalisation, fitted on the training segment only and saved as JSON beside the model.

Leakage rule: `fit` is given training rows only; statistics of val/test never enter the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class ZScore:
    """x -> (x - mean) / std per feature; a constant feature gets std 1 so it maps to 0."""

    features: list[str]
    mean: list[float]
    std: list[float]
    kind: str = "zscore"

    @classmethod
    def fit(cls, x_train: np.ndarray, features: list[str]) -> ZScore:
        mean = np.nanmean(x_train, axis=0, dtype=np.float64)
        std = np.nanstd(x_train, axis=0, dtype=np.float64)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        mean = np.where(np.isfinite(mean), mean, 0.0)
        return cls(list(features), mean.tolist(), std.tolist())

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Normalised float32 copy; NaN (warm-up) stays NaN."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return ((x - mean) / std).astype(np.float32, copy=False)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ZScore:
        return cls(**data)
