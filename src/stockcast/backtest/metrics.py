"""Performance metrics of a return series, each defined where it is computed.

Conventions are empyrical's (quantopian/empyrical, maintained as empyrical-reloaded): simple
periodic returns, sample standard deviations (ddof=1), annualisation by `periods_per_year`, the
drawdown measured from a running peak that starts at the initial capital. A test checks
annual_return, annual_volatility, sharpe, sortino, calmar, max_drawdown, var_95 and cvar_95 against
empyrical to 1e-9 relative. Where we depart (undefined ratios), the docstring says so: a ratio with
a zero denominator is NaN here, where empyrical returns +-inf.

The probabilistic and deflated Sharpe ratios follow Bailey & Lopez de Prado, "The Sharpe Ratio
Efficient Frontier" (J. of Risk, 2012) and "The Deflated Sharpe Ratio" (J. of Portfolio
Management, 2014).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import kurtosis, norm, skew

EULER_GAMMA = 0.5772156649015329


def annual_return(r: np.ndarray, periods_per_year: int = 252) -> float:
    """CAGR: prod(1 + r) ** (periods_per_year / n) - 1. A book that lost everything (or more) is -1,
    where empyrical returns NaN or a complex power."""
    if len(r) == 0:
        return float("nan")
    growth = float(np.prod(1 + r))
    return growth ** (periods_per_year / len(r)) - 1 if growth > 0 else -1.0


def annual_volatility(r: np.ndarray, periods_per_year: int = 252) -> float:
    """std(r, ddof=1) * sqrt(periods_per_year); NaN below two observations."""
    return float(np.std(r, ddof=1) * np.sqrt(periods_per_year)) if len(r) > 1 else float("nan")


def sharpe(r: np.ndarray, periods_per_year: int = 252, risk_free: float = 0.0) -> float:
    """mean(r - rf) / std(r - rf, ddof=1) * sqrt(periods_per_year), rf per period; NaN for a flat
    series (empyrical: +-inf) or below two observations."""
    excess = r - risk_free
    if len(r) < 2 or np.ptp(excess) == 0:
        return float("nan")
    return float(np.mean(excess) / np.std(excess, ddof=1) * np.sqrt(periods_per_year))


def sortino(r: np.ndarray, periods_per_year: int = 252, risk_free: float = 0.0) -> float:
    """mean(r - rf) * P / (sqrt(mean(min(r - rf, 0) ** 2)) * sqrt(P)), P = periods_per_year: the
    downside deviation averages over every period, not only the losing ones (empyrical, after Sortino
    & Price 1994). NaN without a losing period (empyrical: inf)."""
    excess = r - risk_free
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2)) if len(r) else 0.0
    if len(r) < 2 or downside == 0:
        return float("nan")
    return float(np.mean(excess) * periods_per_year / (downside * np.sqrt(periods_per_year)))


def drawdowns(r: np.ndarray) -> np.ndarray:
    """wealth / running peak - 1 after each period, the peak starting at the initial capital (1)."""
    wealth = np.cumprod(1 + r)
    return wealth / np.maximum(np.maximum.accumulate(wealth), 1.0) - 1


def max_drawdown(r: np.ndarray) -> float:
    """Deepest drawdown, a negative fraction (0 if the series never falls below a peak: the peak is at
    least the wealth, so no drawdown is positive)."""
    return float(drawdowns(r).min()) if len(r) else float("nan")


def max_drawdown_days(r: np.ndarray) -> int:
    """Longest stretch of consecutive periods under water (below the running peak), in periods; a
    drawdown not recovered by the end counts to the end."""
    under = drawdowns(r) < 0
    if not under.any():
        return 0
    index = np.arange(len(r))
    last_dry = np.maximum.accumulate(np.where(under, -1, index))
    return int(np.max(np.where(under, index - last_dry, 0)))


def calmar(r: np.ndarray, periods_per_year: int = 252) -> float:
    """annual_return / |max_drawdown|; NaN without a drawdown."""
    mdd = max_drawdown(r)
    return annual_return(r, periods_per_year) / abs(mdd) if mdd < 0 else float("nan")


def value_at_risk(r: np.ndarray, cutoff: float = 0.05) -> float:
    """Historical VaR as a return (negative for a loss): the `cutoff` quantile of r, linearly
    interpolated (numpy's percentile, as empyrical.value_at_risk). cutoff 0.05 is the 95% VaR."""
    return float(np.percentile(r, 100 * cutoff)) if len(r) else float("nan")


def conditional_value_at_risk(r: np.ndarray, cutoff: float = 0.05) -> float:
    """Historical CVaR (expected shortfall) as a return: the mean of the floor((n - 1) * cutoff) + 1
    lowest returns (empyrical.conditional_value_at_risk's cut)."""
    if not len(r):
        return float("nan")
    cut = int((len(r) - 1) * cutoff)
    return float(np.mean(np.partition(r, cut)[: cut + 1]))


def win_rate(r: np.ndarray) -> float:
    """Share of positive periods among periods with a non-zero return (days in cash excluded)."""
    active = r[r != 0]
    return float(np.mean(active > 0)) if len(active) else float("nan")


def probabilistic_sharpe(r: np.ndarray, benchmark_sharpe: float = 0.0) -> float:
    """P(true Sharpe > benchmark_sharpe) given the estimate (Bailey & Lopez de Prado 2012):

    PSR = Phi((SR - SR*) * sqrt(n - 1) / sqrt(1 - g3 * SR + (g4 - 1) / 4 * SR^2))

    with SR, SR* per period (not annualised), g3 the skewness and g4 the (non-excess) kurtosis of r.
    Fat tails and negative skew widen the estimate's error and lower the probability.
    """
    sr = sharpe(r, periods_per_year=1)
    if not np.isfinite(sr):
        return float("nan")
    spread = 1 - skew(r) * sr + (kurtosis(r, fisher=False) - 1) / 4 * sr**2
    return float(norm.cdf((sr - benchmark_sharpe) * np.sqrt(len(r) - 1) / np.sqrt(spread)))


def deflated_sharpe(r: np.ndarray, trials: int, sharpe_variance: float | None = None) -> float:
    """PSR against the Sharpe that the best of `trials` unskilled strategies would show
    (Bailey & Lopez de Prado 2014):

    SR0 = sqrt(V) * ((1 - gamma) * Phi^-1(1 - 1/N) + gamma * Phi^-1(1 - 1/(N e))),  DSR = PSR(SR0)

    N = trials, gamma = Euler-Mascheroni, V the variance of the trials' per-period Sharpe ratios.
    Without `sharpe_variance`, V is this estimate's own sampling variance,
    (1 - g3 SR + (g4 - 1)/4 SR^2) / (n - 1): the spread of Sharpe ratios among trials that are noise.
    With one trial SR0 = 0 and DSR = PSR.
    """
    if trials < 1:
        raise ValueError(f"trials={trials}: expected the number of experiments tried, at least 1")
    sr = sharpe(r, periods_per_year=1)
    if not np.isfinite(sr):
        return float("nan")
    if sharpe_variance is None:
        sharpe_variance = (1 - skew(r) * sr + (kurtosis(r, fisher=False) - 1) / 4 * sr**2) / (len(r) - 1)
    expected_max = 0.0 if trials == 1 else (
        (1 - EULER_GAMMA) * norm.ppf(1 - 1 / trials) + EULER_GAMMA * norm.ppf(1 - 1 / (trials * np.e)))
    return probabilistic_sharpe(r, np.sqrt(sharpe_variance) * expected_max)


def summarize(returns: np.ndarray, periods_per_year: int = 252, risk_free: float = 0.0,
              trials: int = 1) -> dict[str, float]:
    """Every metric above for one return series; `risk_free` is per period, `trials` deflates the Sharpe."""
    r = np.asarray(returns, dtype=np.float64)
    excess = r - risk_free
    return {
        "annual_return": annual_return(r, periods_per_year),
        "annual_volatility": annual_volatility(r, periods_per_year),
        "sharpe": sharpe(r, periods_per_year, risk_free),
        "sortino": sortino(r, periods_per_year, risk_free),
        "calmar": calmar(r, periods_per_year),
        "max_drawdown": max_drawdown(r),
        "max_drawdown_days": max_drawdown_days(r),
        "var_95": value_at_risk(r),
        "cvar_95": conditional_value_at_risk(r),
        "win_rate": win_rate(r),
        "probabilistic_sharpe": probabilistic_sharpe(excess),
        "deflated_sharpe": deflated_sharpe(excess, trials),
    }


def excess(strategy: np.ndarray, benchmark: np.ndarray, periods_per_year: int = 252) -> dict[str, float]:
    """Excess over the benchmark as qlib's risk_analysis reports it: excess_return = mean(s - b) * P
    (arithmetic, annualised) and information_ratio = mean(s - b) / std(s - b, ddof=1) * sqrt(P)."""
    diff = np.asarray(strategy, dtype=np.float64) - np.asarray(benchmark, dtype=np.float64)
    return {"excess_return": float(np.mean(diff) * periods_per_year) if len(diff) else float("nan"),
            "information_ratio": sharpe(diff, periods_per_year)}
