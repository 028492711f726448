"""Fills a trader could get, borrow, liquidity, capacity, a point-in-time universe with sectors."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import numpy as np
import polars as pl
import pytest

from stockcast.backtest.capacity import capacity_table, halving_capital
from stockcast.backtest.engine import (Capacity, Costs, Strategy, backtest, backtest_grid, run, simulate, simulate_capped,
                                       trade)
from stockcast.backtest.fills import holding_returns, tradable_predictions
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.strategies import sector_neutral_long_short
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.errors import StockcastError

DAYS = [date(2021, 1, 4) + timedelta(i) for i in range(5)]


def _bars(opens: dict[str, list[float]], closes: dict[str, list[float]], volume: float = 1e6) -> pl.DataFrame:
    return pl.concat([pl.DataFrame({"ticker": t, "date": DAYS[:len(opens[t])], "open": np.array(opens[t], float),
                                    "close": np.array(closes[t], float),
                                    "volume": volume}) for t in opens])


# The shared toy market and universe are built on first use, not at import: polars' thread pool
# started while the tests are imported deadlocks the processes a mutation run forks from that import.
@cache
def toy() -> pl.DataFrame:
    return _bars({"A": [10, 11, 12, 13, 14], "B": [20, 19, 18, 20, 21], "C": [5, 5, 6, 6, 5]},
                 {"A": [10.5, 11.5, 12.5, 13.5, 14.5], "B": [19.5, 18.5, 19, 20.5, 21], "C": [5, 5.5, 6, 5.5, 5]})


@cache
def no_universe() -> pl.DataFrame:
    return universe_of(pl.Series(["A", "B", "C"]), None)[0]


def test_next_open_earns_open_to_open_from_the_session_after_the_signal():
    held = holding_returns(toy(), "next_open", no_universe()).filter(pl.col("ticker") == "A")
    # the signal of day 0 fills at the open of day 1 (11) and is held to the open of day 2 (12)
    np.testing.assert_allclose(held["hold_return"].to_list()[:3], [12 / 11 - 1, 13 / 12 - 1, 14 / 13 - 1])
    assert held["hold_return"].to_list()[3:] == [None, None] and held["fill_price"][0] == 11
    close = holding_returns(toy(), "same_close", no_universe()).filter(pl.col("ticker") == "B")["hold_return"]
    np.testing.assert_allclose(close.to_list()[:2], [18.5 / 19.5 - 1, 19 / 18.5 - 1])
    later = holding_returns(toy(), "next_close", no_universe()).filter(pl.col("ticker") == "C")["hold_return"]
    np.testing.assert_allclose(later.to_list()[:2], [6 / 5.5 - 1, 5.5 / 6 - 1])


def test_a_three_ticker_long_flat_book_filled_at_the_next_open_matches_a_hand_computation():
    prob = {"A": [0.9, 0.9, 0.1], "B": [0.9, 0.1, 0.1], "C": [0.1, 0.1, 0.1]}
    predictions = pl.concat([pl.DataFrame({"ticker": t, "date": DAYS[:3], "prob": p}) for t, p in prob.items()])
    held = holding_returns(toy(), "next_open", no_universe(), window=1)
    frame = tradable_predictions(predictions, held, no_universe(), 0.0, 0.0)
    out = run(frame, [Strategy("long_flat", threshold=0.5)], Costs(0.001))["long_flat"]
    a0, b0 = 12 / 11 - 1, 18 / 19 - 1
    gross0 = (a0 + b0) / 3
    a1 = 13 / 12 - 1
    drifted = np.array([(1 + a0), (1 + b0), 0.0]) / 3 / (1 + gross0)
    turnover1 = abs(1 / 3 - drifted[0]) + drifted[1]
    np.testing.assert_allclose(out["strategy_gross"], [gross0, a1 / 3, 0.0])
    np.testing.assert_allclose(out["turnover"], [2 / 3, turnover1, 1 / 3 * (1 + a1) / (1 + a1 / 3)])
    np.testing.assert_allclose(out["strategy"], out["strategy_gross"] - 0.001 * out["turnover"])


def _edge_market(where: str, days: int = 600, names: int = 40, seed: int = 0) -> pl.DataFrame:
    """A market whose only edge is overnight (close t -> open t+1) or intraday (open -> close): the
    prediction of date t knows the sign of the next overnight (or the next session's) move."""
    rng = np.random.default_rng(seed)
    sessions = [date(2015, 1, 1) + timedelta(i) for i in range(days)]
    frames = []
    for n in range(names):
        night = rng.normal(0, 0.01, days)
        session = rng.normal(0, 0.01, days)
        opens, closes, close = np.empty(days), np.empty(days), 100.0
        for t in range(days):
            opens[t] = close * np.exp(night[t])
            close = opens[t] * np.exp(session[t])
            closes[t] = close
        known = night if where == "overnight" else session
        prob = np.r_[0.5 + 0.4 * np.sign(known[1:]), 0.5]  # the signal of t foresees day t+1's move
        frames.append(pl.DataFrame({"ticker": f"T{n}", "date": sessions, "open": opens, "close": closes,
                                    "volume": 1e6, "prob": prob}))
    return pl.concat(frames)


def _sharpe(market: pl.DataFrame, fill: str) -> float:
    universe = universe_of(market["ticker"], None)[0]
    held = holding_returns(market.drop("prob"), fill, universe)
    frame = tradable_predictions(market.select("ticker", "date", "prob"), held, universe, 0.0, 0.0)
    daily = run(frame, [Strategy("long_short", top_k=10)], Costs(0.0))["long_short"]["strategy"].to_numpy()
    return float(daily.mean() / daily.std() * np.sqrt(252))


def test_an_overnight_edge_shows_at_the_same_close_and_vanishes_at_the_next_open():
    market = _edge_market("overnight")
    assert _sharpe(market, "same_close") > 10
    assert abs(_sharpe(market, "next_open")) < 2.5


def test_an_intraday_edge_is_captured_by_the_next_open_fill():
    market = _edge_market("intraday")
    assert _sharpe(market, "next_open") > 10 and _sharpe(market, "same_close") > 10
    assert abs(_sharpe(market, "next_close")) < 2.5  # filled after the move it foresaw


def _grid(weights_prob: dict[str, list[float]], returns: dict[str, list[float]], **extra) -> pl.DataFrame:
    return pl.concat([pl.DataFrame({"ticker": t, "date": DAYS[:len(p)], "prob": p, "hold_return": returns[t],
                                    **{k: pl.Series(v[t], dtype=pl.Float64) for k, v in extra.items()}})
                      for t, p in weights_prob.items()])


def test_shorts_pay_borrow_at_the_default_rate_or_the_tickers_own():
    frame = _grid({"A": [0.9, 0.9], "B": [0.1, 0.1]}, {"A": [0.0, 0.0], "B": [0.0, 0.0]},
                  borrow_bps={"A": [None, None], "B": [500.0, 500.0]})
    out = run(frame, [Strategy("long_short", top_k=1)], Costs(0.0, borrow_bps_per_year=30.0))["long_short"]
    np.testing.assert_allclose(out["borrow"], [0.5 * 0.05 / 252] * 2)  # half the book short B at 5%/year
    np.testing.assert_allclose(out["strategy"], -out["borrow"])
    plain = _grid({"A": [0.9], "B": [0.1]}, {"A": [0.0], "B": [0.0]})
    out = run(plain, [Strategy("long_short", top_k=1)], Costs(0.0, borrow_bps_per_year=30.0))["long_short"]
    np.testing.assert_allclose(out["borrow"], [0.5 * 0.003 / 252])


def test_the_participation_cap_leaves_the_rest_of_an_order_undone():
    target = np.array([[0.5, 0.5], [0.5, 0.5]])
    returns = np.zeros((2, 2))
    volume = np.array([[1e6, 1e4], [1e6, 1e4]])  # B trades at most 10% of $10k = $1k a day
    book = simulate_capped(target, returns, np.zeros(2), 0.0, volume, Capacity(1e5, 0.1))
    np.testing.assert_allclose(book.weights, [[0.5, 0.01], [0.5, 0.02]])  # $1k of a $100k book per day
    np.testing.assert_allclose(book.turnover, [0.51, 0.01])


def test_a_tiny_book_is_never_capped_and_a_huge_one_loses_its_edge():
    market = _edge_market("intraday", days=300, names=30)
    universe = universe_of(market["ticker"], None)[0]
    frame = tradable_predictions(market.select("ticker", "date", "prob"),
                                 holding_returns(market.drop("prob"), "next_open", universe), universe, 0.0, 0.0)
    result = backtest(frame, [Strategy("long_short", top_k=5)], Costs(0.001))
    strategy = Strategy("long_short", top_k=5)
    small = trade(result.grid, strategy, Costs(0.001), Capacity(1e3, 0.1))
    np.testing.assert_array_equal(small.weights, result.books["long_short"].weights)
    table = capacity_table(result.grid, strategy, Costs(0.001), result.daily["long_short"]["benchmark"].to_numpy(),
                           [1e4, 1e6, 1e8, 1e10], 0.1)
    assert table.height == 4 and table["edge"][0] > 0 and table["edge"][-1] < table["edge"][0] / 2
    half = halving_capital(table)
    assert half is not None and 1e4 < half < 1e10


def test_the_halving_capital_is_interpolated_in_log_capital():
    table = pl.DataFrame({"capital": [1e5, 1e6, 1e7, 1e8], "edge": [0.2, 0.2, 0.0, -0.1]})
    assert halving_capital(table) == pytest.approx(10 ** 6.5)
    assert halving_capital(table.with_columns(edge=pl.lit(-0.1))) is None


def test_a_ticker_trades_only_inside_its_listing_window_and_takes_its_delisting_return(tmp_path):
    path = tmp_path / "universe.csv"
    path.write_text("ticker,listed,delisted,delisting_return\nA,2021-01-05,2021-01-07,-0.5\n")
    universe, missing = universe_of(toy()["ticker"], read_universe_file(path))
    assert missing == ["B", "C"] and universe.filter(pl.col("ticker") == "B")["sector"][0] == "unknown"
    held = holding_returns(toy(), "same_close", universe).filter(pl.col("ticker") == "A")
    assert held["date"].to_list() == DAYS[1:4]
    np.testing.assert_allclose(held["hold_return"].to_list(), [12.5 / 11.5 - 1, 13.5 / 12.5 - 1, -0.5])
    opened = holding_returns(toy(), "next_open", universe).filter(pl.col("ticker") == "A")["hold_return"].to_list()
    np.testing.assert_allclose(opened[:2], [13 / 12 - 1, 13.5 * 0.5 / 13 - 1])  # last open to the delisted value
    assert opened[2] is None


def test_an_illiquid_or_cheap_cell_is_not_tradable():
    held = holding_returns(toy().with_columns(volume=pl.when(pl.col("ticker") == "C").then(1.0).otherwise(1e6)),
                           "same_close", no_universe(), window=2)
    predictions = toy().select("ticker", "date", prob=pl.lit(0.9))
    frame = tradable_predictions(predictions, held, no_universe(), min_price=6.0, min_dollar_volume=1e5)
    ok = frame.filter(pl.col("hold_return").is_not_null())
    assert set(ok["ticker"]) == {"A", "B"} and ok.filter(pl.col("ticker") == "A")["date"].min() == DAYS[1]


def test_a_sector_neutral_book_nets_to_zero_in_every_sector():
    rng = np.random.default_rng(1)
    names = [f"N{i}" for i in range(12)]
    sector = {n: ["tech", "energy", "health"][i % 3] for i, n in enumerate(names)}
    frame = pl.concat([pl.DataFrame({"ticker": n, "date": DAYS, "prob": rng.random(5), "hold_return": 0.0,
                                     "sector": sector[n]}) for n in names])
    grid = to_grid(frame)
    weights = sector_neutral_long_short(grid, top_k=1)
    for name in ("tech", "energy", "health"):
        np.testing.assert_allclose(weights[:, grid.sectors == name].sum(axis=1), 0, atol=1e-15)
    np.testing.assert_allclose(np.abs(weights).sum(axis=1), 1.0)
    assert (np.count_nonzero(weights, axis=1) == 6).all()


def test_the_universe_file_names_an_unknown_column_and_a_bad_date(tmp_path):
    bad = tmp_path / "u.csv"
    bad.write_text("ticker,sectr\nA,tech\n")
    with pytest.raises(StockcastError, match=r"unknown column 'sectr' \(did you mean 'sector'"):
        read_universe_file(bad)
    bad.write_text("ticker,listed\nA,01/02/2020\n")
    with pytest.raises(StockcastError, match=r"listed '01/02/2020' of ticker 'A' is not an ISO date"):
        read_universe_file(bad)
    bad.write_text("ticker\nA\nA\n")
    with pytest.raises(StockcastError, match="'A' is listed twice"):
        read_universe_file(bad)


def test_the_bundled_universe_covers_the_sample():
    from .conftest import ROOT, SAMPLE

    table = read_universe_file(ROOT / "data/sample/universe.csv")
    universe, missing = universe_of(pl.read_parquet(SAMPLE)["ticker"], table)
    assert missing == [] and set(universe["sector"]) >= {"Information Technology", "Index"}
    assert universe["delisted"].null_count() == universe.height  # survivors only: the report says so


@pytest.mark.parametrize("capital", [1e3, 1e5, 3e5, 1e6, 1e7])
def test_the_cap_is_reported_binding_exactly_when_the_capped_book_differs(capital):
    rng = np.random.default_rng(int(capital))
    days, names = 700, 7  # more than one chunk of the drift loop
    target = rng.dirichlet(np.ones(names), days) * (rng.random((days, 1)) < 0.8)
    returns = rng.normal(0.001, 0.02, (days, names))
    volume = rng.uniform(1e5, 1e7, (days, names))
    volume[rng.random((days, names)) < 0.05] = np.nan
    costs = Capacity(capital, 0.1)
    book, capped = simulate(target, returns, np.zeros(names), 128, 0.001, volume, costs)
    exact = simulate_capped(target, returns, np.zeros(names), 0.001, volume, costs)
    assert capped == (not np.allclose(exact.weights, book.weights, rtol=0, atol=1e-12))
    if not capped:
        np.testing.assert_allclose(exact.turnover, book.turnover, atol=1e-12)


def test_params_accept_exactly_the_fills_the_engine_knows():
    from typing import get_args

    from stockcast.backtest.fills import FILLS
    from stockcast.params import BacktestParams

    assert get_args(BacktestParams.model_fields["fill"].annotation) == FILLS


def test_the_capped_book_compounds_equity_caps_both_sides_and_pays_borrow_on_shorts_only():
    """A hand computation of the participation cap over three sessions. B trades at most 10% of $100k a day
    = 0.1 of a $100k book, i.e. 0.1 / equity of the book as equity moves; A is never capped. Borrow is paid
    on the short side only (A's fee would show if longs paid), cost on the traded value."""
    target = np.array([[0.5, -0.5], [0.5, -0.5], [0.5, 0.5]])
    returns = np.array([[0.02, -0.01], [0.0, 0.0], [0.0, 0.0]])
    volume = np.array([[1e7, 1e5]] * 3)
    borrow, cost = np.array([0.0001, 0.0002]), 0.001
    book = simulate_capped(target, returns, borrow, cost, volume, Capacity(1e5, 0.1))
    # session 0: B sells 0.1 of the 0.5 it wants; the book earns 0.5 * 2% + (-0.1) * (-1%)
    gross0, turnover0, fee0 = 0.5 * 0.02 + 0.1 * 0.01, 0.6, 0.1 * 0.0002
    equity1 = 1 + gross0 - cost * turnover0 - fee0
    drifted = np.array([0.5 * 1.02, -0.1 * 0.99]) / (1 + gross0)
    # session 1: A back to 0.5, B sells 0.1 / equity1 more
    b1 = drifted[1] - 0.1 / equity1
    turnover1, fee1 = (drifted[0] - 0.5) + 0.1 / equity1, -b1 * 0.0002
    equity2 = equity1 * (1 - cost * turnover1 - fee1)
    # session 2: B buys 0.1 / equity2 towards +0.5, and is still short
    b2 = b1 + 0.1 / equity2
    assert b2 < 0
    np.testing.assert_allclose(book.weights, [[0.5, -0.1], [0.5, b1], [0.5, b2]], rtol=1e-12)
    np.testing.assert_allclose(book.gross, [gross0, 0, 0], atol=1e-15)
    np.testing.assert_allclose(book.turnover, [turnover0, turnover1, 0.1 / equity2], rtol=1e-12)
    np.testing.assert_allclose(book.borrow, [fee0, fee1, -b2 * 0.0002], rtol=1e-12)


def test_a_capped_book_wiped_out_starts_again_from_nothing():
    """A session that loses the whole book (gross -100%) leaves nothing to drift: the next session's
    book is a fresh trade towards the target, never 0 / 0."""
    target, returns = np.array([[1.0], [1.0]]), np.array([[-1.0], [0.0]])
    book = simulate_capped(target, returns, np.zeros(1), 0.0, np.array([[1e9], [1e9]]), Capacity(1e3, 0.1))
    np.testing.assert_array_equal(book.weights, [[1.0], [1.0]])
    np.testing.assert_array_equal(book.turnover, [1.0, 1.0])


def test_capacity_reaches_every_entry_point_of_the_backtest():
    """run, backtest and backtest_grid all trade under the participation cap they are given."""
    market = _edge_market("intraday", days=120, names=10)
    universe = universe_of(market["ticker"], None)[0]
    frame = tradable_predictions(market.select("ticker", "date", "prob"),
                                 holding_returns(market.drop("prob"), "next_open", universe), universe, 0.0, 0.0)
    strategy, costs, huge = Strategy("long_short", top_k=3), Costs(0.001), Capacity(1e10, 0.01)
    free = backtest(frame, [strategy], costs)
    capped = trade(free.grid, strategy, costs, huge)
    assert not np.allclose(capped.weights, free.books["long_short"].weights)
    for result in (backtest(frame, [strategy], costs, huge), backtest_grid(free.grid, [strategy], costs, huge)):
        np.testing.assert_array_equal(result.books["long_short"].weights, capped.weights)
    assert run(frame, [strategy], costs, huge)["long_short"].equals(backtest(frame, [strategy], costs, huge).daily[
        "long_short"])


def _trades_and_equity(target: np.ndarray, returns: np.ndarray, borrow: np.ndarray, cost: float):
    """The uncapped book written plainly, one session at a time: each cell's trade |w - d| and the
    equity before each session's trades (the module doc of engine.py)."""
    trades, before = np.zeros_like(target), np.ones(len(target))
    drifted, equity = np.zeros(target.shape[1]), 1.0
    for t, (w, r) in enumerate(zip(target, returns)):
        trades[t], before[t] = np.abs(w - drifted), equity
        gross = w @ r
        equity *= 1 + gross - cost * trades[t].sum() - np.maximum(-w, 0) @ borrow
        drifted = w * (1 + r) / (1 + gross)
    return trades, before


@cache
def _long_short_market():
    """12 sessions of a long-short book on three names and a fourth never held (no volume at all)."""
    rng = np.random.default_rng(11)
    target = rng.normal(0, 1, (12, 4)) * [1, 1, 1, 0]
    target /= np.abs(target).sum(axis=1, keepdims=True)
    returns = rng.normal(0.01, 0.03, (12, 4))
    return target, returns, np.array([0.001, 0.002, 0.0005, 0.01])


@pytest.mark.parametrize("cost", [0.0, 0.003])
def test_the_cap_check_compounds_net_equity_across_chunks(cost):
    """Rule: a trade binds the cap when |w[t, i] - d[t, i]| > p * V[t, i] / (capital * equity[t-1]), with
    equity the book's net of costs and borrow (1 before the first session), carried from one chunk of
    the drift loop to the next. Volumes set to exactly each trade's cap do not bind (a 1e-12 slack
    absorbs rounding), nor does a name never traded with no volume; 1e-9 less volume in one cell of
    the last chunk, or on the first day, binds."""
    target, returns, borrow = _long_short_market()
    capacity = Capacity(2e5, 0.05)
    trades, before = _trades_and_equity(target, returns, borrow, cost)
    volume = trades * before[:, None] * capacity.capital / capacity.max_participation
    volume[0] *= 1 + 1e-13  # the first day's check has no rounding slack: p * V / capital is rounded once
    assert volume[:, 3].max() == 0 and before.max() / before.min() > 1.05  # equity moves enough to matter
    check = lambda v: simulate(target, returns, borrow, 4, cost, v, capacity)[1]  # noqa: E731
    assert check(volume) is False
    for t, i in ((10, 1), (0, 2)):
        tight = volume.copy()
        tight[t, i] *= 1 - 1e-9
        assert check(tight) is True, (t, i)
    if cost == 0.0:  # without a cost the check assumes a frictionless book
        free = lambda v: simulate(target, returns, borrow, 4, dollar_volume=v, capacity=capacity)[1]  # noqa: E731
        tight = volume.copy()
        tight[10, 1] *= 1 - 1e-9
        assert free(volume) is False and free(tight) is True


def test_the_first_days_trades_are_checked_against_the_first_days_volume():
    """Rule: the opening trade is the whole first book, |w[0, i]| <= p * V[0, i] / capital: at the cap
    it passes, a hair over it binds (whatever later days hold); a cell of unknown volume is not capped."""
    target = np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0], [0.2, 0.8, 0.0]])
    returns = np.zeros((3, 3))
    capacity = Capacity(1.0, 0.5)  # a trade may take half a cell's volume: cap = V / 2, exactly
    volume = np.array([[1.0, 1.0, 0.0], [10.0, 10.0, 10.0], [10.0, 10.0, 10.0]])
    check = lambda v, w=target: simulate(w, returns, np.zeros(3), 512, 0.0, v, capacity)[1]  # noqa: E731
    assert check(volume) is False
    assert check(volume * [[0.999, 1, 1], [1, 1, 1], [1, 1, 1]]) is True  # only day 0 is over
    assert check(np.where([[True, False, False], [False] * 3, [False] * 3], np.nan, volume)) is False
    unknown = target + [[0, 0, 0.5], [0, 0, 0], [0, 0, 0]]
    assert check(np.where([[False, False, True], [False] * 3, [False] * 3], np.nan, volume), unknown) is False
    one_day = simulate(target[:1], returns[:1], np.zeros(3), 512, 0.0, volume[:1], capacity)
    assert one_day[1] is False


def test_a_cap_that_binds_nowhere_leaves_the_uncapped_book_bit_for_bit():
    """Rule: trade runs the capped simulation only when the cap binds, judged with the book's costs: a
    book whose every trade sits inside its cap once costs are paid (but outside it for the same book
    without costs) is the uncapped book exactly, not a re-simulation of it."""
    target, returns, borrow = _long_short_market()
    capacity, cost = Capacity(2e5, 0.05), 0.003
    trades, net = _trades_and_equity(target, returns, borrow, cost)
    _, free = _trades_and_equity(target, returns, borrow, 0.0)
    assert (free[1:] > net[1:] * (1 + 1e-6)).all()
    volume = trades * np.sqrt(net * free)[:, None] * capacity.capital / capacity.max_participation
    volume[0] = 1e12
    tickers = [f"T{i}" for i in range(4)]
    sessions = pl.Series("date", [DAYS[0] + timedelta(i) for i in range(12)])
    grid = Grid(sessions, pl.Series(tickers), np.full((12, 4), 0.5, np.float32), returns, np.ones((12, 4), bool),
                volume, None, borrow * 252 * 1e4)  # borrow_bps per year: borrow per session once rated
    strategy = Strategy("policy", weights=target)
    book = trade(grid, strategy, Costs(cost, periods_per_year=252), capacity)
    np.testing.assert_array_equal(book.weights, target)
    np.testing.assert_array_equal(book.turnover, trade(grid, strategy, Costs(cost)).turnover)
    exact = simulate_capped(target, returns, borrow, cost, volume, capacity)
    np.testing.assert_allclose(exact.weights, target, atol=1e-12)  # the capped path agrees, up to rounding


def test_holding_returns_do_not_depend_on_the_bars_order():
    """Rule: each ticker's next bars are its next dates whatever order the bars come in; the table is
    sorted by ticker, then date."""
    shuffled = toy().sample(fraction=1.0, shuffle=True, seed=5)
    held = holding_returns(shuffled, "next_open", no_universe())
    assert held.select("ticker", "date").rows() == toy().select("ticker", "date").rows()
    expected = holding_returns(toy(), "next_open", no_universe())
    assert held.equals(expected)
    b = held.filter(pl.col("ticker") == "B")["hold_return"].to_list()
    np.testing.assert_allclose(b[:3], [18 / 19 - 1, 20 / 18 - 1, 21 / 20 - 1])


def test_the_median_dollar_volume_spans_twenty_sessions_by_default():
    """Rule: the liquidity window defaults to 20 sessions: the median of close x volume is known from
    a ticker's 20th bar on (null before), and is the median of the 20 bars ending there."""
    days = [date(2021, 1, 4) + timedelta(i) for i in range(22)]
    close = np.linspace(10, 31, 22)
    volume = np.arange(1, 23) * 1000.0
    bars = pl.DataFrame({"ticker": "A", "date": days, "open": close, "close": close, "volume": volume})
    held = holding_returns(bars, "same_close", universe_of(pl.Series(["A"]), None)[0])
    median = held["median_dollar_volume"].to_list()
    assert median[:19] == [None] * 19
    np.testing.assert_allclose(median[19:], [np.median((close * volume)[t - 19:t + 1]) for t in (19, 20, 21)])


def test_a_ticker_the_universe_table_lacks_trades_whenever_it_has_data():
    """Rule: holding_returns and tradable_predictions keep a ticker the universe rows do not list: it
    has no listing window, sector "unknown" and no own borrow fee; a prediction without a holding
    row stays, with no hold_return."""
    universe = pl.DataFrame({"ticker": ["A"], "listed": [DAYS[1]], "delisted": [None], "delisting_return": [None],
                             "sector": ["tech"], "borrow_bps": [80.0]},
                            schema_overrides={"delisted": pl.Date, "delisting_return": pl.Float64})
    held = holding_returns(toy(), "same_close", universe, window=1)
    assert held.filter(pl.col("ticker") == "C")["date"].to_list() == DAYS  # C is not in the table
    assert held.filter(pl.col("ticker") == "A")["date"].to_list() == DAYS[1:]  # A lists on day 1
    predictions = pl.DataFrame({"ticker": ["A", "C", "C"], "date": [DAYS[1], DAYS[0], date(2022, 1, 3)],
                                "prob": [0.9, 0.8, 0.7]})
    out = tradable_predictions(predictions, held, universe, 0.0, 0.0).sort("ticker", "date")
    assert out.select("ticker", "date", "sector", "borrow_bps").rows() == [
        ("A", DAYS[1], "tech", 80.0), ("C", DAYS[0], "unknown", None), ("C", date(2022, 1, 3), "unknown", None)]
    np.testing.assert_allclose(out["hold_return"].to_list()[:2], [12.5 / 11.5 - 1, 5.5 / 5 - 1])
    assert out["hold_return"][2] is None


def test_a_cell_exactly_at_the_liquidity_minimums_is_tradable():
    """Rule: liquid means close >= min_price and median dollar volume >= min_dollar_volume (both ends
    included): A on day 0 closes at 10.5 on 10.5 x 1e6 of volume."""
    held = holding_returns(toy(), "same_close", no_universe(), window=1)
    predictions = toy().select("ticker", "date", prob=pl.lit(0.9)).filter(pl.col("date") == DAYS[0])
    tradable = lambda **minimums: tradable_predictions(predictions, held, no_universe(), **minimums).filter(  # noqa: E731
        pl.col("hold_return").is_not_null())["ticker"].to_list()
    assert tradable(min_price=0.0, min_dollar_volume=10.5e6) == ["A", "B"]  # C: 5 x 1e6
    assert tradable(min_price=0.0, min_dollar_volume=10.5e6 + 1) == ["B"]
    assert tradable(min_price=10.5, min_dollar_volume=0.0) == ["A", "B"]
    assert tradable(min_price=10.51, min_dollar_volume=0.0) == ["B"]


def test_a_decimal_borrow_fee_column_is_read_as_numbers():
    """Rule: the per-ticker borrow_bps is read as float64 whatever numeric type the predictions carry
    it in (a Decimal column from a database, with nulls for the default rate): the fees match Float64."""
    from decimal import Decimal

    frame = _grid({"A": [0.9, 0.9], "B": [0.1, 0.1], "C": [0.2, 0.2]},
                  {"A": [0.0, 0.0], "B": [0.0, 0.0], "C": [0.0, 0.0]},
                  borrow_bps={"A": [None, None], "B": [500.0, 500.0], "C": [None, None]})
    decimal = frame.with_columns(borrow_bps=pl.Series([None if v is None else Decimal(str(v))
                                                       for v in frame["borrow_bps"]], dtype=pl.Decimal(10, 1)))
    strategy, costs = Strategy("long_short", top_k=1), Costs(0.0, borrow_bps_per_year=30.0)
    got = run(decimal, [strategy], costs)["long_short"]["borrow"]
    np.testing.assert_allclose(got, run(frame, [strategy], costs)["long_short"]["borrow"], rtol=1e-15)
    np.testing.assert_allclose(got, [0.5 * 0.05 / 252] * 2, rtol=1e-12)  # short B, the least likely up
