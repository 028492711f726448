"""Stage walkforward: retrain per walk-forward fold, trade the stitched out-of-sample predictions."""

import tempfile
from pathlib import Path

import numpy as np
import polars as pl

from stockcast.backtest.engine import Capacity, Costs, Strategy, cost_per_side
from stockcast.backtest.fills import holding_returns, tradable_predictions
from stockcast.backtest.strategies import STRATEGIES
from stockcast.backtest.summary import HEADLINE
from stockcast.backtest.walk_forward import walk_forward
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.dataset import Panel
from stockcast.errors import exit_on_error
from stockcast.evaluation.classification import calls
from stockcast.fitting import fold_predictions
from stockcast.params import load_section
from stockcast.schemas import Predictions
from stockcast.segments import Fold
from stockcast.tables import read_json, read_table, write_csv, write_json, write_table


def main() -> None:
    params = load_section("walkforward")
    train = load_section("train").model_copy(update={"model": params.model})
    backtest = load_section("backtest")
    folds = [Fold(f["fold"], tuple(f["train"]), tuple(f["val"]), tuple(f["test"]))
             for f in read_json("data/splits/folds.json")["folds"]][-params.max_folds:]
    names = [f["name"] for f in read_json("data/features/manifest.json")["features"]]
    n_classes = read_json("data/splits/boundaries.json")["n_classes"]
    panel = Panel.load("data/features/features.parquet", read_table("data/splits/labels.parquet"), names)
    predictions = {}
    with tempfile.TemporaryDirectory(prefix="stockcast-panel-") as spill:
        panel.spill(Path(spill))  # the models are tabular: each fold gathers its rows from the file
        for fold in folds:
            predictions[fold.fold] = fold_predictions(panel, fold, train, Path(f"logs/walkforward/fold_{fold.fold}"),
                                                      n_classes)
            days = predictions[fold.fold]["date"].n_unique()
            print(f"walkforward: fold {fold.fold} test {fold.test[0]}..{fold.test[1]}: {days} days, "
                  f"{predictions[fold.fold].height} predictions")
    bars = read_table("data/clean/ohlcv.parquet")
    universe, _ = universe_of(bars["ticker"], read_universe_file(load_section("universe").path))
    holdings = holding_returns(bars, backtest.fill, universe, backtest.liquidity_window)
    tradable = {n: tradable_predictions(p, holdings, universe, backtest.min_price, backtest.min_dollar_volume)
                for n, p in predictions.items()}
    # a sizing policy calibrates or learns on a val segment, which the folds do not score: they trade
    # the book it sizes (long_short), and the summary names it
    name = backtest.strategy if backtest.strategy in STRATEGIES else "long_short"
    strategy = Strategy(name, backtest.threshold, backtest.top_k, backtest.max_swaps, backtest.neutralize)
    costs = Costs(cost_per_side(backtest.cost_bps, backtest.slippage_bps), backtest.borrow_bps_per_year,
                  backtest.periods_per_year)
    result = walk_forward(tradable, strategy, costs, backtest.trials,
                          Capacity(backtest.initial_capital, backtest.max_participation))
    stitched = pl.concat(list(predictions.values()))
    write_table(stitched, "data/walkforward/predictions.parquet", Predictions)
    accuracy = float(np.mean(calls(stitched, 0.5) == stitched["label"].to_numpy()))
    summary = {"model": params.model, "strategy": name, "folds": len(folds), "accuracy": accuracy,
               "rows": stitched.height,
               "test": result.summary["strategy"], "benchmark": result.summary["benchmark"]}
    write_json(summary, "data/walkforward/summary.json")
    write_json(summary | {side: {k: v for k, v in summary[side].items() if k in keys}
                          for side, keys in HEADLINE.items()}, "metrics/walkforward.json")
    equity = result.returns.select("date", strategy=(1 + pl.col("strategy")).cum_prod() * backtest.initial_capital,
                                   benchmark=(1 + pl.col("benchmark")).cum_prod() * backtest.initial_capital)
    write_csv(equity, "plots/walkforward_equity.csv")
    write_csv(result.folds, "plots/walkforward_folds.csv")
    print(f"walkforward: {len(folds)} folds, accuracy {accuracy:.4f}, sharpe {result.summary['strategy']['sharpe']:.2f} "
          f"(benchmark {result.summary['benchmark']['sharpe']:.2f})")


if __name__ == "__main__":
    exit_on_error(main)
