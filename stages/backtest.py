"""Stage backtest: every strategy on the test predictions, filled at prices a trader could get, net of
costs and borrow, against buy-and-hold; sector contributions and the capacity table."""

import polars as pl

from stockcast.backtest.capacity import capacity_table, halving_capital
from stockcast.backtest.engine import Capacity, Costs, Strategy, backtest, cost_per_side, sector_contributions
from stockcast.backtest.fills import TRADABLE_FILLS, holding_returns, tradable_predictions
from stockcast.backtest.regimes import Regime, regime_table
from stockcast.backtest.strategies import STRATEGIES
from stockcast.backtest.summary import backtest_metrics, curves, headline
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import Returns
from stockcast.tables import read_table, write_csv, write_json, write_table


def main() -> None:
    params = load_section("backtest")
    predictions = read_table("data/predictions/predictions.parquet").filter(pl.col("segment") == "test")
    bars = read_table("data/clean/ohlcv.parquet")
    universe, missing = universe_of(bars["ticker"], read_universe_file(load_section("universe").path))
    if missing:
        print(f"backtest: {len(missing)} tickers not in the universe file, sector 'unknown': {', '.join(missing[:10])}")
    holdings = holding_returns(bars, params.fill, universe, params.liquidity_window)
    tradable = tradable_predictions(predictions, holdings, universe, params.min_price, params.min_dollar_volume)
    strategies = [Strategy(name, params.threshold, params.top_k, params.max_swaps, params.neutralize)
                  for name in STRATEGIES]
    costs = Costs(cost_per_side(params.cost_bps, params.slippage_bps), params.borrow_bps_per_year,
                  params.periods_per_year)
    result = backtest(tradable, strategies, costs, Capacity(params.initial_capital, params.max_participation))
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
    report = backtest_metrics(result.daily, params.strategy, params.periods_per_year, params.risk_free, params.trials)
    report |= {"fill": params.fill, "tradable_fill": params.fill in TRADABLE_FILLS,
               "capacity": {"halving_capital": halving_capital(capacity), "table": capacity.to_dicts()},
               "sectors": dict(sectors.iter_rows()),
               "delisted_tickers": int(universe["delisted"].is_not_null().sum()),
               "tickers_without_universe_row": missing}
    write_json(report, "data/backtest/summary.json")
    write_json(headline(report), "metrics/backtest.json")
    test, bench = report["test"], report["benchmark"]
    print(f"backtest: {params.strategy} filled at {params.fill}: sharpe {test['sharpe']:.2f} "
          f"annual {test['annual_return']:.2%} max dd {test['max_drawdown']:.2%}, excess DSR "
          f"{test['excess_deflated_sharpe']:.2f}; benchmark sharpe {bench['sharpe']:.2f} "
          f"annual {bench['annual_return']:.2%}; edge halves at {report['capacity']['halving_capital']}")


if __name__ == "__main__":
    exit_on_error(main)
