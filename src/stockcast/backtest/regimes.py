"""Performance per named market regime, and the worst day, week and month of a return series.

A regime is a calendar window from params (backtest.regimes). Its metrics use only the sessions of
the backtest that fall inside it, so a regime the tested data covers partly is reported on the part
covered (`first`, `last` and `days` say which), and a regime it does not reach is left out.
Regimes may overlap (a crash inside a longer period).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import polars as pl

from stockcast.backtest.metrics import annual_return, annual_volatility, max_drawdown, sharpe


@dataclass(frozen=True)
class Regime:
    name: str
    start: date
    end: date


def worst_periods(returns: pl.DataFrame, column: str) -> dict[str, float]:
    """Lowest daily return, and lowest compounded return of a calendar week (Monday to Sunday) and of a
    calendar month, of `column` in `returns` (date, ...). Partial weeks or months at the ends count."""
    r = pl.col(column)
    out = {"worst_day": returns.select(r.min()).item()}
    for name, every in (("worst_week", "1w"), ("worst_month", "1mo")):
        out[name] = (returns.group_by(pl.col("date").dt.truncate(every))
                     .agg(((1 + r).product() - 1).alias("r"))["r"].min())
    return out


def regime_table(returns: pl.DataFrame, regimes: Sequence[Regime], periods_per_year: int = 252,
                 columns: Sequence[str] = ("strategy", "benchmark")) -> pl.DataFrame:
    """One row per regime the data reaches: name, start, end, first, last, days and, for each column
    c, c_total_return, c_annual_return, c_annual_volatility, c_sharpe, c_max_drawdown, c_worst_day,
    c_worst_week, c_worst_month."""
    stats = ("total_return", "annual_return", "annual_volatility", "sharpe", "max_drawdown",
             "worst_day", "worst_week", "worst_month")
    schema = {"regime": pl.String, "start": pl.Date, "end": pl.Date, "first": pl.Date, "last": pl.Date,
              "days": pl.Int64} | {f"{c}_{s}": pl.Float64 for c in columns for s in stats}
    rows = []
    for regime in regimes:
        part = returns.filter(pl.col("date").is_between(regime.start, regime.end))
        if part.height == 0:
            continue
        row = {"regime": regime.name, "start": regime.start, "end": regime.end,
               "first": part["date"].min(), "last": part["date"].max(), "days": part.height}
        for c in columns:
            r = part[c].to_numpy()
            row |= {f"{c}_total_return": float((1 + r).prod() - 1),
                    f"{c}_annual_return": annual_return(r, periods_per_year),
                    f"{c}_annual_volatility": annual_volatility(r, periods_per_year),
                    f"{c}_sharpe": sharpe(r, periods_per_year),
                    f"{c}_max_drawdown": max_drawdown(r)}
            row |= {f"{c}_{k}": v for k, v in worst_periods(part, c).items()}
        rows.append(row)
    return pl.DataFrame(rows, schema=schema)
