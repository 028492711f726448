"""Stage predict: tomorrow's signals, each ticker's latest window through the trained model.

Usage: python stages/predict.py models/<model>
Every ticker the quality stage saw gets a row in data/signals/latest.parquet (and .csv): scored, or
listed with the reason it cannot be (too short a history, a NaN in its window, every bar quarantined).
The call uses evaluate.threshold, the rule the test scores were judged by.
"""

import sys

import polars as pl

from stockcast.errors import exit_on_error
from stockcast.params import load_section
from stockcast.predict import Scorer, unscorable
from stockcast.schemas import Signals
from stockcast.tables import write_json, write_table

FEATURES = "data/features/features.parquet"
QUARANTINE = "data/quarantine/ohlcv.parquet"


def main() -> None:
    scorer = Scorer.load(sys.argv[1], load_section("evaluate").threshold)
    signals = scorer.signals(pl.scan_parquet(FEATURES))
    rejected = (pl.scan_parquet(QUARANTINE).filter(~pl.col("ticker").is_in(signals["ticker"].implode()))
                .group_by("ticker").agg(reason=pl.format("every bar quarantined by quality ({})",
                                                         pl.col("rule").unique().sort().str.join(", ")))
                .collect())
    table = pl.concat([signals, unscorable(rejected, scorer)], how="vertical_relaxed").sort("ticker")
    write_table(table, "data/signals/latest.parquet", Signals)
    table.write_csv("data/signals/latest.csv")
    scored = table.filter(pl.col("reason").is_null())
    summary = {"as_of": str(scored["as_of"].max()), "tickers": table.height, "scored": scored.height,
               "unscored": table.height - scored.height, "stale": int(scored["stale"].sum()),
               **{f"calls_{call}": int((scored["call"] == call).sum()) for call in sorted(scored["call"].unique())}}
    write_json(summary, "metrics/predict.json")
    print(f"predict: {scorer.name} {scorer.hash[:12]} -> data/signals/latest.parquet: {summary}")
    for ticker, reason in table.filter(pl.col("reason").is_not_null()).select("ticker", "reason").iter_rows():
        print(f"predict: {ticker} not scored: {reason}")


if __name__ == "__main__":
    exit_on_error(main)
