"""Every stage at the seed's size: wall time and peak RSS per stage, as JSON.

A temporary copy of the project (code, dvc.yaml, params.yaml) ingests a realistic synthetic
universe (default 1,695 tickers x 6,000 sessions, ~8.3M rows after listings and delistings),
computes seed95, trains LightGBM and walks forward with it. Each stage runs in its own process,
exactly as dvc runs it (`python stages/<stage>.py ...` from the project root); its peak RSS is
that process's own (getrusage of the child alone), so the numbers are per stage, not cumulative.
The panel's size (rows x features x 4 bytes) is printed beside them: the goal is every stage at
most twice its panel plus the model.

    python benchmarks/pipeline_scale.py                     # the seed's size (~10 minutes on 2 cores)
    python benchmarks/pipeline_scale.py --tickers 200 --days 2000 --features-set basic
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
STAGES = ["params", "ingest", "quality", "features", "split", "train", "evaluate", "backtest", "walkforward",
          "report"]


def project(folder: Path, args: argparse.Namespace) -> None:
    """The code, pipeline and params in `folder`, with the benchmark's source, features and model."""
    for name in ("stages", "dvc.yaml", "params.yaml", "data/sample"):
        source = ROOT / name
        shutil.copytree(source, folder / name) if source.is_dir() else shutil.copy(source, folder / name)
    params = yaml.safe_load((folder / "params.yaml").read_text())
    params["ingest"] |= {"source": "synthetic"}
    params["ingest"]["synthetic"] |= {"mode": "realistic", "tickers": args.tickers, "days": args.days, "seed": 0}
    params["features"]["set"] = args.features_set
    params["train"]["model"] = args.model
    params["walkforward"]["model"] = args.walkforward_model
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def stage_command(name: str, folder: Path) -> list[str]:
    cmd = yaml.safe_load((folder / "dvc.yaml").read_text())["stages"][name]["cmd"]
    model = yaml.safe_load((folder / "params.yaml").read_text())["train"]["model"]
    return cmd.replace("${train.model}", model).split()


def run_stage(name: str, folder: Path) -> dict[str, float]:
    """Wall seconds and peak RSS (GB) of one stage's process."""
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    start = time.perf_counter()
    process = subprocess.Popen(stage_command(name, folder), cwd=folder, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - start
    output = process.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"stage {name} failed:\n{output}")
    return {"wall_s": round(wall, 1), "peak_gb": round(usage.ru_maxrss * 1024 / 1e9, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", type=int, default=1695)
    parser.add_argument("--days", type=int, default=6000)
    parser.add_argument("--features-set", default="seed95")
    parser.add_argument("--model", default="lightgbm")
    parser.add_argument("--walkforward-model", default="lightgbm")
    parser.add_argument("--stages", nargs="*", default=STAGES, help="run only these (the earlier ones' outputs "
                        "must then exist under --keep)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temporary one)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="stockcast-scale-"))
    if not (folder / "dvc.yaml").exists():
        folder.mkdir(parents=True, exist_ok=True)
        project(folder, args)
    stages = {}
    try:
        for name in args.stages:
            stages[name] = run_stage(name, folder)
            print(f"{name}: {stages[name]}", file=sys.stderr)
        import polars as pl  # after the stages: the children's memory must not include this process's

        features = folder / "data/features/features.parquet"
        schema = pl.scan_parquet(features).collect_schema()
        rows = pl.scan_parquet(features).select(pl.len()).collect().item()
        n_features = len(schema) - 2
        panel_gb = rows * n_features * 4 / 1e9
        for numbers in stages.values():
            numbers["x_panel"] = round(numbers["peak_gb"] / panel_gb, 2)
        print(json.dumps({"tickers": args.tickers, "days": args.days, "rows": rows, "features": n_features,
                          "features_set": args.features_set, "model": args.model,
                          "walkforward_model": args.walkforward_model, "panel_gb": round(panel_gb, 2),
                          "stages": stages}, indent=2))
    finally:
        if args.keep is None:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
