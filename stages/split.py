"""Stage split: labels, a chronological train/val/test split with an embargo, walk-forward folds."""

from dataclasses import asdict

import polars as pl

from stockcast.errors import exit_on_error
from stockcast.labels import make_labels, n_classes
from stockcast.params import load_section
from stockcast.schemas import Labels
from stockcast.segments import assign_segments, check_embargo, folds_to_dict, walk_forward_folds
from stockcast.tables import read_json, read_table, write_json, write_table


def main() -> None:
    p = load_section("split")
    check_embargo(p.embargo_days, p.horizon, read_json("data/features/manifest.json")["max_lookback"])
    labels = make_labels(read_table("data/clean/ohlcv.parquet"), p.horizon, p.label, p.dead_zone, p.dead_zone_mode)
    labels, bounds = assign_segments(labels, p.train_fraction, p.val_fraction, p.embargo_days,
                                     p.val_start, p.test_start, p.fraction_of)
    folds = walk_forward_folds(labels["date"], p.folds.scheme, p.folds.step_days, p.folds.min_train_days,
                               p.folds.train_days, p.embargo_days)
    write_table(labels, "data/splits/labels.parquet", Labels)
    write_json(asdict(bounds) | {"horizon": p.horizon, "embargo_days": p.embargo_days, "label": p.label,
                                 "n_classes": n_classes(p.dead_zone_mode)},
               "data/splits/boundaries.json")
    write_json({"scheme": p.folds.scheme, "folds": folds_to_dict(folds)}, "data/splits/folds.json")
    counts = dict(labels.group_by("segment").agg(pl.col("label").count()).iter_rows())
    print(f"split: labelled rows per segment {counts}; val from {bounds.val_start}, test from {bounds.test_start}; "
          f"{len(folds)} walk-forward folds")


if __name__ == "__main__":
    exit_on_error(main)
