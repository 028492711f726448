"""Stage backtest: long/flat on the test predictions, net of costs, against buy-and-hold."""

import polars as pl

from stockcast.backtest.engine import equity_curve, long_flat
from stockcast.backtest.metrics import summarize
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.schemas import Returns
from stockcast.tables import read_table, write_csv, write_json, write_table


def main() -> None:
    params = load_section("backtest")
    predictions = read_table("data/predictions/predictions.parquet").filter(pl.col("segment") == "test")
    returns = long_flat(predictions.drop_nulls("next_return"), params.threshold, params.cost_bps, params.slippage_bps)
    write_table(returns, "data/backtest/returns.parquet", Returns)
    write_csv(equity_curve(returns, params.initial_capital), "plots/equity.csv")
    report = {
        "test": summarize(returns["strategy"].to_numpy(), params.periods_per_year)
        | {"mean_turnover": float(returns["turnover"].mean())},
        "benchmark": summarize(returns["benchmark"].to_numpy(), params.periods_per_year),
        "days": returns.height,
    }
    write_json(report, "metrics/backtest.json")
    print(f"backtest: strategy {report['test']}; benchmark {report['benchmark']}")


if __name__ == "__main__":
    exit_on_error(main)
