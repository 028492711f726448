"""The backtest and walkforward stages' scripts trade what the library trades by their params and write what it
returns to the outs dvc.yaml names (the folders they run in: tests/model_chain.py). In the model stages' shard of
benchmarks/mutation.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stockcast.backtest.capacity import capacity_table, halving_capital
from stockcast.backtest.engine import Capacity, Costs, Strategy, backtest_grid, cost_per_side, sector_contributions
from stockcast.backtest.fills import holding_returns, tradable_predictions
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.history import close_returns
from stockcast.backtest.policies import Sized, size
from stockcast.backtest.regimes import Regime, regime_table
from stockcast.backtest.strategies import STRATEGIES
from stockcast.backtest.correlation import average_correlation, effective_bets
from stockcast.backtest.metrics import summarize
from stockcast.backtest.summary import HEADLINE, backtest_metrics, curves
from stockcast.backtest.summary import headline as backtest_headline
from stockcast.backtest.walk_forward import walk_forward
from stockcast.errors import StockcastError
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.evaluation.classification import calls, has_flat_class
from stockcast.fitting import fold_predictions
from stockcast.params import load_section
from stockcast.segments import Fold

from .model_chain import CAPITALS, charted, copy_before, inside, panel_of, read_json, same
from .stages import run_stage, set_params, stage


def _backtest_inputs(folder: Path):
    """What the backtest stage should read in `folder`, by CHANGES' values: its params, the clean bars, the test
    and val tradable rows (next_close fills, a 10-session liquidity window, $1,000 minimum), its costs, and the
    tickers without a universe row."""
    with inside(folder):
        p, table = load_section("backtest"), read_universe_file(load_section("universe").path)
    bars = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    scored = pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet")
    universe, missing = universe_of(bars["ticker"], table)
    holdings = holding_returns(bars, "next_close", universe, 10)
    test, val = (tradable_predictions(scored.filter(pl.col("segment") == s), holdings, universe, 0.0, 1000.0)
                 for s in ("test", "val"))
    return p, bars, test, val, Costs(cost_per_side(7, 3), 40.0, 250), missing


def _same_grid(a: Grid, b: Grid) -> bool:
    arrays = ("prob", "returns", "tradable", "dollar_volume", "sectors", "borrow_bps")
    return a.dates.equals(b.dates) and a.tickers.equals(b.tickers) and all(
        (getattr(a, f) is None and getattr(b, f) is None)
        or np.array_equal(getattr(a, f), getattr(b, f), equal_nan=getattr(a, f).dtype.kind == "f") for f in arrays)


def test_the_backtest_stage_hands_the_library_its_params_and_writes_what_it_returns(chain, tmp_path, monkeypatch,
                                                                                     capsys):
    """The stage's wiring, quickly: the sizing policies (their solves), effective bets and the capacity table
    (their re-runs) are stand-ins that record what they are handed and return values of their own, and the
    engine's real run is recorded. Each call gets what backtest's params say, and every out is what they returned.
    The next test runs the whole stage for real."""
    folder = copy_before(chain, "backtest", tmp_path)
    module, seen = stage("backtest"), {}

    def sized(grid, bars, val, params, costs):
        seen["size"] = (grid, bars, val, params, costs)
        weights = {name: np.where(grid.tradable, share, 0.0)
                   for name, share in (("vol_target", 0.2), ("kelly", -0.1), ("mean_variance", 0.05))}
        seen["sized"] = Sized(weights, close_returns(bars, grid, 20), 2,
                              {"calibration": "stand-in", "ppo": {"run": False, "why": "a stand-in"}})
        return seen["sized"]

    def bets(weights, history, window):
        seen.setdefault("effective_bets", []).append((weights, history, window))
        return 1.0 + len(seen["effective_bets"])

    table = pl.DataFrame({"capital": CAPITALS, "sharpe": [1.5, 1.0, 0.5, -0.5], "annual_return": [0.2, 0.1, 0.05, -0.1],
                          "edge": [0.08, 0.06, 0.03, -0.02]})

    def capacity(grid, strategy, costs, benchmark, capitals, max_participation):
        seen["capacity_table"] = (grid, strategy, costs, benchmark, capitals, max_participation)
        return table

    def engine(grid, strategies, costs, capacity):
        seen["backtest_grid"] = (grid, strategies, costs, capacity)
        seen["result"] = backtest_grid(grid, strategies, costs, capacity)
        return seen["result"]

    for name, replacement in (("size", sized), ("effective_bets", bets), ("capacity_table", capacity),
                              ("backtest_grid", engine)):
        monkeypatch.setattr(module, name, replacement)
    run_stage(folder, "backtest", module=module)
    said = capsys.readouterr().out
    p, bars, test, val, costs, missing = _backtest_inputs(folder)
    grid, bars_given, val_given, params_given, costs_given = seen["size"]
    assert _same_grid(grid, to_grid(test)) and bars_given.equals(bars) and val_given.equals(val)
    assert (params_given, costs_given) == (p, costs) and p.max_swaps != Strategy("x").max_swaps
    weights = seen["sized"].weights
    strategies = [Strategy(name, 0.51, 1, p.max_swaps, "sector") for name in STRATEGIES] + [
        Strategy(name, weights=w) for name, w in weights.items()]
    result = seen["result"]
    engine_grid, *engine_rest = seen["backtest_grid"]
    assert engine_grid is grid and tuple(engine_rest) == (strategies, costs, Capacity(50000, 0.0001))
    assert [s.weights for s in seen["backtest_grid"][1]][len(STRATEGIES):] == list(weights.values())
    chosen = result.daily["long_short"]
    assert pl.read_parquet(folder / "data" / "backtest" / "returns.parquet").equals(
        chosen.select("date", "strategy", "benchmark", "turnover"))
    for name, frame in curves(result.daily, "long_short", 50000).items():
        assert same(pl.read_csv(folder / "plots" / f"{name}.csv").drop("date"), frame.drop("date")), name
    regimes = regime_table(chosen, [Regime(r.name, r.start, r.end) for r in p.regimes], 250)
    assert same(pl.read_csv(folder / "plots" / "regimes.csv"), regimes) and regimes.height == 2
    given = seen["capacity_table"]
    assert given[0] is result.grid and given[1] == strategies[STRATEGIES.index("long_short")] and given[2] == costs
    assert np.array_equal(given[3], chosen["benchmark"].to_numpy()) and given[4:] == (CAPITALS, 0.0001)
    assert same(pl.read_csv(folder / "plots" / "capacity.csv"), table)
    sectors = sector_contributions(result.grid, result.books["long_short"])
    assert same(pl.read_csv(folder / "plots" / "sector_contribution.csv"), sectors)
    correlation = pl.read_csv(folder / "plots" / "correlation.csv", try_parse_dates=True)
    assert correlation["date"].equals(grid.dates.alias("date"))
    expected_correlation = average_correlation(grid, seen["sized"].history, 20)
    assert np.allclose(correlation["average_correlation"].to_numpy(), expected_correlation, equal_nan=True)
    assert len(seen["effective_bets"]) == len(result.books) == len(strategies) and all(
        w is result.books[n].weights and h is seen["sized"].history and window == 20
        for n, (w, h, window) in zip(result.books, seen["effective_bets"]))
    report = backtest_metrics(result.daily, "long_short", 250, 0.0001, 4 + 2)
    for i, name in enumerate(result.books):
        report["strategies"][name]["effective_bets"] = 2.0 + i
    report |= {"fill": "next_close", "tradable_fill": True,
               "capacity": {"halving_capital": halving_capital(table), "table": table.to_dicts()},
               "sectors": dict(sectors.iter_rows()), "delisted_tickers": 0, "trials": 6,
               "sizing": {"calibration": "stand-in", "ppo": {"run": False, "why": "a stand-in"},
                          "average_correlation": pl.Series(expected_correlation).fill_nan(None).mean()},
               "tickers_without_universe_row": ["S0005"]}
    summary = read_json(folder, "data/backtest/summary.json")
    assert json.dumps(summary, sort_keys=True) == json.dumps(json.loads(json.dumps(report)), sort_keys=True)
    assert halving_capital(table) is not None and missing == ["S0005"]
    assert read_json(folder, "metrics/backtest.json") == backtest_headline(summary)
    assert "backtest: 1 tickers not in the universe file, sector 'unknown': S0005\n" in said
    assert "backtest: ppo not run: a stand-in\n" in said


def test_the_backtest_stage_trades_the_test_predictions_by_its_params(chain, tmp_path, capsys):
    folder = copy_before(chain, "backtest", tmp_path)
    run_stage(folder, "backtest")
    charted(folder, "backtest")
    said = capsys.readouterr().out
    p, bars, test, val, costs, missing = _backtest_inputs(folder)
    grid = to_grid(test)
    sized = size(grid, bars, val, p, costs)
    strategies = [Strategy(name, 0.51, 1, p.max_swaps, "sector") for name in STRATEGIES] + [
        Strategy(name, weights=w) for name, w in sized.weights.items()]
    result = backtest_grid(grid, strategies, costs, Capacity(50000, 0.0001))
    chosen = result.daily["long_short"]
    assert pl.read_parquet(folder / "data" / "backtest" / "returns.parquet").equals(
        chosen.select("date", "strategy", "benchmark", "turnover"))
    summary = read_json(folder, "data/backtest/summary.json")
    expected = json.loads(json.dumps(backtest_metrics(result.daily, "long_short", 250, 0.0001, 4 + sized.trials)))
    assert {k: v for k, v in summary["strategies"]["kelly"].items() if k != "effective_bets"} == pytest.approx(
        expected["strategies"]["kelly"], nan_ok=True)
    assert (summary["test"], summary["benchmark"]) == (pytest.approx(expected["test"], nan_ok=True),
                                                       pytest.approx(expected["benchmark"], nan_ok=True))
    assert set(summary["strategies"]) == set(STRATEGIES) | set(sized.weights) and len(sized.weights) >= 3
    assert (summary["fill"], summary["tradable_fill"], summary["trials"]) == ("next_close", True, 4 + sized.trials)
    assert summary["tickers_without_universe_row"] == missing == ["S0005"] and summary["delisted_tickers"] == 0
    assert summary["sectors"] == pytest.approx(dict(sector_contributions(result.grid, result.books["long_short"])
                                                    .iter_rows()))
    assert {"Energy", "Utilities", "Financials", "unknown"} <= set(summary["sectors"])
    capacity = capacity_table(result.grid, strategies[STRATEGIES.index("long_short")], costs,
                              chosen["benchmark"].to_numpy(), CAPITALS, 0.0001)
    assert pl.read_csv(folder / "plots" / "capacity.csv")["capital"].to_list() == CAPITALS
    assert same(pl.DataFrame(summary["capacity"]["table"]).select(capacity.columns), capacity)
    regimes = regime_table(chosen, [Regime(r.name, r.start, r.end) for r in p.regimes], 250)
    assert same(pl.read_csv(folder / "plots" / "regimes.csv"), regimes)
    assert regimes["regime"].to_list() == ["early", "late"]
    for name, frame in curves(result.daily, "long_short", 50000).items():
        assert same(pl.read_csv(folder / "plots" / f"{name}.csv").drop("date"), frame.drop("date")), name
    correlation = pl.read_csv(folder / "plots" / "correlation.csv")
    assert np.allclose(correlation["average_correlation"].to_numpy(), average_correlation(grid, sized.history, 20),
                       equal_nan=True) and correlation.height == len(grid.dates)
    assert summary["sizing"]["average_correlation"] == pytest.approx(correlation["average_correlation"].mean())
    assert summary["strategies"]["mean_variance"]["effective_bets"] == pytest.approx(
        effective_bets(result.books["mean_variance"].weights, sized.history, 20))
    assert read_json(folder, "metrics/backtest.json") == backtest_headline(summary)
    assert "backtest: 1 tickers not in the universe file, sector 'unknown': S0005\n" in said
    assert f"backtest: long_short filled at next_close: sharpe {summary['test']['sharpe']:.2f}" in said
    assert "backtest: ppo not run: " in said


def test_the_backtest_stages_ppo_agents_each_add_a_trial_to_the_deflated_sharpe(chain, tmp_path):
    """Choosing the best of n agents on val is n more experiments: backtest.trials + n deflates the Sharpe."""
    folder = copy_before(chain, "backtest", tmp_path)
    set_params(folder, {"backtest": {"ppo": {"seeds": [3, 4], "timesteps": 64, "n_steps": 32, "episode_days": 10}}})
    run_stage(folder, "backtest")
    summary = read_json(folder, "data/backtest/summary.json")
    strategy = pl.read_parquet(folder / "data" / "backtest" / "returns.parquet")["strategy"].to_numpy()
    assert summary["trials"] == 4 + 2 and "ppo" in summary["strategies"]
    assert summary["test"]["deflated_sharpe"] == pytest.approx(summarize(strategy, 250, 0.0001, 6)["deflated_sharpe"])
    assert summarize(strategy, 250, 0.0001, 6)["deflated_sharpe"] != pytest.approx(
        summarize(strategy, 250, 0.0001, 2)["deflated_sharpe"])


def test_the_backtest_stage_refuses_a_chosen_policy_that_did_not_run(chain, tmp_path):
    """ppo learns on val: with test predictions alone (a model refit on train+val) it cannot run."""
    folder = copy_before(chain, "backtest", tmp_path)
    path = folder / "data" / "predictions" / "predictions.parquet"
    pl.read_parquet(path).filter(pl.col("segment") == "test").write_parquet(path)
    set_params(folder, {"backtest": {"strategy": "ppo", "ppo": {"seeds": [0]}}})
    with pytest.raises(StockcastError, match=r"^backtest.strategy: ppo was not run: no val predictions"):
        run_stage(folder, "backtest")


@pytest.mark.parametrize("strategy, traded", [("long_flat", "long_flat"), ("kelly", "long_short"),
                                               ("topk_dropout", "topk_dropout")])
def test_the_walkforward_stage_retrains_on_the_last_folds_and_trades_them(chain, tmp_path, capsys, strategy, traded):
    """walkforward.model on the last walkforward.max_folds folds, traded by backtest's rules (topk_dropout with
    its max_swaps); a sizing policy (calibrated on val, which the folds lack) trades the book it sizes,
    long_short."""
    folder = copy_before(chain, "walkforward", tmp_path)
    set_params(folder, {"backtest": {"strategy": strategy, "max_swaps": 2}})
    run_stage(folder, "walkforward")
    charted(folder, "walkforward")
    said = capsys.readouterr().out
    with inside(folder):
        train, bt = load_section("train").model_copy(update={"model": "logreg"}), load_section("backtest")
        table = read_universe_file(load_section("universe").path)
    every = [Fold(f["fold"], tuple(f["train"]), tuple(f["val"]), tuple(f["test"]))
             for f in read_json(folder, "data/splits/folds.json")["folds"]]
    assert len(every) > 3
    names = [f["name"] for f in read_json(folder, "data/features/manifest.json")["features"]]
    panel = panel_of(folder, names)
    folds = {fold.fold: fold_predictions(panel, fold, train, tmp_path / "logs", 2) for fold in every[-3:]}
    stitched = pl.concat(list(folds.values()))
    assert pl.read_parquet(folder / "data" / "walkforward" / "predictions.parquet").equals(stitched)
    bars = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    universe, _ = universe_of(bars["ticker"], table)
    holdings = holding_returns(bars, "next_close", universe, 10)
    tradable = {n: tradable_predictions(f, holdings, universe, 0.0, 1000.0) for n, f in folds.items()}
    result = walk_forward(tradable, Strategy(traded, 0.51, 1, bt.max_swaps, "sector"),
                          Costs(cost_per_side(7, 3), 40.0, 250), 4, Capacity(50000, 0.0001))
    summary = read_json(folder, "data/walkforward/summary.json")
    accuracy = float(np.mean(calls(stitched, 0.5) == stitched["label"].to_numpy()))
    assert {k: summary[k] for k in ("model", "strategy", "folds", "rows")} == {
        "model": "logreg", "strategy": traded, "folds": 3, "rows": stitched.height}
    assert summary["accuracy"] == pytest.approx(accuracy) and accuracy != 0.5  # 0.5: right and wrong alike
    assert (summary["test"], summary["benchmark"]) == (pytest.approx(result.summary["strategy"], nan_ok=True),
                                                       pytest.approx(result.summary["benchmark"], nan_ok=True))
    headline = read_json(folder, "metrics/walkforward.json")
    assert headline == summary | {side: {k: v for k, v in summary[side].items() if k in keys}
                                  for side, keys in HEADLINE.items()}
    assert set(headline["test"]) < set(summary["test"])
    equity = pl.read_csv(folder / "plots" / "walkforward_equity.csv", try_parse_dates=True)
    assert equity.columns == ["date", "strategy", "benchmark"] and equity["date"].equals(result.returns["date"])
    assert np.allclose(equity["strategy"].to_numpy(), (1 + result.returns["strategy"]).cum_prod().to_numpy() * 50000)
    assert np.allclose(equity["benchmark"].to_numpy(),
                       (1 + result.returns["benchmark"]).cum_prod().to_numpy() * 50000)
    assert same(pl.read_csv(folder / "plots" / "walkforward_folds.csv"), result.folds)
    assert f"walkforward: 3 folds, accuracy {accuracy:.4f}, sharpe" in said
    assert said.count("walkforward: fold ") == 3 and all(
        f"test {fold.test[0]}..{fold.test[1]}: {folds[fold.fold]['date'].n_unique()} days, "
        f"{folds[fold.fold].height} predictions" in said for fold in every[-3:])
    assert sorted(p.name for p in (folder / "logs" / "walkforward").iterdir()) == [
        f"fold_{fold.fold}" for fold in every[-3:]]


def test_the_walkforward_stage_fits_three_classes_when_the_split_labels_flat_moves(chain, tmp_path):
    """split.dead_zone_mode flat: a third class, which each fold's model learns (boundaries.json says 3)."""
    folder = copy_before(chain, "walkforward", tmp_path)
    set_params(folder, {"split": {"dead_zone": 0.004, "dead_zone_mode": "flat"}, "walkforward": {"max_folds": 1}})
    run_stage(folder, "split")
    assert read_json(folder, "data/splits/boundaries.json")["n_classes"] == 3
    run_stage(folder, "walkforward")
    with inside(folder):
        train = load_section("train").model_copy(update={"model": "logreg"})
    last = read_json(folder, "data/splits/folds.json")["folds"][-1]
    fold = Fold(last["fold"], tuple(last["train"]), tuple(last["val"]), tuple(last["test"]))
    names = [f["name"] for f in read_json(folder, "data/features/manifest.json")["features"]]
    expected = fold_predictions(panel_of(folder, names), fold, train, tmp_path / "logs", 3)
    assert has_flat_class(expected) and 2 in expected["label"].to_list()
    assert pl.read_parquet(folder / "data" / "walkforward" / "predictions.parquet").equals(expected)
