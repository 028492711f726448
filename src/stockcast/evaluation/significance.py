"""Is an accuracy better than chance? Confidence intervals and one-sided tests.

- Wilson score interval (E. B. Wilson, "Probable inference, the law of succession, and statistical
  inference", JASA 1927): unlike the normal approximation it stays inside [0, 1] and keeps its
  coverage near 0 and 1.
- Exact binomial test of hits against a fixed rate p0 (H0: accuracy <= p0).
- Pesaran & Timmermann, "A simple nonparametric test of predictive performance" (JBES 1992): are
  predicted and realised directions independent? It accounts for a forecaster that says "up" more
  often than the market goes up, which inflates raw accuracy without any skill.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import binom, norm

Z_95 = float(norm.ppf(0.975))


def wilson_interval(hits: np.ndarray | float, n: np.ndarray | float, z: float = Z_95) -> tuple[np.ndarray, np.ndarray]:
    """(low, high) of the Wilson interval for `hits` successes in `n` trials (vectorised; (0, 1) if n = 0):

    (p + z^2/2n -+ z * sqrt(p(1 - p)/n + z^2/4n^2)) / (1 + z^2/n),  p = hits / n
    """
    hits, n = np.asarray(hits, dtype=np.float64), np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = hits / n
        centre = p + z**2 / (2 * n)
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
        scale = 1 + z**2 / n
    low = np.where(hits == 0, 0.0, (centre - half) / scale)  # exact ends: rounding would leave +-1e-17
    high = np.where(hits == n, 1.0, (centre + half) / scale)
    return low, high


def binomial_pvalue(hits: int, n: int, p0: float) -> float:
    """One-sided exact binomial p-value P(X >= hits), X ~ Binomial(n, p0): small means accuracy > p0."""
    return float(binom.sf(hits - 1, n, p0)) if n else float("nan")


def pesaran_timmermann(y: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """(statistic, one-sided p-value) of the Pesaran-Timmermann test of directional accuracy.

    P = mean(pred == y), P* = py px + (1 - py)(1 - px) the accuracy expected if pred and y were
    independent (py, px the shares of ups in y and pred),
    V(P) = P*(1 - P*)/n,
    V(P*) = (2py - 1)^2 px(1 - px)/n + (2px - 1)^2 py(1 - py)/n + 4 py px (1 - py)(1 - px)/n^2,
    PT = (P - P*) / sqrt(V(P) - V(P*)) ~ N(0, 1) under independence. NaN when pred or y is constant
    (a constant forecast carries no directional information to test).
    """
    y, pred = np.asarray(y, dtype=np.float64), np.asarray(pred, dtype=np.float64)
    n = len(y)
    if n == 0:
        return float("nan"), float("nan")
    py, px, hit = y.mean(), pred.mean(), np.mean(y == pred)
    expected = py * px + (1 - py) * (1 - px)
    var_hit = expected * (1 - expected) / n
    var_expected = ((2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n
                    + 4 * py * px * (1 - py) * (1 - px) / n**2)
    spread = var_hit - var_expected
    if not spread > 0:
        return float("nan"), float("nan")
    statistic = (hit - expected) / np.sqrt(spread)
    return float(statistic), float(norm.sf(statistic))
