"""Params of the monitor stage: drift statistics and the retrain rule.

A leaf like the rest of stockcast.params, which re-exports every name (import them from there).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from stockcast.section import Section


class RetrainParams(Section):
    """When `stockcast monitor --check` says retrain (exit 1): either rule firing is enough."""

    max_drifted_share: float = Field(0.5, gt=0, le=1)  # share of features drifted above it (Evidently's dataset rule)
    accuracy_below_test: bool = True            # live accuracy's upper bound below the test's lower bound (95%)
    min_live_rows: int = Field(200, ge=1)       # fewer labelled recent predictions: the accuracy rule waits


class MonitorParams(Section):
    """Drift of features and predictions, live accuracy: the train segment is the reference (monitor.py)."""

    window: int = Field(60, ge=5)               # current: the universe's most recent sessions
    method: Literal["calibrated", "auto", "ks", "wasserstein", "psi"] = "calibrated"  # calibrated: normed
                                                # Wasserstein above both its threshold and the reference's own
                                                # window-length blocks; auto: Evidently's rule (KS up to 1,000
                                                # reference rows, else normed Wasserstein)
    ks_p_value: float = Field(0.05, gt=0, lt=1)  # ks: drifted below this p-value
    wasserstein_threshold: float = Field(0.1, gt=0)  # wasserstein: drifted above this distance / reference std
    psi_threshold: float = Field(0.1, gt=0)     # psi: drifted above (0.1 moderate, 0.25 major shift)
    psi_bins: int = Field(10, ge=2, le=100)     # reference quantile bins
    reference_rows: int = Field(100_000, ge=1000)  # about this many reference rows: 1 in k, by ticker and session
    importance_windows: int = Field(2000, ge=50)  # permutation importance: windows scored, at most, per side
    seed: int = 0
    retrain: RetrainParams = Field(default_factory=RetrainParams)
