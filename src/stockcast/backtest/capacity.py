"""Capacity: how the strategy's net edge shrinks as the book grows and the participation cap binds.

For each starting capital the chosen strategy is traded again under engine.Capacity (no trade above
max_participation of a ticker's median dollar volume). The edge is the net excess annual return over
the benchmark, mean(s - b) * P; the capital at which it halves is interpolated in log capital between
the first two capitals around half the smallest capital's edge (None when the edge is not positive to
begin with or never halves in the range).
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from stockcast.backtest.engine import Capacity, Costs, Strategy, trade
from stockcast.backtest.grid import Grid
from stockcast.backtest.metrics import annual_return, sharpe


def capacity_table(grid: Grid, strategy: Strategy, costs: Costs, benchmark: np.ndarray, capitals: list[float],
                   max_participation: float) -> pl.DataFrame:
    """capital, sharpe, annual_return and edge (net excess annual return) of `strategy` at each capital."""
    rows = []
    for capital in capitals:
        book = trade(grid, strategy, costs, Capacity(capital, max_participation))
        net = book.net(costs.per_side)
        rows.append({"capital": float(capital), "sharpe": sharpe(net, costs.periods_per_year),
                     "annual_return": annual_return(net, costs.periods_per_year),
                     "edge": float(np.mean(net - benchmark) * costs.periods_per_year)})
    return pl.DataFrame(rows)


def halving_capital(table: pl.DataFrame) -> float | None:
    """The capital at which the edge falls to half the smallest capital's (module doc)."""
    capitals, edges = table["capital"].to_list(), table["edge"].to_list()
    if not edges or not edges[0] > 0:
        return None
    half = edges[0] / 2
    for (c0, e0), (c1, e1) in zip(zip(capitals, edges), zip(capitals[1:], edges[1:])):
        if e1 <= half:
            share = (e0 - half) / (e0 - e1) if e0 != e1 else 1.0
            return float(math.exp(math.log(c0) + share * (math.log(c1) - math.log(c0))))
    return None
