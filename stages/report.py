"""Stage report: one offline HTML page with the metrics and plots of this run."""

from pathlib import Path

import polars as pl

from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.report import equity_plot, render, roc_plot
from stockcast.tables import read_json

OUT = Path("reports/index.html")


def main() -> None:
    params = load_section("report")
    images = {"Equity (test segment)": equity_plot(pl.read_csv("plots/equity.csv", try_parse_dates=True)),
              "ROC (test segment)": roc_plot(pl.read_csv("plots/roc.csv"))}
    page = render(params.title, read_json("metrics/evaluate.json"), read_json("metrics/backtest.json"),
                  read_json("metrics/quality.json"), images)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(page)
    print(f"report: {OUT.resolve()}")


if __name__ == "__main__":
    exit_on_error(main)
