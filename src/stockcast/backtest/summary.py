"""The backtest's numbers: the chosen strategy against the benchmark, the others beside it, curves.

Metrics are net of costs unless named `_gross`. `excess_return` compares net with net (qlib's
"excess return with cost"); `excess_return_gross` gross with gross ("without cost"). The headline
that cannot mislead is on the excess return s - b: its probabilistic and deflated Sharpe
(`excess_probabilistic_sharpe`, `excess_deflated_sharpe`; Bailey & Lopez de Prado) beside the
absolute ones, which a long book in a bull market passes without any skill. `trading_cost` and
`borrow_cost` are the annualised drags of commissions plus slippage and of borrow on shorts.
"""

from __future__ import annotations

import polars as pl

from stockcast.backtest.engine import drawdown_curve, equity_curve
from stockcast.backtest.metrics import deflated_sharpe, excess, probabilistic_sharpe, summarize
from stockcast.backtest.regimes import worst_periods


HEADLINE = {
    "test": ("sharpe", "sharpe_gross", "annual_return", "max_drawdown", "deflated_sharpe", "information_ratio",
             "excess_deflated_sharpe", "excess_probabilistic_sharpe", "borrow_cost", "mean_turnover"),
    "benchmark": ("sharpe", "annual_return", "max_drawdown"),
}
"""What metrics/backtest.json keeps of each side (the rest: data/backtest/summary.json)."""


def headline(report: dict) -> dict:
    """metrics/backtest.json: the HEADLINE keys, each strategy's net Sharpe, the number of days and,
    when the stage ran them, the capital at which the edge halves and the trials deflating the Sharpe."""
    capacity = {"halving_capital": report["capacity"]["halving_capital"]} if "capacity" in report else {}
    capacity |= {"trials": report["trials"]} if "trials" in report else {}
    return {**{side: {k: report[side][k] for k in keys if k in report[side]} for side, keys in HEADLINE.items()},
            "strategies": {name: numbers["sharpe"] for name, numbers in report["strategies"].items()},
            "days": report["days"], **capacity}


def backtest_metrics(results: dict[str, pl.DataFrame], chosen: str, periods_per_year: int = 252,
                     risk_free: float = 0.0, trials: int = 1) -> dict[str, dict[str, float] | int]:
    """Every number (data/backtest/summary.json; `headline` picks metrics/backtest.json's): `test` (the
    chosen strategy), `benchmark`, `strategies` (a few numbers of each strategy run) and `days`."""
    daily = results[chosen]
    test = summarize(daily["strategy"].to_numpy(), periods_per_year, risk_free, trials)
    gross = summarize(daily["strategy_gross"].to_numpy(), periods_per_year, risk_free, trials)
    bench = daily["benchmark"].to_numpy()
    gross_excess = excess(daily["strategy_gross"].to_numpy(), daily["benchmark_gross"].to_numpy(), periods_per_year)
    test |= {"annual_return_gross": gross["annual_return"], "sharpe_gross": gross["sharpe"],
             "mean_turnover": float(daily["turnover"].mean()),
             "excess_return_gross": gross_excess["excess_return"]}
    test |= excess(daily["strategy"].to_numpy(), bench, periods_per_year) | worst_periods(daily, "strategy")
    spread = daily["strategy"].to_numpy() - bench
    test |= {"excess_probabilistic_sharpe": probabilistic_sharpe(spread),
             "excess_deflated_sharpe": deflated_sharpe(spread, trials),
             "trading_cost": float(daily["trading_cost"].mean() * periods_per_year),
             "borrow_cost": float(daily["borrow"].mean() * periods_per_year)}
    benchmark = (summarize(bench, periods_per_year, risk_free, trials=1) | worst_periods(daily, "benchmark")
                 | {"mean_turnover": float(daily["benchmark_turnover"].mean())})
    strategies = {}
    for name, frame in results.items():
        numbers = summarize(frame["strategy"].to_numpy(), periods_per_year, risk_free, trials)
        strategies[name] = {k: numbers[k] for k in ("annual_return", "sharpe", "max_drawdown", "deflated_sharpe")}
        strategies[name]["mean_turnover"] = float(frame["turnover"].mean())
    return {"test": test, "benchmark": benchmark, "strategies": strategies, "days": daily.height}


def curves(results: dict[str, pl.DataFrame], chosen: str, initial_capital: float) -> dict[str, pl.DataFrame]:
    """Plot data: equity (value of the chosen strategy net and gross, the benchmark, and every
    strategy by name) and drawdown (chosen strategy and benchmark)."""
    daily = results[chosen]
    wide = daily.select("date", "strategy", "strategy_gross", "benchmark").with_columns(
        **{name: frame["strategy"] for name, frame in results.items()})
    columns = [c for c in wide.columns if c != "date"]
    return {"equity": equity_curve(wide, initial_capital, columns),
            "drawdown": drawdown_curve(daily)}

