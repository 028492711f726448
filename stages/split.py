"""Stage split: direction labels and a chronological train/val/test split with an embargo."""

from dataclasses import asdict

from stockcast.errors import StockcastError, exit_on_error
from stockcast.labels import direction_labels
from stockcast.params import load_section
from stockcast.schemas import Labels
from stockcast.split import assign_segments, required_embargo
from stockcast.tables import read_json, read_table, write_json, write_table


def main() -> None:
    params = load_section("split")
    lookback = read_json("data/features/manifest.json")["max_lookback"]
    needed = required_embargo(params.horizon, lookback)
    if params.embargo_days < needed:
        raise StockcastError(f"split.embargo_days={params.embargo_days} is below horizon + feature lookback "
                             f"= {params.horizon} + {lookback} = {needed}")
    labels = direction_labels(read_table("data/clean/ohlcv.parquet"), params.horizon)
    labels, bounds = assign_segments(labels, params.train_fraction, params.val_fraction, params.embargo_days)
    write_table(labels, "data/splits/labels.parquet", Labels)
    write_json(asdict(bounds) | {"horizon": params.horizon, "embargo_days": params.embargo_days},
               "data/splits/boundaries.json")
    counts = dict(labels.group_by("segment").len().iter_rows())
    print(f"split: {counts}; val from {bounds.val_start}, test from {bounds.test_start}")


if __name__ == "__main__":
    exit_on_error(main)
