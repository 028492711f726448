"""The model's edge on the return it trades, calibrated on val: what kelly and mean_variance size on.

A model's P(up) is rarely calibrated, and it predicts the label (close to close), not the return a
fill earns (fills.py: by default open to open, a session later). The sizing policies bet on the
traded return, so the edge is fitted to it: e(p) = E[sign(hold_return) | prob = p], an increasing
function fitted by isotonic regression (sklearn's IsotonicRegression, pool-adjacent-violators) on
the val segment's tradable predictions, never on test. The rows are first pooled into equal-count
bins of BIN_ROWS by probability (weighted by their counts in the fit): isotonic regression on single
rows puts knots of one or two observations at the tails, where a sizing policy bets the most (on the
sample, e = +-1 beyond the 0.1% most confident predictions). For a return that is up or down, e = P(up) -
P(down) = 2 P(up) - 1. Outside the val probabilities it is flat (clipped), between them linear, as
IsotonicRegression.predict. Without val rows (train.refit: train_val scores test only) or with
`calibration: none`, the raw e(p) = 2p - 1 stands in, and the summary says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl
from sklearn.isotonic import IsotonicRegression

BIN_ROWS = 200
"""Rows per bin of the fit: a knot's edge has a standard error of at most 1 / sqrt(200) = 0.07."""


@dataclass(frozen=True)
class Edge:
    """e(p) as the knots of a piecewise-linear increasing function (x: probabilities, y: edges), or
    2p - 1 when x is None; `rows` counts the val predictions it was fitted on."""

    method: str
    rows: int = 0
    x: np.ndarray | None = None
    y: np.ndarray | None = None

    def __call__(self, prob: np.ndarray) -> np.ndarray:
        """The edge of each probability (NaN stays NaN)."""
        prob = np.asarray(prob, dtype=np.float64)
        if self.x is None:
            return 2 * prob - 1
        return np.where(np.isnan(prob), np.nan, np.interp(prob, self.x, self.y))

    def describe(self) -> dict[str, object]:
        """For the summary: how it was fitted and its value at a few probabilities."""
        at = (0.4, 0.45, 0.5, 0.55, 0.6)
        return {"method": self.method, "val_rows": self.rows,
                "edge_at": {f"{p}": float(e) for p, e in zip(at, self(np.array(at)), strict=True)}}


def calibrate(val: pl.DataFrame | None, method: str) -> Edge:
    """The Edge fitted on `val` (prob, hold_return; rows without a hold_return are left out): isotonic,
    or the raw 2p - 1 with `method` none or no val row to fit on."""
    rows = val.drop_nulls(["prob", "hold_return"]) if val is not None else None
    if method == "none" or rows is None or rows.height == 0:
        return Edge("none (2p - 1)" if method == "none" else "none: no val predictions (2p - 1)")
    order = np.argsort(rows["prob"].to_numpy(), kind="stable")
    prob = rows["prob"].cast(pl.Float64).to_numpy()[order]
    sign = np.sign(rows["hold_return"].to_numpy())[order]
    bins = np.array_split(np.arange(len(prob)), max(1, len(prob) // BIN_ROWS))
    fit = IsotonicRegression(y_min=-1.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(
        [prob[b].mean() for b in bins], [sign[b].mean() for b in bins], sample_weight=[len(b) for b in bins])
    return Edge("isotonic", rows.height, fit.X_thresholds_, fit.y_thresholds_)
