"""Evaluation's intervals and tests at their edges, by hand: Wilson intervals, the binomial test and
Pesaran-Timmermann. Fast: the evaluation mutation shard runs these beside tests/test_evaluate.py.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.stats import norm

from stockcast.evaluation.significance import Z_95 as Z
from stockcast.evaluation.significance import binomial_pvalue, pesaran_timmermann, wilson_interval


def test_wilson_interval_is_vectorised_and_exact_at_its_ends():
    """Rule: element-wise over arrays; no hit gives low 0, all hits high 1, no trial (0, 1); the
    default z is the two-sided 95% normal quantile (1.95996...)."""
    low, high = wilson_interval(np.array([0, 3, 5, 0]), np.array([5, 5, 5, 0]))
    z = norm.ppf(0.975)
    p, n = 0.6, 5
    centre, half = p + z**2 / (2 * n), z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    np.testing.assert_allclose(low, [0.0, (centre - half) / (1 + z**2 / n), (1 - z**2 / (n + z**2)) * 1.0, 0.0],
                               rtol=1e-12)
    np.testing.assert_allclose(high, [z**2 / (n + z**2), (centre + half) / (1 + z**2 / n), 1.0, 1.0], rtol=1e-12)
    assert low[0] == 0.0 and high[2] == 1.0 and low[3] == 0.0 and high[3] == 1.0


def test_the_tests_of_an_empty_segment_are_undefined():
    """Rule: no rows, no p-value: the binomial test and Pesaran-Timmermann return NaN."""
    assert np.isnan(binomial_pvalue(0, 0, 0.5))
    assert all(np.isnan(pesaran_timmermann(np.array([]), np.array([]))))


def test_pesaran_timmermann_p_value_is_the_upper_normal_tail():
    """Rule: p = 1 - Phi(PT), one-sided (skill shows as a large positive statistic)."""
    y = np.array([1, 0, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1])
    pred = np.array([1, 0, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1])
    statistic, p_value = pesaran_timmermann(y, pred)
    assert p_value == pytest.approx(norm.sf(statistic), rel=1e-12) and 0 < statistic
    worse = pesaran_timmermann(y, 1 - pred)
    assert worse[0] < 0 and worse[1] > 0.5


def test_pesaran_timmermann_by_hand_with_unbalanced_calls_and_quiet_limits():
    """Rule: the full variance of P* (both cross terms, here with px != 1/2 and py != 1/2); a constant
    call or a single row gives NaN without a warning."""
    y = np.array([1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 1])
    pred = np.array([1, 1, 1, 1, 0, 1, 1, 1, 0, 0, 1, 1])
    n, py, px, p = 12, 8 / 12, 9 / 12, 9 / 12
    star = py * px + (1 - py) * (1 - px)
    v = star * (1 - star) / n
    v_star = (2 * py - 1) ** 2 * px * (1 - px) / n + (2 * px - 1) ** 2 * py * (1 - py) / n \
        + 4 * py * px * (1 - py) * (1 - px) / n**2
    assert pesaran_timmermann(y, pred)[0] == pytest.approx((p - star) / np.sqrt(v - v_star), rel=1e-12)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert all(np.isnan(pesaran_timmermann(y, np.ones(12))))
        assert all(np.isnan(pesaran_timmermann(np.array([]), np.array([]))))
        low, high = wilson_interval(0, 0)
        assert (float(low), float(high)) == (0.0, 1.0)


def test_wilson_interval_of_billions_of_trials():
    """Rule: counts are taken as float64: n^2 of four billion predictions must not overflow int64
    (numpy would warn and wrap around)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        low, high = wilson_interval(2 * 10**9, 4 * 10**9)
    z, n, p = Z, 4e9, 0.5
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert (float(low), float(high)) == pytest.approx(((p + z**2 / (2 * n) - half) / (1 + z**2 / n),
                                                       (p + z**2 / (2 * n) + half) / (1 + z**2 / n)), rel=1e-12)
