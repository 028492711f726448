"""Stage evaluate: predict val and test, score them against naive baselines; an exported model's ONNX
float and int8 files are scored on the same windows beside torch."""

import sys
import tempfile

from pathlib import Path

import polars as pl

from stockcast.artifacts import bundle_dir, load_model
from stockcast.dataset import Panel
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.errors import exit_on_error
from stockcast.evaluation.scorecard import evaluate, headline, selection_scores
from stockcast.evaluation.classification import majority_class
from stockcast.evaluation.exported import variant_scores
from stockcast.export import onnx_variants
from stockcast.normalize import normalizer_from_dict
from stockcast.params import load_section
from stockcast.schemas import Predictions
from stockcast.scoring import predictions
from stockcast.tables import read_table, write_csv, write_json, write_table


def main() -> None:
    params = load_section("evaluate")
    bundle = bundle_dir(sys.argv[1])
    model, config = load_model(bundle)
    seq_len = config["params"]["seq_len"]
    labels = read_table("data/splits/labels.parquet")
    panel = Panel.load("data/features/features.parquet", labels, config["features"])
    refit = config.get("refit", {}).get("mode") == "train_val"  # refit on train+val: val is in-sample
    segments = ("test",) if refit else ("val", "test")
    normalizer = normalizer_from_dict(config["normalizer"])
    with tempfile.TemporaryDirectory(prefix="stockcast-panel-") as spill:
        if not model.reads_sequences:  # a tabular model gathers its rows: the panel waits on disk (rowfile.py)
            panel.spill(Path(spill))
        scored = predictions(model, panel, normalizer, seq_len, segments)
        exported = {name: predictions(variant, panel, normalizer, seq_len, segments)
                    for name, variant in onnx_variants(model, bundle, config).items()}
    write_table(scored, "data/predictions/predictions.parquet", Predictions)

    fitted_on = ["train", "val"] if refit else ["train"]
    majority = majority_class(panel.keys.filter(pl.col("segment").is_in(fitted_on))["label"])
    universe, _ = universe_of(scored["ticker"], read_universe_file(load_section("universe").path))
    result = evaluate(scored.join(universe.select("ticker", "sector"), on="ticker", how="left"), labels, majority,
                      params.threshold, params.top_k, segments)
    result.metrics["selection"] = selection_scores(config)
    if exported:
        result.metrics["export"] = variant_scores({"torch": scored, **exported}, segments, params.threshold)
    for name, frame in result.plots.items():
        write_csv(frame, f"plots/{name}.csv")
    write_json(result.metrics, "data/predictions/scores.json")
    write_json(headline(result.metrics), "metrics/evaluate.json")
    test = result.metrics["test"]
    print(f"evaluate: test accuracy {test['accuracy']:.4f} [{test['accuracy_low']:.4f}, {test['accuracy_high']:.4f}] "
          f"auc {test['auc']:.4f} p(binomial) {test['p_binomial']:.3g}; baselines {result.metrics['baselines']}")
    if exported:
        cost = result.metrics["export"]["test"]
        print(f"evaluate: test accuracy torch {cost['torch']['accuracy']:.4f} onnx {cost['onnx']['accuracy']:.4f} "
              f"int8 {cost['int8']['accuracy']:.4f}; log loss int8 {cost['int8']['log_loss']:.4f} "
              f"(torch {cost['torch']['log_loss']:.4f}); max |p - p_torch| int8 {cost['int8']['max_diff']:.2g}")


if __name__ == "__main__":
    exit_on_error(main)
