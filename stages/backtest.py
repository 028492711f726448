"""Stage backtest: every strategy and sizing policy on the test predictions (the policies calibrated and
the RL agents trained on val), filled at prices a trader could get, net of costs and borrow, against
buy-and-hold; sector contributions, the capacity table and the universe's correlation."""

import polars as pl

from stockcast.backtest.capacity import capacity_table, halving_capital
from stockcast.backtest.correlation import average_correlation, effective_bets
from stockcast.backtest.engine import Capacity, Costs, Strategy, backtest_grid, cost_per_side, sector_contributions
from stockcast.backtest.fills import TRADABLE_FILLS, holding_returns, tradable_predictions
from stockcast.backtest.grid import to_grid
from stockcast.backtest.policies import size
from stockcast.backtest.regimes import Regime, regime_table
from stockcast.backtest.strategies import STRATEGIES
from stockcast.backtest.summary import backtest_metrics, curves, headline
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.errors import StockcastError, exit_on_error
from stockcast.params import load_section
from stockcast.schemas import Returns
from stockcast.tables import read_table, write_csv, write_json, write_table


def main() -> None:
    params = load_section("backtest")
    predictions = read_table("data/predictions/predictions.parquet")
    bars = read_table("data/clean/ohlcv.parquet")
    universe, missing = universe_of(bars["ticker"], read_universe_file(load_section("universe").path))
    if missing:
        print(f"backtest: {len(missing)} tickers not in the universe file, sector 'unknown': {', '.join(missing[:10])}")
    holdings = holding_returns(bars, params.fill, universe, params.liquidity_window)
    test_rows, val_rows = (tradable_predictions(predictions.filter(pl.col("segment") == segment), holdings, universe,
                                                params.min_price, params.min_dollar_volume)
                           for segment in ("test", "val"))
    costs = Costs(cost_per_side(params.cost_bps, params.slippage_bps), params.borrow_bps_per_year,
                  params.periods_per_year)
    grid = to_grid(test_rows)
    sized = size(grid, bars, val_rows, params, costs)
    strategies = [Strategy(name, params.threshold, params.top_k, params.max_swaps, params.neutralize)
                  for name in STRATEGIES] + [Strategy(name, weights=w) for name, w in sized.weights.items()]
    if params.strategy not in sized.weights and params.strategy not in STRATEGIES:
        raise StockcastError(f"backtest.strategy: {params.strategy} was not run: {sized.report['ppo']['why']}")
    result = backtest_grid(grid, strategies, costs, Capacity(params.initial_capital, params.max_participation))
    chosen = result.daily[params.strategy]
    write_table(chosen.select("date", "strategy", "benchmark", "turnover"), "data/backtest/returns.parquet", Returns)
    for name, frame in curves(result.daily, params.strategy, params.initial_capital).items():
        write_csv(frame, f"plots/{name}.csv")
    regimes = [Regime(r.name, r.start, r.end) for r in params.regimes]
    write_csv(regime_table(chosen, regimes, params.periods_per_year), "plots/regimes.csv")
    strategy = next(s for s in strategies if s.name == params.strategy)
    capacity = capacity_table(result.grid, strategy, costs, chosen["benchmark"].to_numpy(), params.capacity_capitals,
                              params.max_participation)
    write_csv(capacity, "plots/capacity.csv")
    sectors = sector_contributions(result.grid, result.books[params.strategy])
    write_csv(sectors, "plots/sector_contribution.csv")
    correlation = pl.DataFrame({"date": grid.dates,
                                "average_correlation": average_correlation(grid, sized.history, params.vol_window)})
    write_csv(correlation, "plots/correlation.csv")
    trials = params.trials + sized.trials
    report = backtest_metrics(result.daily, params.strategy, params.periods_per_year, params.risk_free, trials)
    for name, book in result.books.items():
        report["strategies"][name]["effective_bets"] = effective_bets(book.weights, sized.history, params.vol_window)
    report |= {"fill": params.fill, "tradable_fill": params.fill in TRADABLE_FILLS,
               "capacity": {"halving_capital": halving_capital(capacity), "table": capacity.to_dicts()},
               "sectors": dict(sectors.iter_rows()),
               "delisted_tickers": int(universe["delisted"].is_not_null().sum()), "trials": trials,
               "sizing": sized.report | {
                   "average_correlation": correlation["average_correlation"].fill_nan(None).mean()},
               "tickers_without_universe_row": missing}
    write_json(report, "data/backtest/summary.json")
    write_json(headline(report), "metrics/backtest.json")
    test, bench = report["test"], report["benchmark"]
    print(f"backtest: {params.strategy} filled at {params.fill}: sharpe {test['sharpe']:.2f} "
          f"annual {test['annual_return']:.2%} max dd {test['max_drawdown']:.2%}, excess DSR "
          f"{test['excess_deflated_sharpe']:.2f}; benchmark sharpe {bench['sharpe']:.2f} "
          f"annual {bench['annual_return']:.2%}; edge halves at {report['capacity']['halving_capital']}")
    rl = sized.report["ppo"]
    print(f"backtest: ppo {'not run: ' + rl['why'] if not rl['run'] else 'seed ' + str(rl['chosen_seed'])}"
          + (f" chosen on val, test sharpe of the {len(rl['seeds'])} seeds {rl['test_sharpe_mean']:.2f} "
             f"+- {rl['test_sharpe_std']:.2f}, trained in {rl['train_seconds']:.1f} s" if rl["run"] else ""))


if __name__ == "__main__":
    exit_on_error(main)
