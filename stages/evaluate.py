"""Stage evaluate: predict val and test, score them against naive baselines."""

import sys

import numpy as np
import polars as pl

from stockcast.artifacts import load_model
from stockcast.dataset import Panel, WindowDataset, loader
from stockcast.errors import exit_on_error
from stockcast.evaluate import baseline_accuracy, classification_metrics, majority_class, roc_points
from stockcast.normalize import ZScore
from stockcast.params import load_section
from stockcast.schemas import Predictions
from stockcast.tables import read_table, write_csv, write_json, write_table
from stockcast.train import pick_device, predict_proba


def main() -> None:
    params = load_section("evaluate")
    model, config = load_model(sys.argv[1])
    seq_len = config["params"]["seq_len"]
    panel = Panel.from_tables(read_table("data/features/features.parquet"),
                              read_table("data/splits/labels.parquet"), config["features"])
    x = ZScore.from_dict(config["normalizer"]).transform(panel.x)
    device = pick_device("auto")
    model.to(device)
    parts = []
    for segment in ("val", "test"):
        ends = panel.window_ends(seq_len, segment)
        prob = predict_proba(model, loader(WindowDataset(x, panel.y, ends, seq_len), 4096, False, 0, False), device)
        parts.append(panel.keys[ends].with_columns(prob=pl.Series(prob, dtype=pl.Float32)))
    predictions = pl.concat(parts).drop_nulls("label")
    write_table(predictions, "data/predictions/predictions.parquet", Predictions)

    majority = majority_class(panel.keys.filter(pl.col("segment") == "train")["label"])
    report = {}
    for segment in ("val", "test"):
        rows = predictions.filter(pl.col("segment") == segment)
        y, prob = rows["label"].to_numpy(), rows["prob"].to_numpy().astype(np.float64)
        report[segment] = classification_metrics(y, prob, params.threshold)
        if segment == "test":
            report["baselines"] = baseline_accuracy(y, majority)
            write_csv(roc_points(y, prob), "plots/roc.csv")
    report["train_majority_class"] = majority
    write_json(report, "metrics/evaluate.json")
    print(f"evaluate: test {report['test']}; baselines {report['baselines']}")


if __name__ == "__main__":
    exit_on_error(main)
