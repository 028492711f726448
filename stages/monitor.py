"""Stage monitor: drift of features and predictions against the training reference, live accuracy,
importance now and at training, and the retrain rule (stockcast.monitor; `stockcast monitor --check`).

Usage: python stages/monitor.py models/<model>
"""

import sys

import polars as pl

from stockcast.artifacts import bundle_dir
from stockcast.errors import exit_on_error
from stockcast.monitor import monitor
from stockcast.params import load_section
from stockcast.predict import Scorer
from stockcast.tables import read_json, read_table, write_csv, write_json

FEATURES = "data/features/features.parquet"


def main() -> None:
    params = load_section("monitor")
    scorer = Scorer.load(sys.argv[1], load_section("evaluate").threshold)
    importance = bundle_dir(sys.argv[1]) / "importance.json"
    gain = read_json(importance).get("gain") if "importance.json" in scorer.config["files"] else None
    result = monitor(scorer, pl.scan_parquet(FEATURES), read_table("data/splits/labels.parquet"),
                     read_table("data/predictions/predictions.parquet"),
                     read_json("data/predictions/scores.json")["test"], params, gain)
    write_json(result.metrics, "metrics/monitor.json")
    write_csv(result.drift, "plots/monitor_drift.csv")
    write_csv(result.importance, "plots/monitor_importance.csv")
    m = result.metrics
    print(f"monitor: {m['drift']['features_drifted']} of {len(m['features'])} features drifted "
          f"({m['drift']['method']}) from {m['drift']['current_from']}; prediction drifted {m['prediction']['drifted']}; "
          f"live accuracy {m['live']['accuracy']:.4f} [{m['live']['accuracy_low']:.4f}, {m['live']['accuracy_high']:.4f}] "
          f"on {m['live']['n']} (test {m['test_segment']['accuracy']:.4f}); retrain: {m['retrain']['reasons'] or 'no'}")


if __name__ == "__main__":
    exit_on_error(main)
