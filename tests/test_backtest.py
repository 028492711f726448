"""Backtest: timing, costs, the three strategies, the benchmark, regimes and walk-forward."""

from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stockcast.backtest.benchmark import buy_and_hold
from stockcast.backtest.engine import (Book, Costs, Strategy, backtest_grid, cost_per_side, drawdown_curve, equity_curve,
                                       run, sector_contributions, simulate)
from stockcast.backtest.grid import to_grid
from stockcast.backtest.regimes import Regime, regime_table, worst_periods
from stockcast.backtest.strategies import (STRATEGIES, long_flat, long_short, sector_neutral_long_short, target_weights,
                                           topk_dropout)
from stockcast.backtest.summary import backtest_metrics, curves
from stockcast.backtest.walk_forward import stitch, walk_forward
from stockcast.errors import StockcastError

from .test_backtest_metrics import _hand_dsr

COST = cost_per_side(5, 5)
COSTS = Costs(COST)


def _frame(probs: dict[str, list[float]], returns: dict[str, list[float]], start: date = date(2020, 1, 6)):
    days = [start + timedelta(i) for i in range(len(next(iter(probs.values()))))]
    return pl.DataFrame([{"ticker": t, "date": d, "prob": p, "hold_return": r}
                         for t in probs for d, p, r in zip(days, probs[t], returns[t]) if p is not None])


def _random(days: int = 60, names: int = 12, seed: int = 0, holes: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    start = date(2020, 1, 1)
    frame = pl.DataFrame({
        "ticker": np.repeat([f"T{i:02d}" for i in range(names)], days),
        "date": [start + timedelta(i) for i in range(days)] * names,
        "prob": rng.random(days * names).astype(np.float32),
        "hold_return": rng.normal(0.0005, 0.02, days * names)})
    return frame.filter(pl.Series(rng.random(frame.height) >= holes))


def test_a_position_earns_the_return_of_the_following_session_net_of_costs():
    pred = _frame({"AAA": [0.9, 0.9, 0.1]}, {"AAA": [0.02, -0.01, 0.05]})
    out = run(pred, [Strategy("long_flat", threshold=0.5)], COSTS)["long_flat"]
    np.testing.assert_allclose(out["strategy"], [0.02 - COST, -0.01, -COST])
    np.testing.assert_allclose(out["turnover"], [1, 0, 1])
    np.testing.assert_allclose(out["benchmark"], [0.02 - COST, -0.01, 0.05])  # buys once, then holds


def test_capital_is_split_across_the_tickers_of_the_day():
    pred = _frame({"A": [0.9], "B": [0.1]}, {"A": [0.1], "B": [-0.1]})
    out = run(pred, [Strategy("long_flat")], Costs(0.0))["long_flat"]
    assert out["strategy"][0] == pytest.approx(0.05) and out["benchmark"][0] == pytest.approx(0.0)
    assert equity_curve(out, 100.0)["strategy"][0] == pytest.approx(105.0)


def test_keeping_equal_weights_trades_the_drift_and_pays_for_it():
    pred = _frame({"A": [0.9, 0.9], "B": [0.9, 0.9]}, {"A": [0.10, 0.0], "B": [-0.10, 0.0]})
    out = run(pred, [Strategy("long_flat")], COSTS)["long_flat"]
    # after day 1 the book is A 0.55 / B 0.45 (of 1.0): back to 0.5 / 0.5 trades 0.1 of the book
    np.testing.assert_allclose(out["turnover"], [1.0, 0.1])
    np.testing.assert_allclose(out["strategy"], [0.0 - COST, -0.1 * COST])
    np.testing.assert_allclose(out["benchmark_turnover"], [1.0, 0.0])  # buy-and-hold lets it drift


def test_buy_and_hold_is_the_average_growth_of_its_names():
    frame = _random(days=40, names=5)
    out = run(frame, [Strategy("long_flat")], Costs(0.0))["long_flat"]
    growth = frame.sort("date").group_by("ticker").agg((1 + pl.col("hold_return")).cum_prod().alias("g"))
    average = np.mean(np.vstack(growth["g"].to_list()), axis=0)
    np.testing.assert_allclose((1 + out["benchmark"]).cum_prod(), average, rtol=1e-12)


def test_the_benchmark_follows_listings_and_delistings():
    # C lists on day 2, A delists after day 2 (no row on day 3)
    pred = _frame({"A": [0.5, 0.5, None], "B": [0.5, 0.5, 0.5], "C": [None, 0.5, 0.5]},
                  {"A": [0.5, 0.1, None], "B": [0.0, 0.0, 0.1], "C": [None, 0.2, 0.0]})
    gross, turnover = buy_and_hold(to_grid(pred))
    # day 1: 1/2 each. Day 2: A has grown to 0.6 of the book, B 0.4; C is bought at 1/3 and the others
    # scaled by 2/3: A 0.4, B 0.8/3. Day 3: A is sold, B and C share the book as 0.8/3 : 0.4
    np.testing.assert_allclose(gross, [0.25, 0.4 * 0.1 + 0.2 / 3, 0.4 * 0.1])
    a, b, c = np.array([0.4 * 1.1, 0.8 / 3, 0.4]) / (1 + gross[1])  # day 3 before trading
    np.testing.assert_allclose(turnover, [1.0, 0.2 + (0.4 - 0.8 / 3) + 1 / 3, a + abs(0.4 - b) + abs(0.6 - c)])


def _reference_buy_and_hold(grid) -> np.ndarray:
    """Benchmark weights written plainly, one ticker at a time."""
    days, names = grid.shape
    weights = np.zeros((days, names))
    for t in range(days):
        book = weights[t - 1] * (1 + grid.returns[t - 1]) if t else np.zeros(names)
        book = [book[i] if grid.tradable[t, i] else 0.0 for i in range(names)]
        total = sum(book)
        book = [b / total for b in book] if total else book
        new = [i for i in range(names) if grid.tradable[t, i] and book[i] == 0]
        n = int(grid.tradable[t].sum())
        weights[t] = [1 / n if i in new else b * (1 - len(new) / n) for i, b in enumerate(book)]
    return weights


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), holes=st.sampled_from([0.0, 0.2, 0.6]))
def test_the_benchmark_accounts_like_the_engine(seed, holes):
    grid = to_grid(_random(days=20, names=6, seed=seed, holes=holes))
    np.testing.assert_allclose(buy_and_hold(grid), _reference_book(grid),
                               atol=1e-12)


def _gross_turnover(result) -> tuple[np.ndarray, np.ndarray]:
    book, _ = result
    return book.gross, book.turnover


def _reference_book(grid) -> tuple[np.ndarray, np.ndarray]:
    return _gross_turnover(simulate(_reference_buy_and_hold(grid), grid.returns, np.zeros(grid.shape[1])))


def test_long_short_is_dollar_neutral_with_unit_gross_exposure():
    grid = to_grid(_random(names=11))
    weights = long_short(grid, top_k=3)
    np.testing.assert_allclose(weights.sum(axis=1), 0, atol=1e-15)
    np.testing.assert_allclose(np.abs(weights).sum(axis=1), 1)
    assert ((weights > 0).sum(axis=1) == 3).all()
    thin = long_short(grid, top_k=8)  # 11 names: k_t = 5 a side
    assert ((thin > 0).sum(axis=1) == 5).all() and ((thin < 0).sum(axis=1) == 5).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 6), holes=st.sampled_from([0.0, 0.3, 0.7]))
def test_long_short_picks_the_highest_and_lowest_probabilities(seed, k, holes):
    grid = to_grid(_random(days=8, names=10, seed=seed, holes=holes))
    weights = long_short(grid, top_k=k)
    for t in range(grid.shape[0]):
        names = np.flatnonzero(grid.tradable[t])
        k_t = min(k, len(names) // 2)
        order = names[np.argsort(grid.prob[t, names], kind="stable")]
        assert set(np.flatnonzero(weights[t] > 0)) == set(order[len(order) - k_t:]) if k_t else True
        assert set(np.flatnonzero(weights[t] < 0)) == set(order[:k_t])


def _reference_topk_dropout(grid, k: int, n_drop: int) -> list[set[int]]:
    """qlib's TopkDropoutStrategy.generate_trade_decision holdings, written plainly with lists."""
    held: list[int] = []
    out = []
    for t in range(grid.shape[0]):
        score = {i: float(grid.prob[t, i]) for i in np.flatnonzero(grid.tradable[t])}
        held = [i for i in held if i in score]
        last = sorted(held, key=lambda i: -score[i])
        candidates = sorted((i for i in score if i not in held), key=lambda i: -score[i])
        today = candidates[: n_drop + k - len(last)]
        comb = sorted(last + today, key=lambda i: -score[i])
        sell = [i for i in last if i in comb[len(comb) - n_drop:]] if n_drop else []
        buy = today[: len(sell) + k - len(last)]
        held = [i for i in held if i not in sell] + buy
        out.append(set(held))
    return out


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), k=st.integers(1, 5), swaps=st.integers(0, 3), holes=st.sampled_from([0.0, 0.2]))
def test_topk_dropout_holds_what_qlibs_rule_holds(seed, k, swaps, holes):
    grid = to_grid(_random(days=15, names=9, seed=seed, holes=holes))
    weights = topk_dropout(grid, k, swaps)
    held = [set(np.flatnonzero(w > 0)) for w in weights]
    assert held == _reference_topk_dropout(grid, k, swaps)
    assert (weights.sum(axis=1) <= 1 + 1e-12).all() and (weights >= 0).all()


def test_topk_dropout_bounds_the_daily_swaps():
    grid = to_grid(_random(days=50, names=30))
    held = [set(np.flatnonzero(w > 0)) for w in topk_dropout(grid, top_k=10, max_swaps=2)]
    assert all(len(h) == 10 for h in held)
    assert max(len(a - b) for a, b in zip(held, held[1:])) <= 2


@pytest.mark.parametrize("name", STRATEGIES)
def test_no_strategy_holds_an_untradable_cell(name):
    grid = to_grid(_random(holes=0.4).with_columns(
        hold_return=pl.when(pl.col("prob") < 0.1).then(None).otherwise(pl.col("hold_return"))))
    weights = target_weights(grid, name, threshold=0.5, top_k=3, max_swaps=1)
    assert not weights[~grid.tradable].any()


def test_the_grid_does_not_depend_on_row_order():
    frame = _random(holes=0.3)
    a, b = to_grid(frame), to_grid(frame.sample(fraction=1.0, shuffle=True, seed=3))
    assert a.tickers.to_list() == sorted(b.tickers.to_list()) == b.tickers.to_list()
    assert a.dates.to_list() == b.dates.to_list()
    np.testing.assert_array_equal(a.prob, b.prob)
    np.testing.assert_array_equal(a.returns, b.returns)


def test_turnover_is_measured_against_the_drifted_book():
    weights = np.array([[0.5, -0.5], [0.5, -0.5]])
    returns = np.array([[0.1, 0.1], [0.0, 0.0]])
    gross, turnover = _gross_turnover(simulate(weights, returns, np.zeros(2)))
    np.testing.assert_allclose(gross, [0.0, 0.0])
    np.testing.assert_allclose(turnover, [1.0, 0.1])  # long grew to 0.55, short to -0.55


def test_costs_outside_a_sane_range_are_refused():
    with pytest.raises(ValueError, match="cost_bps"):
        cost_per_side(-1, 0)
    with pytest.raises(ValueError, match="slippage_bps"):
        cost_per_side(0, 2000)
    with pytest.raises(StockcastError, match="hold_return"):
        to_grid(pl.DataFrame({"ticker": ["A"], "date": [date(2020, 1, 1)], "prob": [0.5]}))


def test_worst_week_and_month_compound_calendar_periods():
    days = [date(2020, 1, 6) + timedelta(i) for i in range(31)]  # Monday 6 January to 5 February
    r = np.zeros(31)
    r[[1, 2]] = -0.1  # Tuesday and Wednesday of the first week
    out = worst_periods(pl.DataFrame({"date": days, "strategy": r}), "strategy")
    assert out == pytest.approx({"worst_day": -0.1, "worst_week": 0.9 * 0.9 - 1, "worst_month": 0.9 * 0.9 - 1})


def test_regimes_are_reported_where_the_data_reaches_them():
    days = [date(2019, 12, 1) + timedelta(i) for i in range(90)]
    returns = pl.DataFrame({"date": days, "strategy": np.full(90, 0.001), "benchmark": np.full(90, -0.001)})
    regimes = [Regime("before", date(2010, 1, 1), date(2011, 1, 1)),
               Regime("partly", date(2019, 1, 1), date(2019, 12, 10)),
               Regime("inside", date(2020, 1, 1), date(2020, 1, 31))]
    table = regime_table(returns, regimes)
    assert table["regime"].to_list() == ["partly", "inside"]
    assert table["days"].to_list() == [10, 31] and table["first"][0] == date(2019, 12, 1)
    assert table["strategy_total_return"][1] == pytest.approx(1.001**31 - 1)
    assert table["benchmark_max_drawdown"][1] == pytest.approx(0.999**31 - 1)
    assert regime_table(returns, regimes[:1]).height == 0


def test_walk_forward_trades_the_stitched_out_of_sample_folds():
    frame = _random(days=90)
    cuts = [date(2020, 1, 1), date(2020, 1, 31), date(2020, 3, 1), date(2020, 4, 1)]
    folds = {number: frame.filter(pl.col("date").is_between(a, b, closed="left"))
             for number, (a, b) in enumerate(zip(cuts, cuts[1:]), start=29)}
    strategy = Strategy("long_short", top_k=3)
    result = walk_forward(folds, strategy, COSTS, trials=3)
    whole = run(frame, [strategy], COSTS)["long_short"]
    np.testing.assert_allclose(result.returns["strategy"], whole["strategy"])
    assert result.returns["fold"].unique().sort().to_list() == [29, 30, 31]  # the folds' own numbers
    assert result.folds["days"].to_list() == [30, 30, 30] and result.folds["first"][1] == date(2020, 1, 31)
    assert result.summary["strategy"]["sharpe"] == pytest.approx(
        whole["strategy"].mean() / whole["strategy"].std() * np.sqrt(252))
    with pytest.raises(StockcastError, match="fold 29 starts .* not after fold 30 ends"):
        stitch({30: folds[30], 29: folds[29]})


def test_backtest_metrics_keep_their_contract():
    results = run(_random(days=120), [Strategy(s, top_k=3) for s in STRATEGIES], COSTS)
    report = backtest_metrics(results, "long_short", trials=3)
    for side in ("test", "benchmark"):
        assert {"annual_return", "sharpe", "max_drawdown", "win_rate", "sortino", "calmar", "var_95", "cvar_95",
                "max_drawdown_days", "deflated_sharpe", "worst_day", "worst_week", "worst_month"} <= set(report[side])
    assert set(report["strategies"]) == set(STRATEGIES) and report["days"] == 120
    daily = results["long_short"]
    gap = (daily["strategy"] - daily["benchmark"]).mean() * 252
    assert report["test"]["excess_return"] == pytest.approx(gap)
    spread = (daily["strategy"] - daily["benchmark"]).to_numpy()  # deflated by the 3 trials, on both sides
    assert report["test"]["excess_deflated_sharpe"] == pytest.approx(_hand_dsr(spread, 3), rel=1e-9)
    assert report["test"]["deflated_sharpe"] == pytest.approx(_hand_dsr(daily["strategy"].to_numpy(), 3), rel=1e-9)
    assert report["test"]["annual_return_gross"] > report["test"]["annual_return"]
    plots = curves(results, "long_short", 100_000)
    assert plots["equity"].columns == ["date", "strategy", "strategy_gross", "benchmark", *STRATEGIES]
    assert (plots["drawdown"]["strategy"] <= 0).all()


def test_long_flat_is_all_cash_when_the_model_is_bearish():
    grid = to_grid(_random().with_columns(prob=pl.lit(0.2, pl.Float32)))
    assert not long_flat(grid, 0.5).any()


def _pivot(frame: pl.DataFrame, column: str) -> np.ndarray:
    """The grid written plainly: a polars pivot, tradable rows only."""
    tradable = frame.filter(pl.col("prob").is_not_nan() & pl.col("hold_return").is_not_nan())
    wide = tradable.pivot(on="ticker", index="date", values=column).sort("date")
    names = sorted(frame["ticker"].unique().to_list())
    return wide.select([pl.col(n) if n in wide.columns else pl.lit(None).alias(n) for n in names]).to_numpy()


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), holes=st.sampled_from([0.0, 0.01, 0.3]), shuffle=st.booleans(),
       dead=st.sampled_from([0.0, 0.2]))
def test_the_grid_is_the_pivot_of_the_tradable_rows(seed, holes, shuffle, dead):
    frame = _random(days=300, names=7, seed=seed, holes=holes)  # 2,100 rows: sliced runs or scattered rows
    rng = np.random.default_rng(seed)
    frame = frame.with_columns(hold_return=pl.when(pl.Series(rng.random(frame.height) < dead)).then(float("nan"))
                               .otherwise(pl.col("hold_return")))
    grid = to_grid(frame.sample(fraction=1.0, shuffle=True, seed=seed) if shuffle else frame)
    prob, returns = _pivot(frame, "prob"), _pivot(frame, "hold_return")
    np.testing.assert_array_equal(grid.prob, prob.astype(np.float32))
    np.testing.assert_array_equal(grid.returns, np.nan_to_num(returns, nan=0.0))
    np.testing.assert_array_equal(grid.tradable, ~np.isnan(prob))


def test_sessions_without_a_tradable_row_are_dropped():
    frame = _random(days=10, names=4)
    unknown = pl.col("date").is_in([date(2020, 1, 1), date(2020, 1, 5), date(2020, 1, 10)])
    grid = to_grid(frame.with_columns(hold_return=pl.when(unknown).then(None).otherwise(pl.col("hold_return"))))
    assert grid.dates.to_list() == [date(2020, 1, d) for d in (2, 3, 4, 6, 7, 8, 9)]
    last = to_grid(frame.with_columns(hold_return=pl.when(pl.col("date") == date(2020, 1, 10)).then(None)
                                      .otherwise(pl.col("hold_return"))))
    assert last.dates.to_list() == [date(2020, 1, d) for d in range(1, 10)] and last.prob.shape == (9, 4)


def test_the_benchmark_buys_back_a_holding_that_lost_everything():
    pred = _frame({"A": [0.5, 0.5, 0.5, 0.5], "B": [0.5, 0.5, 0.5, 0.5]},
                  {"A": [-1.0, 0.1, 0.0, 0.0], "B": [0.0, 0.0, 0.0, 0.0]})
    grid = to_grid(pred)
    np.testing.assert_allclose(buy_and_hold(grid), _reference_book(grid),
                               atol=1e-12)


@pytest.mark.parametrize("holes", [0.0, 0.5])  # 0.5: k_t varies from day to day
def test_long_short_stays_dollar_neutral_when_every_probability_ties(holes):
    grid = to_grid(_random(names=10, holes=holes).with_columns(prob=pl.lit(0.5, pl.Float32)))
    weights = long_short(grid, top_k=3)
    k = np.minimum(3, grid.tradable.sum(axis=1) // 2)
    np.testing.assert_allclose(weights.sum(axis=1), 0, atol=1e-15)
    assert ((weights > 0).sum(axis=1) == k).all() and ((weights < 0).sum(axis=1) == k).all()



def test_cost_per_side_is_the_sum_of_commission_and_slippage_in_basis_points():
    """Rule: c = (cost_bps + slippage_bps) / 1e4, each input in [0, 1000] bps (both ends allowed), and
    a refusal names the input at fault."""
    assert cost_per_side(5, 3) == pytest.approx(0.0008, rel=1e-12)
    assert cost_per_side(0, 0) == 0.0 and cost_per_side(1000, 1000) == pytest.approx(0.2, rel=1e-12)
    with pytest.raises(ValueError, match=r"^cost_bps=1000.5: expected"):
        cost_per_side(1000.5, 0)
    with pytest.raises(ValueError, match=r"^slippage_bps=1001: expected"):
        cost_per_side(0, 1001)


def test_the_daily_frame_splits_the_net_return_into_its_charges():
    """Rule: trading_cost = c * turnover and strategy = strategy_gross - trading_cost - borrow, session by
    session (hand computation: one name bought, held, sold, with a 20 bps side cost)."""
    pred = _frame({"AAA": [0.9, 0.9, 0.1]}, {"AAA": [0.02, -0.01, 0.05]})
    out = run(pred, [Strategy("long_flat", threshold=0.5)], Costs(0.002))["long_flat"]
    np.testing.assert_allclose(out["trading_cost"], [0.002, 0.0, 0.002], atol=1e-15)
    np.testing.assert_allclose(out["strategy"], [0.02 - 0.002, -0.01, -0.002], atol=1e-15)
    assert out.columns == ["date", "strategy", "benchmark", "turnover", "strategy_gross", "benchmark_gross",
                           "benchmark_turnover", "borrow", "trading_cost"]


def test_a_policys_own_weights_are_traded_as_given():
    """Rule: a Strategy carrying `weights` (a sizing policy's) trades exactly those, not the named
    strategy's; weights of another shape than the grid are refused."""
    pred = _frame({"A": [0.9, 0.9], "B": [0.9, 0.9]}, {"A": [0.10, 0.0], "B": [-0.10, 0.0]})
    grid = to_grid(pred)
    weights = np.array([[0.3, 0.0], [0.3, -0.2]])
    result = backtest_grid(grid, [Strategy("long_flat", weights=weights)], Costs(0.0))
    np.testing.assert_array_equal(result.books["long_flat"].weights, weights)
    # day 1: 0.3 * 10%; day 2: A drifted to 0.33 / 1.03, sold back to 0.3, and B shorted 0.2
    np.testing.assert_allclose(result.daily["long_flat"]["strategy_gross"], [0.03, 0.0], atol=1e-15)
    np.testing.assert_allclose(result.daily["long_flat"]["turnover"], [0.3, 0.33 / 1.03 - 0.3 + 0.2], rtol=1e-12)
    with pytest.raises(StockcastError, match=r"long_flat's weights are \(1, 2\), the grid \(2, 2\)"):
        backtest_grid(grid, [Strategy("long_flat", weights=weights[:1])], Costs(0.0))


def test_a_sector_neutral_strategy_is_traded_sector_neutral():
    """Rule: the engine passes neutralize=sector through: the book is sector_neutral_long_short's,
    which differs from the plain long_short on a market whose best names share a sector."""
    days = [date(2020, 1, 6) + timedelta(i) for i in range(2)]
    prob = {"A": 0.9, "B": 0.8, "C": 0.2, "D": 0.1}
    sector = {"A": "tech", "B": "tech", "C": "energy", "D": "energy"}
    earns = {"A": 0.02, "B": 0.01, "C": 0.0, "D": -0.01}
    frame = pl.DataFrame([{"ticker": t, "date": d, "prob": p, "hold_return": earns[t], "sector": sector[t]}
                          for t, p in prob.items() for d in days])
    grid = to_grid(frame)
    book = run(frame, [Strategy("long_short", top_k=1, neutralize="sector")], Costs(0.0))
    neutral = backtest_grid(grid, [Strategy("long_short", top_k=1, neutralize="sector")], Costs(0.0))
    np.testing.assert_array_equal(neutral.books["long_short"].weights, sector_neutral_long_short(grid, 1))
    # per sector: long its best, short its worst: A +1/4, B -1/4, C +1/4, D -1/4
    np.testing.assert_allclose(neutral.books["long_short"].weights, [[0.25, -0.25, 0.25, -0.25]] * 2)
    # gross 0.25 * (2% - 1% + 0% + 1%); the plain long_short (A +1/2, D -1/2) would earn 1.5%
    np.testing.assert_allclose(book["long_short"]["strategy_gross"], [0.005, 0.005], rtol=1e-12)


def test_drawdown_curve_by_hand_with_the_initial_capital_as_a_peak():
    """Rule: drawdown = wealth / max(running peak, 1) - 1 per return column, wealth = prod(1 + r):
    a fall on the first day is a drawdown from the initial capital."""
    days = [date(2020, 1, 6) + timedelta(i) for i in range(4)]
    returns = pl.DataFrame({"date": days, "strategy": [0.1, -0.5, 0.2, 0.0], "benchmark": [-0.1, 0.05, 0.1, -0.2]})
    out = drawdown_curve(returns)
    assert out.columns == ["date", "strategy", "benchmark"] and out["date"].to_list() == days
    np.testing.assert_allclose(out["strategy"], [0.0, -0.5, -0.4, -0.4], atol=1e-15)
    np.testing.assert_allclose(out["benchmark"], [-0.1, 0.9 * 1.05 - 1, 0.0, -0.2], atol=1e-15)
    only = drawdown_curve(returns, columns=("benchmark",))
    assert only.columns == ["date", "benchmark"]


def test_sector_contributions_sum_each_sectors_weighted_returns():
    """Rule: contribution of a sector = sum over sessions and its names of w[t, i] * r[t, i] (hand
    computation over two sessions and three sectors); no sectors, an empty typed table."""
    days = [date(2020, 1, 6) + timedelta(i) for i in range(2)]
    returns = {"A": [0.02, 0.01], "B": [-0.01, 0.03], "C": [0.04, -0.02], "D": [0.05, 0.05]}
    sector = {"A": "tech", "B": "energy", "C": "tech", "D": "health"}
    frame = pl.DataFrame([{"ticker": t, "date": d, "prob": 0.5, "hold_return": r, "sector": sector[t]}
                          for t in returns for d, r in zip(days, returns[t])])
    grid = to_grid(frame)
    weights = np.array([[0.5, 0.25, 0.25, 0.0], [0.2, 0.3, 0.5, -0.1]])
    book = Book(weights, np.zeros(2), np.zeros(2), np.zeros(2))
    out = sector_contributions(grid, book)
    assert out["sector"].to_list() == ["energy", "health", "tech"]
    np.testing.assert_allclose(out["contribution"], [0.25 * -0.01 + 0.3 * 0.03, -0.1 * 0.05,
                                                     0.5 * 0.02 + 0.25 * 0.04 + 0.2 * 0.01 + 0.5 * -0.02], atol=1e-15)
    assert out.schema == pl.Schema({"sector": pl.String, "contribution": pl.Float64})
    none = sector_contributions(to_grid(frame.drop("sector")), book)
    assert none.height == 0 and none.schema == pl.Schema({"sector": pl.String, "contribution": pl.Float64})
