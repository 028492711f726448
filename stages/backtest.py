"""Stage backtest: every strategy on the test predictions, net of costs, against buy-and-hold."""

import polars as pl

from stockcast.backtest.engine import Strategy, cost_per_side, run
from stockcast.backtest.regimes import Regime, regime_table
from stockcast.backtest.strategies import STRATEGIES
from stockcast.backtest.summary import backtest_metrics, curves, headline
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import Returns
from stockcast.tables import read_table, write_csv, write_json, write_table


def main() -> None:
    params = load_section("backtest")
    predictions = read_table("data/predictions/predictions.parquet").filter(pl.col("segment") == "test")
    strategies = [Strategy(name, params.threshold, params.top_k, params.max_swaps) for name in STRATEGIES]
    cost = cost_per_side(params.cost_bps, params.slippage_bps)
    results = run(predictions.drop_nulls("next_return"), strategies, cost)
    chosen = results[params.strategy]
    write_table(chosen.select("date", "strategy", "benchmark", "turnover"), "data/backtest/returns.parquet", Returns)
    for name, frame in curves(results, params.strategy, params.initial_capital).items():
        write_csv(frame, f"plots/{name}.csv")
    regimes = [Regime(r.name, r.start, r.end) for r in params.regimes]
    write_csv(regime_table(chosen, regimes, params.periods_per_year), "plots/regimes.csv")
    report = backtest_metrics(results, params.strategy, params.periods_per_year, params.risk_free, params.trials)
    write_json(report, "data/backtest/summary.json")
    write_json(headline(report), "metrics/backtest.json")
    test, bench = report["test"], report["benchmark"]
    print(f"backtest: {params.strategy} sharpe {test['sharpe']:.2f} annual {test['annual_return']:.2%} "
          f"max dd {test['max_drawdown']:.2%}; benchmark sharpe {bench['sharpe']:.2f} "
          f"annual {bench['annual_return']:.2%} max dd {bench['max_drawdown']:.2%}")


if __name__ == "__main__":
    exit_on_error(main)
