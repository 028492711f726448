"""Stage train: fit train.model on the train segment, selected on val (then refit on train+val with
train.refit: train_val); checkpoints, tensorboard, dvclive.

Runs alone (`python stages/train.py`) or as N processes (`torchrun --nproc_per_node N stages/train.py`):
then every process trains its shard with DistributedDataParallel and rank 0 alone writes.
"""

import tempfile
from contextlib import nullcontext
from pathlib import Path

from dvclive import Live

from stockcast import distributed
from stockcast.artifacts import save_model
from stockcast.dataset import Panel
from stockcast.errors import exit_on_error
from stockcast.fitting import fit
from stockcast.normalize import normalizer_to_dict
from stockcast.params import load_section
from stockcast.tables import read_json, read_table, write_json
from stockcast.train import seed_everything


def main() -> None:
    params = load_section("train")
    seed_everything(params.seed)
    names = [f["name"] for f in read_json("data/features/manifest.json")["features"]]
    panel = Panel.load("data/features/features.parquet", read_table("data/splits/labels.parquet"), names)
    n_classes = read_json("data/splits/boundaries.json")["n_classes"]
    main_rank = distributed.is_main()

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
        out = f"models/{params.model}"
        normalizer = normalizer_to_dict(fitted.normalizer)
        save_model(out, fitted.model, {"model": params.model, "n_features": len(names), "features": names,
                                       "params": params.model_dump(exclude={"resume"}), "normalizer": normalizer,
                                       "best_epoch": result.best_epoch, "best": result.best,
                                       "windows": {s: len(e) for s, e in fitted.windows.ends.items()},
                                       "refit": fitted.refit})
        write_json(normalizer, f"{out}/normalizer.json")
        importance = fitted.model.feature_importance()
        if importance is not None:
            write_json({kind: dict(zip(names, values.tolist())) for kind, values in importance.items()},
                       f"{out}/importance.json")
        print(f"train: best epoch {result.best_epoch} {result.best}; refit {fitted.refit} -> {out}")
    distributed.teardown()


if __name__ == "__main__":
    exit_on_error(main)
