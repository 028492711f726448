"""Performance metrics of a daily return series, defined where they are computed.

Conventions follow empyrical: returns are simple daily returns; volatility uses ddof=1; the
drawdown is measured against the running peak of the compounded series.
"""

from __future__ import annotations

import numpy as np


def annual_return(r: np.ndarray, periods_per_year: int = 252) -> float:
    """CAGR: (prod(1 + r)) ** (periods_per_year / n) - 1."""
    if len(r) == 0:
        return float("nan")
    growth = float(np.prod(1 + r))
    return growth ** (periods_per_year / len(r)) - 1 if growth > 0 else -1.0


def sharpe(r: np.ndarray, periods_per_year: int = 252, risk_free: float = 0.0) -> float:
    """mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year); NaN for a flat series."""
    excess = r - risk_free
    sd = np.std(excess, ddof=1) if len(r) > 1 else float("nan")
    return float(np.mean(excess) / sd * np.sqrt(periods_per_year)) if sd and np.isfinite(sd) else float("nan")


def max_drawdown(r: np.ndarray) -> float:
    """Largest fall from a running peak of the compounded series, as a negative fraction (0 if none)."""
    if len(r) == 0:
        return float("nan")
    wealth = np.cumprod(1 + r)
    peak = np.maximum.accumulate(wealth)
    return float(min(np.min(wealth / peak - 1), 0.0))


def win_rate(r: np.ndarray) -> float:
    """Share of days with a positive return among days with a non-zero return (days in cash excluded)."""
    active = r[r != 0]
    return float(np.mean(active > 0)) if len(active) else float("nan")


def summarize(r: np.ndarray, periods_per_year: int = 252, risk_free: float = 0.0) -> dict[str, float]:
    r = np.asarray(r, dtype=np.float64)
    return {
        "annual_return": annual_return(r, periods_per_year),
        "sharpe": sharpe(r, periods_per_year, risk_free),
        "max_drawdown": max_drawdown(r),
        "win_rate": win_rate(r),
    }
