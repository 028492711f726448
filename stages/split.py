"""Stage split: labels, a chronological train/val/test split with an embargo, coverage, walk-forward folds."""

from dataclasses import asdict

import polars as pl

from stockcast import coverage
from stockcast.errors import StockcastError, exit_on_error
from stockcast.labels import make_labels, n_classes
from stockcast.params import load_section
from stockcast.schemas import Labels
from stockcast.segments import assign_segments, check_embargo, folds_to_dict, walk_forward_folds
from stockcast.tables import read_json, read_table, write_json, write_table

CLEAN = "data/clean/ohlcv.parquet"


def main() -> None:
    p = load_section("split")
    check_embargo(p.embargo_days, p.horizon, read_json("data/features/manifest.json")["max_lookback"])
    bars = read_table(CLEAN)
    if bars.is_empty():
        raise StockcastError(f"split: {CLEAN} has no rows: quality kept none (data/quarantine/report.json says "
                             "why) or the source is empty; add tickers with at least quality.min_history_days sessions")
    labels = make_labels(bars, p.horizon, p.label, p.dead_zone, p.dead_zone_mode)
    labels, bounds = assign_segments(labels, p.train_fraction, p.val_fraction, p.embargo_days,
                                     p.val_start, p.test_start, p.fraction_of)
    usable = coverage.usable_rows(pl.scan_parquet("data/features/features.parquet"))
    labels, report = coverage.enforce(labels, usable, p.min_rows_per_segment)
    folds = walk_forward_folds(labels["date"], p.folds.scheme, p.folds.step_days, p.folds.min_train_days,
                               p.folds.train_days, p.embargo_days)
    write_table(labels, "data/splits/labels.parquet", Labels)
    write_json(asdict(bounds) | {"horizon": p.horizon, "embargo_days": p.embargo_days, "label": p.label,
                                 "n_classes": n_classes(p.dead_zone_mode)},
               "data/splits/boundaries.json")
    write_json({"scheme": p.folds.scheme, "folds": folds_to_dict(folds)}, "data/splits/folds.json")
    write_json(report, "data/splits/coverage.json")
    for line in coverage.findings(report):
        print(f"split: {line}")
    counts = dict(labels.group_by("segment").agg(pl.col("label").count()).iter_rows())
    tickers = {s: len(t) for s, t in report["tickers"].items()}
    print(f"split: labelled rows per segment {counts}, tickers {tickers}; val from {bounds.val_start}, "
          f"test from {bounds.test_start}; {len(folds)} walk-forward folds")


if __name__ == "__main__":
    exit_on_error(main)
