"""Stage train: fit train.model on the train segment, selected on val; checkpoints, tensorboard, dvclive.

Runs alone (`python stages/train.py`) or as N processes (`torchrun --nproc_per_node N stages/train.py`):
then every process trains its shard with DistributedDataParallel and rank 0 alone writes.
"""

from contextlib import nullcontext
from pathlib import Path

from dvclive import Live

from stockcast import distributed
from stockcast.artifacts import save_model
from stockcast.dataset import Panel
from stockcast.errors import exit_on_error
from stockcast.models import Windows, build
from stockcast.normalize import fit_normalizer, normalizer_to_dict
from stockcast.params import load_section
from stockcast.tables import read_json, read_table, write_json
from stockcast.train import seed_everything


def main() -> None:
    params = load_section("train")
    seed_everything(params.seed)
    names = [f["name"] for f in read_json("data/features/manifest.json")["features"]]
    panel = Panel.load("data/features/features.parquet", read_table("data/splits/labels.parquet"), names)
    normalizer = fit_normalizer(params.normalize, panel.x, panel.segment_rows("train"), names)
    x = normalizer.transform(panel.x, panel.keys["date"].to_numpy())
    windows = Windows(x, panel.y, params.seq_len, {s: panel.window_ends(params.seq_len, s) for s in ("train", "val")})
    model = build(params.model, len(names), params, read_json("data/splits/boundaries.json")["n_classes"])
    main_rank = distributed.is_main()

    with Live(dir="dvclive", dvcyaml=False, save_dvc_exp=False) if main_rank else nullcontext() as live:
        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            for name, value in metrics.items():
                live.log_metric(name, value)
            live.next_step()
            print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

        result = model.fit(windows, Path("logs/train"), log_epoch if main_rank else None,
                           Path(params.checkpoint_dir) / params.model)
        if main_rank:
            live.summary = {"best_epoch": result.best_epoch, **{f"best_{k}": v for k, v in result.best.items()}}

    if main_rank:
        out = f"models/{params.model}"
        save_model(out, model, {"model": params.model, "n_features": len(names), "features": names,
                                "params": params.model_dump(), "normalizer": normalizer_to_dict(normalizer),
                                "best_epoch": result.best_epoch, "best": result.best,
                                "windows": {s: len(e) for s, e in windows.ends.items()}})
        write_json(normalizer_to_dict(normalizer), f"{out}/normalizer.json")
        importance = model.feature_importance()
        if importance is not None:
            write_json({kind: dict(zip(names, values.tolist())) for kind, values in importance.items()},
                       f"{out}/importance.json")
        print(f"train: best epoch {result.best_epoch} {result.best} -> {out}")
    distributed.teardown()


if __name__ == "__main__":
    exit_on_error(main)
