"""The project folders the model stages' tests (tests/test_model_stages_*.py) run their stage in, and the helpers
they share.

The stages run in-process (tests/stages.py) on a small synthetic market, with a quick model (lightgbm with few
trees, logreg) and params that differ from the defaults the library would fall back to, so a dropped or
swapped argument, a wrong path or a lost output fails in seconds. A test builds the project only as far as
its stage finds it (`Chain`, by dvc.yaml's deps), so a mutant of an early stage does not pay for the whole
pipeline; the `chain` fixture (tests/conftest.py) holds one per test session.
"""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from stockcast.data.synthetic import generate
from stockcast.dataset import Panel

from .conftest import ROOT
from .stages import built, project, run_stage, set_params

CHAIN = ("train", "evaluate", "backtest", "walkforward", "predict", "monitor", "report")
MODEL = "lightgbm"
ARGS = {"evaluate": (f"models/{MODEL}",), "predict": (f"models/{MODEL}",), "monitor": (f"models/{MODEL}",),
        "report": (f"models/{MODEL}",)}
CAPITALS = [50000.0, 500000.0, 5000000.0, 50000000.0]
SECTORS = {"S0000": "Energy", "S0001": "Energy", "S0002": "Utilities", "S0003": "Utilities", "S0004": "Financials"}
CHANGES = {
    "features": {"set": "basic", "families": None},
    "split": {"label": "direction", "horizon": 1, "train_fraction": 0.55, "val_fraction": 0.2, "fraction_of": "rows",
              "embargo_days": 50, "min_rows_per_segment": 30,
              "folds": {"scheme": "rolling", "step_days": 60, "min_train_days": 200, "train_days": 180}},
    "train": {"model": MODEL, "seq_len": 3, "normalize": "robust", "epochs": 3, "patience": 2, "seed": 7,
              "device": "cpu", "resume": False, "checkpoint_dir": "checkpoints/chain",
              "lightgbm": {"num_leaves": 7, "n_estimators": 25, "learning_rate": 0.1, "min_child_samples": 20,
                           "early_stopping_rounds": 5}},
    "evaluate": {"threshold": 0.52, "top_k": 1},
    "backtest": {"strategy": "long_short", "fill": "next_close", "threshold": 0.51, "top_k": 1, "cost_bps": 7,
                 "slippage_bps": 3, "initial_capital": 50000, "periods_per_year": 250, "risk_free": 0.0001, "trials": 4,
                 "borrow_bps_per_year": 40.0, "min_dollar_volume": 1000.0, "liquidity_window": 10,
                 "max_participation": 0.0001, "neutralize": "sector", "capacity_capitals": CAPITALS, "vol_window": 20,
                 "rebalance_days": 5, "max_names": 4, "max_swaps": 2, "ppo": {"seeds": []},
                 "regimes": [{"name": "early", "start": "2000-01-01", "end": "2002-06-30"},
                             {"name": "late", "start": "2002-07-01", "end": "2004-12-31"}]},
    "walkforward": {"model": "logreg", "max_folds": 3},
    "monitor": {"window": 40, "method": "ks", "importance_windows": 300, "seed": 3},
    "report": {"title": "chain report"},
}


def _nested(params: dict, changes: dict) -> dict:
    """`params` with `changes` merged at every depth (project() merges one level only)."""
    for key, value in changes.items():
        params[key] = _nested(params.get(key) or {}, value) if isinstance(value, dict) and value else value
    return params


PIPELINE = yaml.safe_load((ROOT / "dvc.yaml").read_text())
CHARTS = [next(iter(definition.items())) for definition in PIPELINE["plots"]]
DATA_STAGES = ("quality", "features", "split")


MADE_BY = {(next(iter(o)) if isinstance(o, dict) else o): stage for stage, spec in PIPELINE["stages"].items()
           for o in spec.get("outs", []) + spec.get("metrics", []) + spec.get("plots", [])}


@functools.cache
def upstream(name: str) -> frozenset[str]:
    """The stages whose outputs stage `name` reads, directly or through another stage, by dvc.yaml's deps
    (a dep names an output, or a folder holding one, or a file inside one)."""
    reads = lambda dep, out: dep == out or dep.startswith(f"{out}/") or out.startswith(f"{dep}/")  # noqa: E731
    direct = {MADE_BY[out] for dep in PIPELINE["stages"][name].get("deps", []) for out in MADE_BY if reads(dep, out)}
    return frozenset(direct.union(*(upstream(d) for d in direct)))


class Chain:
    """The project folder as each model stage finds it, built on first use: quality, features and split on a
    synthetic market, then the stages of CHAIN that dvc.yaml has it read from (walkforward reads no model, so a
    mutant of train or backtest does not reach the walkforward tests). Under benchmarks/mutation.py a folder is
    taken from, or published to, the shared folders when no stage that built it is mutated."""

    def __init__(self, root: Path) -> None:
        self.root, self.folders = root, {}

    def before(self, name: str) -> Path:
        return self._after(tuple(s for s in CHAIN if s in upstream(name)))

    def trained(self, label: str, changes: dict[str, dict]) -> Path:
        """The folder train finds, with `changes` to its params, once train has run in it."""
        def build() -> Path:
            folder = shutil.copytree(self._after(()), self.root / label)
            set_params(folder, changes)
            run_stage(folder, "train")
            return folder
        return self._built(label, ("train",), build)

    def _after(self, ran: tuple[str, ...]) -> Path:
        """The prepared folder once the stages `ran` (in CHAIN's order) have run in it."""
        label = "-".join(("after", *ran)) if ran else "prepared"

        def build() -> Path:
            if not ran:
                return self._prepared()
            folder = shutil.copytree(self._after(ran[:-1]), self.root / label)
            run_stage(folder, ran[-1], *ARGS.get(ran[-1], ()))
            return folder
        return self._built(label, ran, build)

    def _built(self, label: str, ran: tuple[str, ...], build: Callable[[], Path]) -> Path:
        """The folder `label`, made by `build` running the stages `ran` after the data stages: built once per
        process, or taken from (else published to) the shared folders when none of those stages is mutated."""
        return built(self.folders, label, (*DATA_STAGES, *ran), build)

    def _prepared(self) -> Path:
        folder = project(self.root / "prepared", {})
        params = yaml.safe_load((folder / "params.yaml").read_text())
        (folder / "params.yaml").write_text(yaml.safe_dump(_nested(params, CHANGES), sort_keys=False))
        pl.DataFrame({"ticker": list(SECTORS), "sector": list(SECTORS.values()), "exchange": ["XNYS"] * 5,
                      "borrow_bps": [None, 300.0, None, None, None]}).write_csv(
            folder / "data" / "sample" / "universe.csv")  # S0005 has no row: its sector is unknown
        (folder / "data" / "raw").mkdir(parents=True)
        bars = generate("realistic", n_tickers=6, n_days=700, seed=5)[0]
        bars.write_parquet(folder / "data" / "raw" / "ohlcv.parquet")
        (folder / "data" / "raw" / "ohlcv.meta.json").write_text('{"source": "synthetic"}')
        for name in DATA_STAGES:
            run_stage(folder, name)
        return folder



def copy_before(chain: Chain, stage: str, tmp_path: Path) -> Path:
    """A copy of the folder `stage` finds, in the test's own tmp_path (the chain's folders are shared)."""
    return shutil.copytree(chain.before(stage), tmp_path / "project")


@contextlib.contextmanager
def inside(folder: Path):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        yield


def read_json(folder: Path, path: str):
    return json.loads((folder / path).read_text())


def same(written: pl.DataFrame, expected: pl.DataFrame) -> bool:
    """The same columns and values, numbers to float precision (a CSV or JSON round trip)."""
    return written.columns == expected.columns and all(
        np.allclose(a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy(), equal_nan=True)
        if b.dtype.is_numeric() else a.cast(pl.String).to_list() == b.cast(pl.String).to_list()
        for a, b in zip(written.iter_columns(), expected.iter_columns()))


def charted(folder: Path, stage: str) -> None:
    """Every plot file dvc.yaml has `stage` write exists, with the columns the top-level plots chart
    from it or from its folder (`dvc plots show` fails on a missing file or column after the stage passed)."""
    for declared in (next(iter(entry)) for entry in PIPELINE["stages"][stage]["plots"]):
        out = folder / declared
        assert out.exists(), declared
        for file in sorted(p for p in out.rglob("*") if p.is_file()) if out.is_dir() else [out]:
            path = file.relative_to(folder).as_posix()
            columns = pl.read_csv(file, separator="\t" if file.suffix == ".tsv" else ",").columns
            for title, spec in CHARTS:
                ys = spec.get("y") or {title: []}  # a folder's own entry charts x from each file in it
                for where, y in ys.items():
                    if path == where or path.startswith(f"{where}/"):
                        assert {spec["x"], *([y] if isinstance(y, str) else y)} <= set(columns), (path, title)


def panel_of(folder: Path, names: list[str]) -> Panel:
    return Panel.load(folder / "data" / "features" / "features.parquet",
                      pl.read_parquet(folder / "data" / "splits" / "labels.parquet"), names)

