"""Performance metrics by their definitions, and against empyrical-reloaded on the same series."""

import warnings

import numpy as np
import pytest
from scipy.stats import norm

from stockcast.backtest.metrics import (annual_return, annual_volatility, calmar, conditional_value_at_risk,
                                        deflated_sharpe, excess, max_drawdown, max_drawdown_days, probabilistic_sharpe,
                                        sharpe, sortino, summarize, value_at_risk, win_rate)

SERIES = {
    "daily_noise": np.random.default_rng(0).normal(0.0004, 0.012, 2520),
    "fat_tails": np.random.default_rng(1).standard_t(3, 1000) * 0.01,
    "first_day_loss": np.array([-0.05, 0.01, 0.02, -0.01, 0.03, 0.0, -0.02]),
    "with_cash_days": np.where(np.random.default_rng(2).random(500) < 0.3, 0.0,
                               np.random.default_rng(3).normal(0, 0.02, 500)),
    "short": np.array([0.01, -0.02, 0.005]),
}
MATCHED = {  # ours -> empyrical
    "annual_return": lambda e, r: e.annual_return(r),
    "annual_volatility": lambda e, r: e.annual_volatility(r),
    "sharpe": lambda e, r: e.sharpe_ratio(r, risk_free=0.0001),
    "sortino": lambda e, r: e.sortino_ratio(r, required_return=0.0001),
    "calmar": lambda e, r: e.calmar_ratio(r),
    "max_drawdown": lambda e, r: e.max_drawdown(r),
    "var_95": lambda e, r: e.value_at_risk(r, cutoff=0.05),
    "cvar_95": lambda e, r: e.conditional_value_at_risk(r, cutoff=0.05),
}


@pytest.mark.parametrize("name", SERIES)
def test_metrics_match_empyrical_on_the_same_series(name):
    empyrical = pytest.importorskip("empyrical")
    r = SERIES[name]
    ours = summarize(r, periods_per_year=252, risk_free=0.0001)
    for key, theirs in MATCHED.items():
        assert ours[key] == pytest.approx(float(theirs(empyrical, r)), rel=1e-9, abs=1e-15), key


def test_where_we_depart_from_empyrical_is_where_a_ratio_is_undefined():
    flat = np.full(10, 0.001)  # no dispersion: empyrical gives inf, we give NaN
    assert np.isnan(sharpe(flat)) and np.isnan(sortino(flat)) and np.isnan(calmar(flat))
    assert annual_return(np.array([-1.0, 0.5])) == -1.0  # lost everything
    assert annual_return(np.array([-1.2, 0.1, 0.1, 0.1, 0.1])) == -1.0  # lost more than all: empyrical gives NaN


def test_performance_metrics_by_their_definitions():
    r = np.array([0.1, -0.5, 0.2, 0.0])
    assert max_drawdown(r) == pytest.approx(0.55 / 1.1 - 1)  # peak 1.1, trough 0.55
    assert max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(-0.1)  # the initial capital is a peak
    assert annual_return(np.full(252, 0.001)) == pytest.approx(1.001**252 - 1)
    assert sharpe(r, 252) == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252))
    assert sortino(r, 252) == pytest.approx(r.mean() * 252 / (np.sqrt(np.mean(np.minimum(r, 0) ** 2)) * np.sqrt(252)))
    assert win_rate(r) == pytest.approx(2 / 3)
    assert max_drawdown(np.array([0.01, 0.02])) == 0.0
    assert value_at_risk(np.arange(1, 102) / 1000 - 0.05) == pytest.approx(-0.044)
    assert conditional_value_at_risk(np.arange(1, 102) / 1000 - 0.05) == pytest.approx(np.mean([-0.049, -0.048, -0.047,
                                                                                               -0.046, -0.045, -0.044]))


def test_max_drawdown_days_counts_the_longest_time_under_water():
    assert max_drawdown_days(np.array([0.1, -0.1, 0.05, 0.1, -0.01, 0.0])) == 2  # recovered on day 4
    assert max_drawdown_days(np.array([-0.1, 0.0, 0.0, 0.01])) == 4  # never back to the initial capital
    assert max_drawdown_days(np.array([0.01, 0.02])) == 0


def test_probabilistic_sharpe_by_its_formula():
    r = SERIES["fat_tails"]
    sr = r.mean() / r.std(ddof=1)
    g3 = np.mean((r - r.mean()) ** 3) / r.std() ** 3
    g4 = np.mean((r - r.mean()) ** 4) / r.std() ** 4
    expected = norm.cdf((sr - 0.01) * np.sqrt(len(r) - 1) / np.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert probabilistic_sharpe(r, 0.01) == pytest.approx(expected)


def test_deflated_sharpe_falls_as_more_experiments_are_tried():
    r = SERIES["daily_noise"]
    one, ten, thousand = (deflated_sharpe(r, n) for n in (1, 10, 1000))
    assert one == pytest.approx(probabilistic_sharpe(r))
    assert one > ten > thousand
    # Bailey & Lopez de Prado (2014), eq. for the expected maximum Sharpe of N = 10 unskilled trials
    gamma = 0.5772156649
    sr0 = np.sqrt(1 / (len(r) - 1)) * ((1 - gamma) * norm.ppf(1 - 1 / 10) + gamma * norm.ppf(1 - 1 / (10 * np.e)))
    assert deflated_sharpe(r, 10, sharpe_variance=1 / (len(r) - 1)) == pytest.approx(probabilistic_sharpe(r, sr0))
    with pytest.raises(ValueError, match="trials"):
        deflated_sharpe(r, 0)


def test_excess_is_qlibs_annualised_arithmetic_mean_and_information_ratio():
    s, b = np.array([0.01, 0.02, -0.01]), np.array([0.0, 0.01, 0.0])
    out = excess(s, b)
    assert out["excess_return"] == pytest.approx(np.mean(s - b) * 252)
    assert out["information_ratio"] == pytest.approx(np.mean(s - b) / np.std(s - b, ddof=1) * np.sqrt(252))


def test_summary_lists_every_metric_of_the_issue_with_its_own_settings():
    """Rule: summarize reports each metric of the issue, computed with the periods per year, the
    per-period risk-free rate and the number of trials it was given."""
    r, rf = SERIES["daily_noise"], 0.0001
    got = summarize(r, periods_per_year=52, risk_free=rf, trials=5)
    assert got == pytest.approx({
        "annual_return": annual_return(r, 52), "annual_volatility": np.std(r, ddof=1) * np.sqrt(52),
        "sharpe": sharpe(r, 52, rf), "sortino": sortino(r, 52, rf), "calmar": calmar(r, 52),
        "max_drawdown": max_drawdown(r), "max_drawdown_days": max_drawdown_days(r), "var_95": value_at_risk(r),
        "cvar_95": conditional_value_at_risk(r), "win_rate": win_rate(r),
        "probabilistic_sharpe": probabilistic_sharpe(r - rf), "deflated_sharpe": _hand_dsr(r - rf, 5)}, rel=1e-9)


def _hand_dsr(r: np.ndarray, trials: int) -> float:
    """The deflated Sharpe of Bailey & Lopez de Prado (2014) written out from the paper, with V the
    estimate's own sampling variance (1 - g3 SR + (g4 - 1)/4 SR^2) / (n - 1)."""
    n, sr = len(r), r.mean() / r.std(ddof=1)
    g3 = np.mean((r - r.mean()) ** 3) / r.std() ** 3
    g4 = np.mean((r - r.mean()) ** 4) / r.std() ** 4
    spread = 1 - g3 * sr + (g4 - 1) / 4 * sr**2
    euler = 0.5772156649015329
    expected_max = (1 - euler) * norm.ppf(1 - 1 / trials) + euler * norm.ppf(1 - 1 / (trials * np.e))
    sr0 = np.sqrt(spread / (n - 1)) * expected_max
    return float(norm.cdf((sr - sr0) * np.sqrt(n - 1) / np.sqrt(spread)))


@pytest.mark.parametrize("trials", [2, 7, 50])
@pytest.mark.parametrize("name", ["daily_noise", "fat_tails"])
def test_deflated_sharpe_equals_the_papers_formula_by_hand(name, trials):
    """Rule: DSR = PSR(SR0) with SR0 the expected best Sharpe of `trials` unskilled trials; summarize
    deflates by the trials it is given, not by one."""
    r = SERIES[name]
    assert deflated_sharpe(r, trials) == pytest.approx(_hand_dsr(r, trials), rel=1e-9)
    assert summarize(r, trials=trials)["deflated_sharpe"] == pytest.approx(_hand_dsr(r, trials), rel=1e-9)
    assert summarize(r, risk_free=0.0001, trials=trials)["deflated_sharpe"] == pytest.approx(
        _hand_dsr(r - 0.0001, trials), rel=1e-9)
    assert _hand_dsr(r, trials) < probabilistic_sharpe(r)  # deflating by more than one trial costs something


def test_too_short_a_series_gives_nan_quietly():
    """Rule: a metric undefined on so few periods (none for the levels, one for a dispersion, no active
    day for the win rate) is NaN, and says so without a numpy RuntimeWarning (empty means, ddof=1 on
    one point) that would bury real warnings in the stage's log."""
    empty, one, cash = np.array([]), np.array([0.01]), np.zeros(4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for metric in (annual_return, annual_volatility, sharpe, sortino, max_drawdown, value_at_risk,
                       conditional_value_at_risk, win_rate):
            assert np.isnan(metric(empty)), metric.__name__
        for metric in (annual_volatility, sharpe, sortino):
            assert np.isnan(metric(one)), metric.__name__
        assert np.isnan(win_rate(cash))
        assert np.isnan(excess(empty, empty)["excess_return"]) and np.isnan(excess(empty, empty)["information_ratio"])
        flat = np.full(5, 0.002)  # no dispersion: the Sharpe and what is built on it are undefined
        assert np.isnan(probabilistic_sharpe(flat)) and np.isnan(deflated_sharpe(flat, 3))
    assert annual_return(one) == pytest.approx(1.01**252 - 1)  # one period is enough for a level
    assert max_drawdown(one) == 0.0 and value_at_risk(one) == 0.01 and conditional_value_at_risk(one) == 0.01


def test_two_periods_are_enough_for_a_ratio():
    """Rule: the sample standard deviation needs two points, so two periods already give a Sharpe, a
    Sortino and a volatility (by hand: mean 0.01, std(ddof=1) 0.02 * sqrt(2), downside sqrt(0.01^2 / 2))."""
    r = np.array([0.03, -0.01])
    assert annual_volatility(r) == pytest.approx(0.02 * np.sqrt(2) * np.sqrt(252))
    assert sharpe(r) == pytest.approx(0.01 / (0.02 * np.sqrt(2)) * np.sqrt(252))
    assert sortino(r) == pytest.approx(0.01 * 252 / (np.sqrt(0.01**2 / 2) * np.sqrt(252)))


def test_the_defaults_annualise_over_252_sessions():
    """Rule: every annualised metric defaults to 252 periods a year (the daily sessions of the
    backtest), and summarize deflates by a single trial unless told otherwise."""
    r = SERIES["first_day_loss"]
    assert annual_volatility(r) == pytest.approx(np.std(r, ddof=1) * np.sqrt(252), rel=1e-12)
    assert sharpe(r) == pytest.approx(r.mean() / np.std(r, ddof=1) * np.sqrt(252), rel=1e-12)
    assert sortino(r) == pytest.approx(r.mean() * np.sqrt(252) / np.sqrt(np.mean(np.minimum(r, 0) ** 2)), rel=1e-12)
    growth = np.prod(1 + r)
    assert calmar(r) == pytest.approx((growth ** (252 / 7) - 1) / 0.05, rel=1e-12)  # deepest fall: day 1, -5%
    assert summarize(r) == pytest.approx(summarize(r, periods_per_year=252, risk_free=0.0, trials=1), rel=1e-12)
    assert summarize(r)["deflated_sharpe"] == pytest.approx(probabilistic_sharpe(r), rel=1e-12)
    assert summarize(r)["sharpe"] == pytest.approx(sharpe(r, 252), rel=1e-12)


def test_ratios_annualise_by_the_periods_they_are_given():
    """Rule: calmar's CAGR and the information ratio use the caller's periods per year, not 252:
    weekly returns (52) give a different, hand-computable number."""
    r = SERIES["first_day_loss"]
    assert calmar(r, 52) == pytest.approx((np.prod(1 + r) ** (52 / 7) - 1) / 0.05, rel=1e-12)
    s, b = np.array([0.01, 0.02, -0.01]), np.array([0.0, 0.01, 0.0])
    diff = s - b
    out = excess(s, b, periods_per_year=52)
    assert out["excess_return"] == pytest.approx(diff.mean() * 52, rel=1e-12)
    assert out["information_ratio"] == pytest.approx(diff.mean() / np.std(diff, ddof=1) * np.sqrt(52), rel=1e-12)


def test_summary_computes_in_float64_whatever_it_is_given():
    """Rule: summarize and excess read their inputs as float64 (a float32 column, decimal strings from
    a CSV): a float32 series compounded in float32 would drift from the float64 numbers by ~1e-7."""
    r32 = SERIES["daily_noise"].astype(np.float32)
    r64 = r32.astype(np.float64)
    got, expected = summarize(r32, trials=3), summarize(r64, trials=3)
    assert got == pytest.approx(expected, rel=1e-13, abs=1e-15)
    s, b = ["0.01", "0.02", "-0.01"], ["0.0", "0.01", "0.0"]
    assert excess(s, b) == pytest.approx(excess(np.array([0.01, 0.02, -0.01]), np.array([0.0, 0.01, 0.0])), rel=1e-12)
