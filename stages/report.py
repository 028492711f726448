"""Stage report: one offline HTML page with the metrics and plots of this run.

Usage: python stages/report.py models/<model> [EXPERIMENTS_JSON]
EXPERIMENTS_JSON, optional, is the output of `dvc exp show --json`; its commits and experiments are
then compared on the page. The DVC stage runs without it (a stage must not depend on git history):
  dvc exp show --json > exps.json && python stages/report.py models/lstm exps.json
"""

import json
import sys
from pathlib import Path

import polars as pl

from stockcast.artifacts import bundle_dir
from stockcast.card import CARD, CardInputs, card_sections, to_markdown
from stockcast.checksums import config_hash, verified_config
from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.charts import (accuracy_by_year_plot, calibration_plot, capacity_plot, confusion_plot,
                              correlation_plot, drawdown_plot, equity_plot, ic_plot, importance_plot, roc_plot)
from stockcast.report import coverage_rows, experiment_rows, model_rows, monitor_rows, read_importance, render
from stockcast.tables import read_json

OUT = Path("reports/index.html")


def main() -> None:
    params = load_section("report")
    model_dir = bundle_dir(sys.argv[1])
    config = verified_config(model_dir)  # an edited artifact is refused here as in evaluate
    csv = {name: pl.read_csv(f"plots/{name}.csv", try_parse_dates=True)
           for name in ("equity", "drawdown", "regimes", "roc", "calibration", "confusion", "accuracy_by_year", "ic",
                         "capacity", "correlation")}
    images = {"Equity against the benchmark (test segment)": equity_plot(csv["equity"]),
              "Drawdown (test segment)": drawdown_plot(csv["drawdown"]),
              "Capacity: net Sharpe against capital": capacity_plot(csv["capacity"]),
              "Universe: rolling average pairwise correlation (test)": correlation_plot(csv["correlation"]),
              "ROC (test)": roc_plot(csv["roc"]),
              "Calibration (test)": calibration_plot(csv["calibration"]),
              "Confusion (test)": confusion_plot(csv["confusion"]),
              "Accuracy per year (test)": accuracy_by_year_plot(csv["accuracy_by_year"]),
              "Cumulative information coefficient (test)": ic_plot(csv["ic"])}
    for file in sorted(f for f in config["files"] if Path(f).name == "importance.json"):
        path = model_dir / file
        name = f"Feature importance: {path.parent.relative_to(model_dir.parent.parent)}"
        images[name] = importance_plot(read_importance(path))
    walkforward = read_json("data/walkforward/summary.json")
    images[f"Walk-forward equity: {walkforward['model']} retrained on each of {walkforward['folds']} folds"] = \
        equity_plot(pl.read_csv("plots/walkforward_equity.csv", try_parse_dates=True))
    scored = dict(pl.read_csv("plots/accuracy_by_ticker.csv").select("ticker", "n").iter_rows())
    comparisons = {"Coverage: who trained (train windows) and who was scored (test predictions)": coverage_rows(
                       read_json("data/splits/coverage.json"), config.get("windows_by_ticker", {}).get("train", {}),
                       scored),
                   "The trained model (best validation scores)": model_rows(config["model"], config),
                   "Walk-forward (stitched out-of-sample, net of costs)": {
                       "strategy": walkforward["test"], "benchmark": walkforward["benchmark"]},
                   "Walk-forward folds": {f"fold {r['fold']}": r for r in
                                          pl.read_csv("plots/walkforward_folds.csv").to_dicts()}}
    comparisons |= monitor_rows(read_json("metrics/monitor.json"), pl.read_csv("plots/monitor_drift.csv"),
                                pl.read_csv("plots/monitor_importance.csv"))
    if len(sys.argv) > 2:
        comparisons["Experiments (dvc exp show)"] = experiment_rows(json.loads(Path(sys.argv[2]).read_text()))
    scores, backtest, quality = (read_json(f"data/{f}.json") for f in ("predictions/scores", "backtest/summary",
                                                                        "quarantine/report"))
    costs = load_section("backtest")
    card = card_sections(CardInputs(
        config, config_hash(model_dir), quality, read_json("data/features/manifest.json"),
        read_json("data/splits/boundaries.json"), scores, backtest,
        {"strategy": costs.strategy, "cost_bps": costs.cost_bps, "slippage_bps": costs.slippage_bps,
         "borrow_bps_per_year": costs.borrow_bps_per_year, "max_participation": costs.max_participation},
        read_json("data/splits/coverage.json").get("tickers", {})))
    card_path = model_dir.parent / CARD
    card_path.write_text(to_markdown(card, f"Model card: {config['model']} ({params.title})"))
    page = render(params.title, scores, backtest, quality, images, csv["regimes"], comparisons, card)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(page)
    print(f"report: {OUT.resolve()}; model card: {card_path}")


if __name__ == "__main__":
    exit_on_error(main)
