"""Stage train: fit the configured model on the train segment, early-stopped on val."""

from dvclive import Live

from stockcast.artifacts import save_model
from stockcast.dataset import Panel, WindowDataset, loader
from stockcast.errors import exit_on_error
from stockcast.models import build
from stockcast.normalize import ZScore
from stockcast.params import load_section
from stockcast.tables import read_json, read_table, write_json
from stockcast.train import fit, pick_device, seed_everything


def main() -> None:
    params = load_section("train")
    seed_everything(params.seed)
    names = [f["name"] for f in read_json("data/features/manifest.json")["features"]]
    panel = Panel.from_tables(read_table("data/features/features.parquet"),
                              read_table("data/splits/labels.parquet"), names)
    normalizer = ZScore.fit(panel.x[panel.segment_rows("train")], names)
    x = normalizer.transform(panel.x)
    pin = pick_device(params.device).type == "cuda"
    datasets = {s: WindowDataset(x, panel.y, panel.window_ends(params.seq_len, s), params.seq_len)
                for s in ("train", "val")}
    train_loader = loader(datasets["train"], params.batch_size, True, params.seed, pin)
    val_loader = loader(datasets["val"], 4096, False, params.seed, pin)
    model = build(params.model, len(names), params.model_dump())

    with Live(dir="dvclive", dvcyaml=False, save_dvc_exp=False) as live:
        def log_epoch(epoch: int, metrics: dict[str, float]) -> None:
            for name, value in metrics.items():
                live.log_metric(name, value)
            live.next_step()
            print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in metrics.items()))

        result = fit(model, train_loader, val_loader, params, "logs/train", log_epoch)
        live.summary = {"best_epoch": result.best_epoch, **{f"best_{k}": v for k, v in result.best.items()}}

    out = f"models/{params.model}"
    save_model(out, model, {"model": params.model, "n_features": len(names), "features": names,
                            "params": params.model_dump(), "normalizer": normalizer.to_dict(),
                            "best_epoch": result.best_epoch, "best": result.best,
                            "windows": {s: len(d) for s, d in datasets.items()}})
    write_json(normalizer.to_dict(), f"{out}/normalizer.json")
    print(f"train: best epoch {result.best_epoch} {result.best} -> {out}")


if __name__ == "__main__":
    exit_on_error(main)
