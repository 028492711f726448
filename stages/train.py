"""Stage train: fit train.model on the train segment, selected on val (then refit on train+val with
train.refit: train_val); checkpoints, tensorboard, dvclive.

Runs alone (`python stages/train.py`) or as N processes (`torchrun --nproc_per_node N stages/train.py`):
then every process trains its shard with DistributedDataParallel and rank 0 alone writes.
Rank 0 holds <checkpoint_dir>/train.lock while it trains, so a second trainer on the same checkpoints
(and dvclive/, logs/train/) is refused; run by dvc, the trainer dies with dvc rather than live on.
"""

import os
import tempfile
from contextlib import nullcontext
from pathlib import Path

from dvclive import Live

from stockcast import distributed
from stockcast.artifacts import BUNDLE, save_model
from stockcast.dataset import Panel
from stockcast.errors import exit_on_error
from stockcast.fitting import fit
from stockcast.lifeline import die_with_parent
from stockcast.normalize import normalizer_to_dict
from stockcast.params import TrainParams, load_section
from stockcast.runlock import exclusive
from stockcast.tables import read_json, read_table
from stockcast.train import seed_everything


def main() -> None:
    params = load_section("train")
    if "DVC_STAGE" in os.environ:  # dvc sets it for its commands; a plain or nohup run outlives its shell
        die_with_parent()
    main_rank = distributed.is_main()
    with exclusive(Path(params.checkpoint_dir) / "train.lock", "trainer") if main_rank else nullcontext():
        train(params, main_rank)
    distributed.teardown()


def train(params: TrainParams, main_rank: bool) -> None:
    seed_everything(params.seed)
    names = [f["name"] for f in read_json("data/features/manifest.json")["features"]]
    panel = Panel.load("data/features/features.parquet", read_table("data/splits/labels.parquet"), names)
    n_classes = read_json("data/splits/boundaries.json")["n_classes"]

    with Live(dir="dvclive", dvcyaml=False, save_dvc_exp=False) if main_rank else nullcontext() as live, \
            tempfile.TemporaryDirectory(prefix="stockcast-panel-") as spill:
        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            for name, value in metrics.items():
                live.log_metric(name, value)
            live.next_step()
            print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

        fitted = fit(panel, params, n_classes, Path("logs/train"), log_epoch if main_rank else None,
                     Path(params.checkpoint_dir) / params.model, Path(spill))
        result = fitted.result
        if main_rank:
            live.summary = {"best_epoch": result.best_epoch, **{f"best_{k}": v for k, v in result.best.items()}}

    if main_rank:
        out = f"models/{params.model}/{BUNDLE}"
        normalizer = normalizer_to_dict(fitted.normalizer)
        importance = fitted.model.feature_importance()
        extras = {"normalizer.json": normalizer} | ({} if importance is None else {"importance.json": {
            kind: dict(zip(names, values.tolist())) for kind, values in importance.items()}})
        save_model(out, fitted.model, {"model": params.model, "n_features": len(names), "features": names,
                                       "params": params.model_dump(exclude={"resume"}), "normalizer": normalizer,
                                       "best_epoch": result.best_epoch, "best": result.best,
                                       "windows": {s: len(e) for s, e in fitted.windows.ends.items()},
                                       "windows_by_ticker": fitted.windows_by_ticker(panel),
                                       "dates": fitted.date_ranges(panel),
                                       "refit": fitted.refit}, extras, export_windows=fitted.windows)
        print(f"train: best epoch {result.best_epoch} {result.best}; refit {fitted.refit} -> {out}")


if __name__ == "__main__":
    exit_on_error(main)
