"""The model stages' scripts (train, evaluate, backtest, walkforward, predict, monitor, report) do their own
part of the job: each reads the deps dvc.yaml gives it, hands its params to the library whole, and writes
what the library returns to the outs dvc.yaml names.

They run in-process (tests/stages.py) on a small synthetic market, with a quick model (lightgbm with few
trees, logreg) and params that differ from the defaults the library would fall back to, so a dropped or
swapped argument, a wrong path or a lost output fails here in seconds. A test builds the project only as
far as its stage finds it (`Chain`), so a mutant of an early stage does not pay for the whole pipeline.
These are the model stages' shard in benchmarks/mutation.py.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import yaml

from stockcast.artifacts import load_model
from stockcast.backtest.capacity import capacity_table, halving_capital
from stockcast.backtest.engine import Capacity, Costs, Strategy, backtest_grid, cost_per_side, sector_contributions
from stockcast.backtest.fills import holding_returns, tradable_predictions
from stockcast.backtest.grid import Grid, to_grid
from stockcast.backtest.history import close_returns
from stockcast.backtest.policies import Sized, size
from stockcast.backtest.regimes import Regime, regime_table
from stockcast.backtest.strategies import STRATEGIES
from stockcast.backtest.correlation import average_correlation, effective_bets
from stockcast.backtest.metrics import summarize
from stockcast.backtest.summary import backtest_metrics, curves
from stockcast.backtest.summary import HEADLINE
from stockcast.backtest.summary import headline as backtest_headline
from stockcast.backtest.walk_forward import walk_forward
from stockcast.errors import StockcastError
from stockcast.card import CardInputs, card_sections, to_markdown
from stockcast.checksums import config_hash
from stockcast.data.synthetic import generate
from stockcast.data.universe import read_universe_file, universe_of
from stockcast.dataset import Panel
from stockcast.evaluation.classification import calls, has_flat_class, majority_class
from stockcast.evaluation.scorecard import evaluate, headline
from stockcast.fitting import fit, fold_predictions
from stockcast.monitor import monitor
from stockcast.predict import Scorer, unscorable
from stockcast.normalize import normalizer_from_dict, normalizer_to_dict
from stockcast.params import load_section
from stockcast.report import (coverage_rows, equity_plot, experiment_rows, model_rows, monitor_rows,
                              read_importance, render)
from stockcast.scoring import predictions
from stockcast.segments import Fold

from .conftest import ROOT
from .stages import project, publish, run_stage, set_params, shared_folder, stage

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
        if label not in self.folders:
            shared = shared_folder(label, (*DATA_STAGES, *ran))
            if shared is not None and shared.is_dir():
                self.folders[label] = shared
            else:
                self.folders[label] = build()
                if shared is not None:
                    publish(self.folders[label], shared)
        return self.folders[label]

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


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Chain:
    return Chain(tmp_path_factory.mktemp("model-chain"))


def test_each_stage_finds_the_outputs_of_the_stages_dvc_yaml_has_it_read_and_no_others(chain):
    """The chain follows dvc.yaml's deps: walkforward retrains per fold and reads no model, predict reads no
    scores, the report every model stage's outputs but predict's. A stage
    reading a file its deps do not list fails its test here, as it would in `dvc repro` on a fresh clone."""
    assert {s: [c for c in CHAIN if c in upstream(s)] for s in CHAIN} == {
        "train": [], "evaluate": ["train"], "backtest": ["train", "evaluate"], "walkforward": [],
        "predict": ["train"], "monitor": ["train", "evaluate"],
        "report": ["train", "evaluate", "backtest", "walkforward", "monitor"]}
    assert not (chain.before("walkforward") / "models").exists()
    predict = chain.before("predict")
    assert (predict / "models").is_dir() and not (predict / "data" / "predictions").exists()


def _copy(chain: Chain, stage: str, tmp_path: Path) -> Path:
    return shutil.copytree(chain.before(stage), tmp_path / "project")


@contextlib.contextmanager
def _inside(folder: Path):
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        yield


def _json(folder: Path, path: str):
    return json.loads((folder / path).read_text())


def _same(written: pl.DataFrame, expected: pl.DataFrame) -> bool:
    """The same columns and values, numbers to float precision (a CSV or JSON round trip)."""
    return written.columns == expected.columns and all(
        np.allclose(a.cast(pl.Float64).to_numpy(), b.cast(pl.Float64).to_numpy(), equal_nan=True)
        if b.dtype.is_numeric() else a.cast(pl.String).to_list() == b.cast(pl.String).to_list()
        for a, b in zip(written.iter_columns(), expected.iter_columns()))


def _charted(folder: Path, stage: str) -> None:
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


def _panel(folder: Path, names: list[str]) -> Panel:
    return Panel.load(folder / "data" / "features" / "features.parquet",
                      pl.read_parquet(folder / "data" / "splits" / "labels.parquet"), names)


def test_the_train_stage_saves_the_model_the_library_fits(chain, tmp_path, capsys):
    folder = _copy(chain, "train", tmp_path)
    pipeline = shutil.copy(ROOT / "dvc.yaml", folder / "dvc.yaml").read_bytes()
    run_stage(folder, "train")
    _charted(folder, "train")
    said = capsys.readouterr().out
    with _inside(folder):
        params = load_section("train")
    names = [f["name"] for f in _json(folder, "data/features/manifest.json")["features"]]
    panel = _panel(folder, names)
    fitted = fit(panel, params, 2, tmp_path / "logs")
    model, config = load_model(folder / "models" / MODEL / "model")
    assert (config["model"], config["n_features"], config["features"]) == (MODEL, len(names), names)
    assert config["params"] == params.model_dump(exclude={"resume"}) and "resume" not in config["params"]
    assert config["normalizer"] == normalizer_to_dict(fitted.normalizer) == _json(
        folder, f"models/{MODEL}/model/normalizer.json")
    assert config["normalizer"]["kind"] == "robust"
    assert (config["best_epoch"], config["best"]) == (fitted.result.best_epoch, pytest.approx(fitted.result.best))
    assert config["windows"] == {s: len(e) for s, e in fitted.windows.ends.items()}
    assert config["windows_by_ticker"] == fitted.windows_by_ticker(panel)
    assert config["dates"] == fitted.date_ranges(panel) and config["refit"] == {"mode": "none"}
    importance = _json(folder, f"models/{MODEL}/model/importance.json")
    expected = fitted.model.feature_importance()
    assert set(importance) == set(expected) and all(
        importance[kind] == pytest.approx(dict(zip(names, values.tolist()))) for kind, values in expected.items())
    val = fitted.windows
    assert np.allclose(model.predict_proba(val, "val"), fitted.model.predict_proba(val, "val"))
    summary = _json(folder, "dvclive/metrics.json")
    assert summary["best_epoch"] == fitted.result.best_epoch
    assert {k: summary[k] for k in summary if k.startswith("best_") and k != "best_epoch"} == pytest.approx(
        {f"best_{k}": v for k, v in fitted.result.best.items()})
    assert said.count("epoch ") >= 1 and f"-> models/{MODEL}/model" in said
    assert re.search(r"^epoch 0: \w+=\d\.\d{4}", said, re.M)
    assert (folder / "checkpoints" / "chain").is_dir() and (folder / "logs" / "train").is_dir()
    # dvc.yaml declares dvclive's plots: dvclive neither rewrites it nor writes its own
    assert (folder / "dvc.yaml").read_bytes() == pipeline and not (folder / "dvclive" / "dvc.yaml").exists()


def test_a_train_process_other_than_rank_0_trains_but_writes_nothing(chain, tmp_path, monkeypatch, capsys):
    """Under torchrun every rank trains its shard; rank 0 alone holds the lock and writes the bundle,
    dvclive and the epoch lines (here a second rank with rank 0's lock held, as it is under torchrun)."""
    from stockcast.runlock import exclusive

    folder = _copy(chain, "train", tmp_path)
    (folder / "checkpoints" / "chain").mkdir(parents=True)
    monkeypatch.setenv("RANK", "1")
    with exclusive(folder / "checkpoints" / "chain" / "train.lock", "trainer"):
        run_stage(folder, "train")
    assert not (folder / "models").exists() and not (folder / "dvclive").exists()
    assert "epoch " not in capsys.readouterr().out


def test_the_train_stage_refuses_to_train_beside_another_trainer(chain, tmp_path):
    from stockcast.runlock import exclusive

    folder = _copy(chain, "train", tmp_path)
    (folder / "checkpoints" / "chain").mkdir(parents=True)
    with exclusive(folder / "checkpoints" / "chain" / "train.lock", "trainer"):
        with pytest.raises(StockcastError, match=r"train.lock: another trainer \(pid \d+\) is using "):
            run_stage(folder, "train")
    assert not (folder / "models").exists()


def test_an_exported_sequence_model_is_trained_and_scored_through_its_onnx_files(chain, tmp_path, capsys):
    """A sequence model's bundle carries its ONNX float and int8 files (exported on the training windows);
    evaluate scores them on the same windows beside torch."""
    from stockcast.evaluation.exported import variant_scores
    from stockcast.export import onnx_variants

    gru = {"train": {"model": "gru", "hidden_size": 4, "num_layers": 1, "epochs": 1, "batch_size": 512,
                     "lr_schedule": "constant", "warmup_epochs": 0}}
    folder = shutil.copytree(chain.trained("trained-gru", gru), tmp_path / "project")
    run_stage(folder, "evaluate", "models/gru")
    said = capsys.readouterr().out
    bundle = folder / "models" / "gru" / "model"
    model, config = load_model(bundle)
    assert "export" in config and (folder / "checkpoints" / "chain" / "gru").is_dir()
    panel = _panel(folder, config["features"])
    normalizer = normalizer_from_dict(config["normalizer"])
    scored = {"torch": predictions(model, panel, normalizer, 3, ("val", "test"))} | {
        name: predictions(variant, panel, normalizer, 3, ("val", "test"))
        for name, variant in onnx_variants(model, bundle, config).items()}
    scores = _json(folder, "data/predictions/scores.json")
    assert json.dumps(scores["export"], sort_keys=True) == json.dumps(
        variant_scores(scored, ("val", "test"), 0.52), sort_keys=True)
    cost = scores["export"]["test"]
    assert (f"evaluate: test accuracy torch {cost['torch']['accuracy']:.4f} onnx {cost['onnx']['accuracy']:.4f} "
            f"int8 {cost['int8']['accuracy']:.4f}") in said


def _scored_like_the_stage(folder: Path, segments: tuple[str, ...], fitted_on: list[str]):
    """The bundle's predictions of `segments`, and the library's scorecard of them."""
    model, config = load_model(folder / "models" / _model_of(folder) / "model")
    labels = pl.read_parquet(folder / "data" / "splits" / "labels.parquet")
    panel = _panel(folder, config["features"])
    expected = predictions(model, panel, normalizer_from_dict(config["normalizer"]), config["params"]["seq_len"],
                           segments)
    with _inside(folder):
        params = load_section("evaluate")
        universe, _ = universe_of(expected["ticker"], read_universe_file(load_section("universe").path))
    majority = majority_class(labels.filter(pl.col("segment").is_in(fitted_on))["label"])
    result = evaluate(expected.join(universe.select("ticker", "sector"), on="ticker", how="left"), labels, majority,
                      params.threshold, params.top_k, segments)
    return expected, result, config


def _model_of(folder: Path) -> str:
    return yaml.safe_load((folder / "params.yaml").read_text())["train"]["model"]


def test_the_evaluate_stage_scores_the_models_val_and_test_predictions(chain, tmp_path, capsys):
    folder = _copy(chain, "evaluate", tmp_path)
    run_stage(folder, "evaluate", f"models/{MODEL}")
    _charted(folder, "evaluate")
    said = capsys.readouterr().out
    expected, result, config = _scored_like_the_stage(folder, ("val", "test"), ["train"])
    assert pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet").equals(expected)
    scores = _json(folder, "data/predictions/scores.json")
    assert scores["selection"] == {"best_epoch": config["best_epoch"], "refit": 0,
                                   **{k: v for k, v in config["best"].items() if "val_" in k}}
    assert {k: v for k, v in scores.items() if k != "selection"} == json.loads(json.dumps(result.metrics))
    assert _json(folder, "metrics/evaluate.json") == headline(scores)
    assert set(scores) >= {"val", "test"} and "export" not in scores
    for name, frame in result.plots.items():
        assert pl.read_csv(folder / "plots" / f"{name}.csv").shape == frame.shape, name
    test = scores["test"]
    assert f"evaluate: test accuracy {test['accuracy']:.4f} [{test['accuracy_low']:.4f}, " in said
    assert "onnx" not in said


@pytest.mark.parametrize("case", ["val flips the majority", "val alone would flip it"])
def test_the_evaluate_stage_scores_test_alone_for_a_model_refit_on_train_and_val(chain, tmp_path, case):
    """Refit on train+val, val is in-sample: only test is scored, and the majority baseline is the
    majority of all the model was fitted on, not of train alone nor of val alone (the labels are
    rewritten so that each of those would give the other class)."""
    folder = _copy(chain, "evaluate", tmp_path)
    path = folder / "data" / "splits" / "labels.parquet"
    labels = pl.read_parquet(path)
    m = majority_class(labels.filter(pl.col("segment") == "train")["label"])
    segment, row = pl.col("segment"), pl.int_range(pl.len()).over("segment")
    if case == "val flips the majority":
        label = pl.when(segment == "val").then(1 - m).otherwise("label")
    else:  # train 80 % m, val 60 % the other class: still m together, the other class in val alone
        share = pl.when(segment == "train").then(0.2).otherwise(0.6)
        label = pl.when(segment.is_in(["train", "val"])).then(
            pl.when(row < share * pl.len().over("segment")).then(1 - m).otherwise(m)).otherwise("label")
    labels = labels.with_columns(label=label.cast(pl.Int8))
    labels.write_parquet(path)
    fitted_majority = majority_class(labels.filter(pl.col("segment") != "test")["label"])
    alone = {s: majority_class(labels.filter(pl.col("segment") == s)["label"]) for s in ("train", "val")}
    assert fitted_majority != alone["train" if case == "val flips the majority" else "val"]
    set_params(folder, {"train": {"model": "logreg", "refit": "train_val"}})
    run_stage(folder, "train")
    run_stage(folder, "evaluate", "models/logreg")
    expected, result, config = _scored_like_the_stage(folder, ("test",), ["train", "val"])
    assert config["refit"]["mode"] == "train_val"
    assert pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet").equals(expected)
    scores = _json(folder, "data/predictions/scores.json")
    assert "val" not in scores and scores["selection"]["refit"] == 1
    assert scores["train_majority_class"] == fitted_majority
    assert {k: v for k, v in scores.items() if k != "selection"} == json.loads(json.dumps(result.metrics))


def _backtest_inputs(folder: Path):
    """What the backtest stage should read in `folder`, by CHANGES' values: its params, the clean bars, the test
    and val tradable rows (next_close fills, a 10-session liquidity window, $1,000 minimum), its costs, and the
    tickers without a universe row."""
    with _inside(folder):
        p, table = load_section("backtest"), read_universe_file(load_section("universe").path)
    bars = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    scored = pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet")
    universe, missing = universe_of(bars["ticker"], table)
    holdings = holding_returns(bars, "next_close", universe, 10)
    test, val = (tradable_predictions(scored.filter(pl.col("segment") == s), holdings, universe, 0.0, 1000.0)
                 for s in ("test", "val"))
    return p, bars, test, val, Costs(cost_per_side(7, 3), 40.0, 250), missing


def _same_grid(a: Grid, b: Grid) -> bool:
    arrays = ("prob", "returns", "tradable", "dollar_volume", "sectors", "borrow_bps")
    return a.dates.equals(b.dates) and a.tickers.equals(b.tickers) and all(
        (getattr(a, f) is None and getattr(b, f) is None)
        or np.array_equal(getattr(a, f), getattr(b, f), equal_nan=getattr(a, f).dtype.kind == "f") for f in arrays)


def test_the_backtest_stage_hands_the_library_its_params_and_writes_what_it_returns(chain, tmp_path, monkeypatch,
                                                                                     capsys):
    """The stage's wiring, quickly: the sizing policies (their solves), effective bets and the capacity table
    (their re-runs) are stand-ins that record what they are handed and return values of their own, and the
    engine's real run is recorded. Each call gets what backtest's params say, and every out is what they returned.
    The next test runs the whole stage for real."""
    folder = _copy(chain, "backtest", tmp_path)
    module, seen = stage("backtest"), {}

    def sized(grid, bars, val, params, costs):
        seen["size"] = (grid, bars, val, params, costs)
        weights = {name: np.where(grid.tradable, share, 0.0)
                   for name, share in (("vol_target", 0.2), ("kelly", -0.1), ("mean_variance", 0.05))}
        seen["sized"] = Sized(weights, close_returns(bars, grid, 20), 2,
                              {"calibration": "stand-in", "ppo": {"run": False, "why": "a stand-in"}})
        return seen["sized"]

    def bets(weights, history, window):
        seen.setdefault("effective_bets", []).append((weights, history, window))
        return 1.0 + len(seen["effective_bets"])

    table = pl.DataFrame({"capital": CAPITALS, "sharpe": [1.5, 1.0, 0.5, -0.5], "annual_return": [0.2, 0.1, 0.05, -0.1],
                          "edge": [0.08, 0.06, 0.03, -0.02]})

    def capacity(grid, strategy, costs, benchmark, capitals, max_participation):
        seen["capacity_table"] = (grid, strategy, costs, benchmark, capitals, max_participation)
        return table

    def engine(grid, strategies, costs, capacity):
        seen["backtest_grid"] = (grid, strategies, costs, capacity)
        seen["result"] = backtest_grid(grid, strategies, costs, capacity)
        return seen["result"]

    for name, replacement in (("size", sized), ("effective_bets", bets), ("capacity_table", capacity),
                              ("backtest_grid", engine)):
        monkeypatch.setattr(module, name, replacement)
    run_stage(folder, "backtest", module=module)
    said = capsys.readouterr().out
    p, bars, test, val, costs, missing = _backtest_inputs(folder)
    grid, bars_given, val_given, params_given, costs_given = seen["size"]
    assert _same_grid(grid, to_grid(test)) and bars_given.equals(bars) and val_given.equals(val)
    assert (params_given, costs_given) == (p, costs) and p.max_swaps != Strategy("x").max_swaps
    weights = seen["sized"].weights
    strategies = [Strategy(name, 0.51, 1, p.max_swaps, "sector") for name in STRATEGIES] + [
        Strategy(name, weights=w) for name, w in weights.items()]
    result = seen["result"]
    engine_grid, *engine_rest = seen["backtest_grid"]
    assert engine_grid is grid and tuple(engine_rest) == (strategies, costs, Capacity(50000, 0.0001))
    assert [s.weights for s in seen["backtest_grid"][1]][len(STRATEGIES):] == list(weights.values())
    chosen = result.daily["long_short"]
    assert pl.read_parquet(folder / "data" / "backtest" / "returns.parquet").equals(
        chosen.select("date", "strategy", "benchmark", "turnover"))
    for name, frame in curves(result.daily, "long_short", 50000).items():
        assert _same(pl.read_csv(folder / "plots" / f"{name}.csv").drop("date"), frame.drop("date")), name
    regimes = regime_table(chosen, [Regime(r.name, r.start, r.end) for r in p.regimes], 250)
    assert _same(pl.read_csv(folder / "plots" / "regimes.csv"), regimes) and regimes.height == 2
    given = seen["capacity_table"]
    assert given[0] is result.grid and given[1] == strategies[STRATEGIES.index("long_short")] and given[2] == costs
    assert np.array_equal(given[3], chosen["benchmark"].to_numpy()) and given[4:] == (CAPITALS, 0.0001)
    assert _same(pl.read_csv(folder / "plots" / "capacity.csv"), table)
    sectors = sector_contributions(result.grid, result.books["long_short"])
    assert _same(pl.read_csv(folder / "plots" / "sector_contribution.csv"), sectors)
    correlation = pl.read_csv(folder / "plots" / "correlation.csv", try_parse_dates=True)
    assert correlation["date"].equals(grid.dates.alias("date"))
    expected_correlation = average_correlation(grid, seen["sized"].history, 20)
    assert np.allclose(correlation["average_correlation"].to_numpy(), expected_correlation, equal_nan=True)
    assert len(seen["effective_bets"]) == len(result.books) == len(strategies) and all(
        w is result.books[n].weights and h is seen["sized"].history and window == 20
        for n, (w, h, window) in zip(result.books, seen["effective_bets"]))
    report = backtest_metrics(result.daily, "long_short", 250, 0.0001, 4 + 2)
    for i, name in enumerate(result.books):
        report["strategies"][name]["effective_bets"] = 2.0 + i
    report |= {"fill": "next_close", "tradable_fill": True,
               "capacity": {"halving_capital": halving_capital(table), "table": table.to_dicts()},
               "sectors": dict(sectors.iter_rows()), "delisted_tickers": 0, "trials": 6,
               "sizing": {"calibration": "stand-in", "ppo": {"run": False, "why": "a stand-in"},
                          "average_correlation": pl.Series(expected_correlation).fill_nan(None).mean()},
               "tickers_without_universe_row": ["S0005"]}
    summary = _json(folder, "data/backtest/summary.json")
    assert json.dumps(summary, sort_keys=True) == json.dumps(json.loads(json.dumps(report)), sort_keys=True)
    assert halving_capital(table) is not None and missing == ["S0005"]
    assert _json(folder, "metrics/backtest.json") == backtest_headline(summary)
    assert "backtest: 1 tickers not in the universe file, sector 'unknown': S0005\n" in said
    assert "backtest: ppo not run: a stand-in\n" in said


def test_the_backtest_stage_trades_the_test_predictions_by_its_params(chain, tmp_path, capsys):
    folder = _copy(chain, "backtest", tmp_path)
    run_stage(folder, "backtest")
    _charted(folder, "backtest")
    said = capsys.readouterr().out
    p, bars, test, val, costs, missing = _backtest_inputs(folder)
    grid = to_grid(test)
    sized = size(grid, bars, val, p, costs)
    strategies = [Strategy(name, 0.51, 1, p.max_swaps, "sector") for name in STRATEGIES] + [
        Strategy(name, weights=w) for name, w in sized.weights.items()]
    result = backtest_grid(grid, strategies, costs, Capacity(50000, 0.0001))
    chosen = result.daily["long_short"]
    assert pl.read_parquet(folder / "data" / "backtest" / "returns.parquet").equals(
        chosen.select("date", "strategy", "benchmark", "turnover"))
    summary = _json(folder, "data/backtest/summary.json")
    expected = json.loads(json.dumps(backtest_metrics(result.daily, "long_short", 250, 0.0001, 4 + sized.trials)))
    assert {k: v for k, v in summary["strategies"]["kelly"].items() if k != "effective_bets"} == pytest.approx(
        expected["strategies"]["kelly"], nan_ok=True)
    assert (summary["test"], summary["benchmark"]) == (pytest.approx(expected["test"], nan_ok=True),
                                                       pytest.approx(expected["benchmark"], nan_ok=True))
    assert set(summary["strategies"]) == set(STRATEGIES) | set(sized.weights) and len(sized.weights) >= 3
    assert (summary["fill"], summary["tradable_fill"], summary["trials"]) == ("next_close", True, 4 + sized.trials)
    assert summary["tickers_without_universe_row"] == missing == ["S0005"] and summary["delisted_tickers"] == 0
    assert summary["sectors"] == pytest.approx(dict(sector_contributions(result.grid, result.books["long_short"])
                                                    .iter_rows()))
    assert {"Energy", "Utilities", "Financials", "unknown"} <= set(summary["sectors"])
    capacity = capacity_table(result.grid, strategies[STRATEGIES.index("long_short")], costs,
                              chosen["benchmark"].to_numpy(), CAPITALS, 0.0001)
    assert pl.read_csv(folder / "plots" / "capacity.csv")["capital"].to_list() == CAPITALS
    assert _same(pl.DataFrame(summary["capacity"]["table"]).select(capacity.columns), capacity)
    regimes = regime_table(chosen, [Regime(r.name, r.start, r.end) for r in p.regimes], 250)
    assert _same(pl.read_csv(folder / "plots" / "regimes.csv"), regimes)
    assert regimes["regime"].to_list() == ["early", "late"]
    for name, frame in curves(result.daily, "long_short", 50000).items():
        assert _same(pl.read_csv(folder / "plots" / f"{name}.csv").drop("date"), frame.drop("date")), name
    correlation = pl.read_csv(folder / "plots" / "correlation.csv")
    assert np.allclose(correlation["average_correlation"].to_numpy(), average_correlation(grid, sized.history, 20),
                       equal_nan=True) and correlation.height == len(grid.dates)
    assert summary["sizing"]["average_correlation"] == pytest.approx(correlation["average_correlation"].mean())
    assert summary["strategies"]["mean_variance"]["effective_bets"] == pytest.approx(
        effective_bets(result.books["mean_variance"].weights, sized.history, 20))
    assert _json(folder, "metrics/backtest.json") == backtest_headline(summary)
    assert "backtest: 1 tickers not in the universe file, sector 'unknown': S0005\n" in said
    assert f"backtest: long_short filled at next_close: sharpe {summary['test']['sharpe']:.2f}" in said
    assert "backtest: ppo not run: " in said


def test_the_backtest_stages_ppo_agents_each_add_a_trial_to_the_deflated_sharpe(chain, tmp_path):
    """Choosing the best of n agents on val is n more experiments: backtest.trials + n deflates the Sharpe."""
    folder = _copy(chain, "backtest", tmp_path)
    set_params(folder, {"backtest": {"ppo": {"seeds": [3, 4], "timesteps": 64, "n_steps": 32, "episode_days": 10}}})
    run_stage(folder, "backtest")
    summary = _json(folder, "data/backtest/summary.json")
    strategy = pl.read_parquet(folder / "data" / "backtest" / "returns.parquet")["strategy"].to_numpy()
    assert summary["trials"] == 4 + 2 and "ppo" in summary["strategies"]
    assert summary["test"]["deflated_sharpe"] == pytest.approx(summarize(strategy, 250, 0.0001, 6)["deflated_sharpe"])
    assert summarize(strategy, 250, 0.0001, 6)["deflated_sharpe"] != pytest.approx(
        summarize(strategy, 250, 0.0001, 2)["deflated_sharpe"])


def test_the_backtest_stage_refuses_a_chosen_policy_that_did_not_run(chain, tmp_path):
    """ppo learns on val: with test predictions alone (a model refit on train+val) it cannot run."""
    folder = _copy(chain, "backtest", tmp_path)
    path = folder / "data" / "predictions" / "predictions.parquet"
    pl.read_parquet(path).filter(pl.col("segment") == "test").write_parquet(path)
    set_params(folder, {"backtest": {"strategy": "ppo", "ppo": {"seeds": [0]}}})
    with pytest.raises(StockcastError, match=r"^backtest.strategy: ppo was not run: no val predictions"):
        run_stage(folder, "backtest")


@pytest.mark.parametrize("strategy, traded", [("long_flat", "long_flat"), ("kelly", "long_short"),
                                               ("topk_dropout", "topk_dropout")])
def test_the_walkforward_stage_retrains_on_the_last_folds_and_trades_them(chain, tmp_path, capsys, strategy, traded):
    """walkforward.model on the last walkforward.max_folds folds, traded by backtest's rules (topk_dropout with
    its max_swaps); a sizing policy (calibrated on val, which the folds lack) trades the book it sizes,
    long_short."""
    folder = _copy(chain, "walkforward", tmp_path)
    set_params(folder, {"backtest": {"strategy": strategy, "max_swaps": 2}})
    run_stage(folder, "walkforward")
    _charted(folder, "walkforward")
    said = capsys.readouterr().out
    with _inside(folder):
        train, bt = load_section("train").model_copy(update={"model": "logreg"}), load_section("backtest")
        table = read_universe_file(load_section("universe").path)
    every = [Fold(f["fold"], tuple(f["train"]), tuple(f["val"]), tuple(f["test"]))
             for f in _json(folder, "data/splits/folds.json")["folds"]]
    assert len(every) > 3
    names = [f["name"] for f in _json(folder, "data/features/manifest.json")["features"]]
    panel = _panel(folder, names)
    folds = {fold.fold: fold_predictions(panel, fold, train, tmp_path / "logs", 2) for fold in every[-3:]}
    stitched = pl.concat(list(folds.values()))
    assert pl.read_parquet(folder / "data" / "walkforward" / "predictions.parquet").equals(stitched)
    bars = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    universe, _ = universe_of(bars["ticker"], table)
    holdings = holding_returns(bars, "next_close", universe, 10)
    tradable = {n: tradable_predictions(f, holdings, universe, 0.0, 1000.0) for n, f in folds.items()}
    result = walk_forward(tradable, Strategy(traded, 0.51, 1, bt.max_swaps, "sector"),
                          Costs(cost_per_side(7, 3), 40.0, 250), 4, Capacity(50000, 0.0001))
    summary = _json(folder, "data/walkforward/summary.json")
    accuracy = float(np.mean(calls(stitched, 0.5) == stitched["label"].to_numpy()))
    assert {k: summary[k] for k in ("model", "strategy", "folds", "rows")} == {
        "model": "logreg", "strategy": traded, "folds": 3, "rows": stitched.height}
    assert summary["accuracy"] == pytest.approx(accuracy) and accuracy != 0.5  # 0.5: right and wrong alike
    assert (summary["test"], summary["benchmark"]) == (pytest.approx(result.summary["strategy"], nan_ok=True),
                                                       pytest.approx(result.summary["benchmark"], nan_ok=True))
    headline = _json(folder, "metrics/walkforward.json")
    assert headline == summary | {side: {k: v for k, v in summary[side].items() if k in keys}
                                  for side, keys in HEADLINE.items()}
    assert set(headline["test"]) < set(summary["test"])
    equity = pl.read_csv(folder / "plots" / "walkforward_equity.csv", try_parse_dates=True)
    assert equity.columns == ["date", "strategy", "benchmark"] and equity["date"].equals(result.returns["date"])
    assert np.allclose(equity["strategy"].to_numpy(), (1 + result.returns["strategy"]).cum_prod().to_numpy() * 50000)
    assert np.allclose(equity["benchmark"].to_numpy(),
                       (1 + result.returns["benchmark"]).cum_prod().to_numpy() * 50000)
    assert _same(pl.read_csv(folder / "plots" / "walkforward_folds.csv"), result.folds)
    assert f"walkforward: 3 folds, accuracy {accuracy:.4f}, sharpe" in said
    assert said.count("walkforward: fold ") == 3 and all(
        f"test {fold.test[0]}..{fold.test[1]}: {folds[fold.fold]['date'].n_unique()} days, "
        f"{folds[fold.fold].height} predictions" in said for fold in every[-3:])
    assert sorted(p.name for p in (folder / "logs" / "walkforward").iterdir()) == [
        f"fold_{fold.fold}" for fold in every[-3:]]


def test_the_walkforward_stage_fits_three_classes_when_the_split_labels_flat_moves(chain, tmp_path):
    """split.dead_zone_mode flat: a third class, which each fold's model learns (boundaries.json says 3)."""
    folder = _copy(chain, "walkforward", tmp_path)
    set_params(folder, {"split": {"dead_zone": 0.004, "dead_zone_mode": "flat"}, "walkforward": {"max_folds": 1}})
    run_stage(folder, "split")
    assert _json(folder, "data/splits/boundaries.json")["n_classes"] == 3
    run_stage(folder, "walkforward")
    with _inside(folder):
        train = load_section("train").model_copy(update={"model": "logreg"})
    last = _json(folder, "data/splits/folds.json")["folds"][-1]
    fold = Fold(last["fold"], tuple(last["train"]), tuple(last["val"]), tuple(last["test"]))
    names = [f["name"] for f in _json(folder, "data/features/manifest.json")["features"]]
    expected = fold_predictions(_panel(folder, names), fold, train, tmp_path / "logs", 3)
    assert has_flat_class(expected) and 2 in expected["label"].to_list()
    assert pl.read_parquet(folder / "data" / "walkforward" / "predictions.parquet").equals(expected)


def test_the_predict_stage_scores_every_tickers_latest_window(chain, tmp_path, capsys):
    """Every ticker quality saw gets a row: scored by the model at evaluate.threshold, or listed with why
    not (ZZZZ: every bar quarantined; S0002, with one bar quarantined, is scored)."""
    folder = _copy(chain, "predict", tmp_path)
    path = folder / "data" / "quarantine" / "ohlcv.parquet"
    clean = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet").filter(pl.col("ticker") == "S0001").head(3)
    rejected = clean.with_columns(ticker=pl.Series(["ZZZZ", "ZZZZ", "S0002"]),  # S0002 has clean bars too
                                  rule=pl.Series(["zero_volume", "stale_price", "zero_volume"]),
                                  broken=pl.lit(["zero_volume"]), detail=pl.lit("planted"))
    pl.concat([pl.read_parquet(path), rejected], how="vertical_relaxed").write_parquet(path)
    features = pl.scan_parquet(folder / "data" / "features" / "features.parquet")
    threshold = 0.01  # far from the default 0.5: every scored ticker is called up
    set_params(folder, {"evaluate": {"threshold": threshold}})
    run_stage(folder, "predict", f"models/{MODEL}")
    said = capsys.readouterr().out
    scorer = Scorer.load(folder / "models" / MODEL, threshold)
    signals = scorer.signals(features)
    why = "every bar quarantined by quality (stale_price, zero_volume)"
    reason = pl.DataFrame({"ticker": ["ZZZZ"], "reason": [why]})
    expected = pl.concat([signals, unscorable(reason, scorer)], how="vertical_relaxed").sort("ticker")
    table = pl.read_parquet(folder / "data" / "signals" / "latest.parquet")
    assert table.equals(expected) and table.height == 7
    assert pl.read_csv(folder / "data" / "signals" / "latest.csv", try_parse_dates=True).height == 7
    scored = signals.filter(pl.col("reason").is_null())
    assert scored["call"].to_list() == ["up"] * 6
    assert _json(folder, "metrics/predict.json") == {
        "as_of": str(scored["as_of"].max()), "tickers": 7, "scored": 6, "unscored": 1,
        "stale": int(scored["stale"].sum()), "calls_up": 6}  # only the calls made are counted
    assert f"predict: {MODEL} {scorer.hash[:12]} -> data/signals/latest.parquet: " in said
    assert f"predict: ZZZZ not scored: {why}\n" in said


def test_the_monitor_stage_reports_drift_and_live_accuracy_by_its_params(chain, tmp_path, capsys):
    folder = _copy(chain, "monitor", tmp_path)
    run_stage(folder, "monitor", f"models/{MODEL}")
    _charted(folder, "monitor")
    said = capsys.readouterr().out
    with _inside(folder):
        params, threshold = load_section("monitor"), load_section("evaluate").threshold
    scorer = Scorer.load(folder / "models" / MODEL, threshold)
    gain = _json(folder, f"models/{MODEL}/model/importance.json")["gain"]
    result = monitor(scorer, pl.scan_parquet(folder / "data" / "features" / "features.parquet"),
                     pl.read_parquet(folder / "data" / "splits" / "labels.parquet"),
                     pl.read_parquet(folder / "data" / "predictions" / "predictions.parquet"),
                     _json(folder, "data/predictions/scores.json")["test"], params, gain)
    metrics = _json(folder, "metrics/monitor.json")
    assert json.dumps(metrics, sort_keys=True) == json.dumps(result.metrics, sort_keys=True, default=str)
    assert metrics["drift"]["method"] == "ks"
    assert _same(pl.read_csv(folder / "plots" / "monitor_drift.csv"), result.drift)
    importance = pl.read_csv(folder / "plots" / "monitor_importance.csv")
    assert _same(importance, result.importance) and "gain_at_training" in importance.columns
    drifted = metrics["drift"]["features_drifted"]
    assert f"monitor: {drifted} of {len(metrics['features'])} features drifted (ks)" in said
    set_params(folder, {"train": {"model": "logreg"}})  # no importance.json: no training gain to compare with
    run_stage(folder, "train")
    run_stage(folder, "monitor", "models/logreg")
    assert "gain_at_training" not in pl.read_csv(folder / "plots" / "monitor_importance.csv").columns


EXPERIMENTS = [{"rev": "workspace", "experiments": None, "data": {
    "params": {"params.yaml": {"data": {"backtest": {"top_k": 1}}}},
    "metrics": {"metrics/backtest.json": {"data": {"test": {"sharpe": 0.25}}}}}}]


def _without_images(page: str) -> str:
    return re.sub(r"src='data:image/png;base64,[^']+'", "src=''", page)


REPORT_TITLES = ["Equity against the benchmark (test segment)", "Drawdown (test segment)",
                 "Capacity: net Sharpe against capital", "Universe: rolling average pairwise correlation (test)",
                 "ROC (test)", "Calibration (test)", "Confusion (test)", "Accuracy per year (test)",
                 "Cumulative information coefficient (test)", f"Feature importance: {MODEL}/model",
                 "Walk-forward equity: logreg retrained on each of 3 folds"]
EXPERIMENTS_TABLE = ("<h2>Experiments (dvc exp show)</h2>\n<table><tr><th></th><th>backtest test.sharpe</th></tr>"
                     "<tr><th>workspace</th><td>0.2500</td></tr></table>")


def _expected_report(folder: Path) -> str:
    """render() of the run's files in `folder`, images left empty, with EXPERIMENTS; checks the model card."""
    bundle = folder / "models" / MODEL / "model"
    _, config = load_model(bundle)
    read = {name: _json(folder, f"data/{name}.json") for name in ("predictions/scores", "backtest/summary",
                                                                   "quarantine/report", "splits/coverage",
                                                                   "walkforward/summary")}
    card = card_sections(CardInputs(
        config, config_hash(bundle), read["quarantine/report"], _json(folder, "data/features/manifest.json"),
        _json(folder, "data/splits/boundaries.json"), read["predictions/scores"], read["backtest/summary"],
        {"strategy": "long_short", "cost_bps": 7.0, "slippage_bps": 3.0, "borrow_bps_per_year": 40.0,
         "max_participation": 0.0001}, read["splits/coverage"]["tickers"]))
    assert (folder / "models" / MODEL / "MODEL_CARD.md").read_text() == to_markdown(
        card, f"Model card: {MODEL} (chain report)")
    plots = folder / "plots"
    walkforward = read["walkforward/summary"]
    scored = dict(pl.read_csv(plots / "accuracy_by_ticker.csv").select("ticker", "n").iter_rows())
    comparisons = {
        "Coverage: who trained (train windows) and who was scored (test predictions)": coverage_rows(
            read["splits/coverage"], config["windows_by_ticker"]["train"], scored),
        "The trained model (best validation scores)": model_rows(MODEL, config),
        "Walk-forward (stitched out-of-sample, net of costs)": {
            "strategy": walkforward["test"], "benchmark": walkforward["benchmark"]},
        "Walk-forward folds": {f"fold {r['fold']}": r for r in pl.read_csv(plots / "walkforward_folds.csv").to_dicts()},
        **monitor_rows(_json(folder, "metrics/monitor.json"), pl.read_csv(plots / "monitor_drift.csv"),
                       pl.read_csv(plots / "monitor_importance.csv")),
        "Experiments (dvc exp show)": experiment_rows(EXPERIMENTS)}
    return render("chain report", read["predictions/scores"], read["backtest/summary"], read["quarantine/report"],
                  dict.fromkeys(REPORT_TITLES, ""), pl.read_csv(plots / "regimes.csv", try_parse_dates=True),
                  comparisons, card)


DRAWN_FROM = {"equity_plot": "equity", "drawdown_plot": "drawdown", "capacity_plot": "capacity",
          "correlation_plot": "correlation", "roc_plot": "roc", "calibration_plot": "calibration",
          "confusion_plot": "confusion", "accuracy_by_year_plot": "accuracy_by_year", "ic_plot": "ic"}


def test_the_report_stage_puts_each_chart_of_its_own_file_under_its_title(chain, tmp_path, monkeypatch):
    """The report stage with its chart functions replaced by stand-ins that record what they were given: each
    chart is drawn from its own plots/*.csv (the importance chart from the bundle's importance.json, the last
    from the walk-forward equity) and lands under its title, and the page is otherwise render() of the run's
    files. Quick (no matplotlib): the test below checks the real images."""
    folder = _copy(chain, "report", tmp_path)
    (folder / "exps.json").write_text(json.dumps(EXPERIMENTS))
    module, drawn = stage("report"), []
    for name in [*DRAWN_FROM, "importance_plot"]:
        monkeypatch.setattr(module, name, lambda data, name=name: drawn.append((name, data)) or
                            f"data:image/png;base64,{name}{len(drawn)}")
    run_stage(folder, "report", f"models/{MODEL}", "exps.json", module=module)
    page = (folder / "reports" / "index.html").read_text()
    assert _without_images(page) == _without_images(_expected_report(folder))
    read = lambda path: pl.read_csv(folder / path, try_parse_dates=True)  # noqa: E731
    expected = [*((name, read(f"plots/{file}.csv")) for name, file in DRAWN_FROM.items()),
                ("importance_plot", read_importance(folder / "models" / MODEL / "model" / "importance.json")),
                ("equity_plot", read("plots/walkforward_equity.csv"))]
    assert [name for name, _ in drawn] == [name for name, _ in expected]
    for (_, given), (name, data) in zip(drawn, expected):
        assert given == data if isinstance(data, dict) else given.equals(data), name
    figures = re.findall(r"<figcaption>([^<]+)</figcaption><img alt='[^']*' src='data:image/png;base64,(\w+)'", page)
    assert figures == [(title, f"{name}{i}") for i, (title, (name, _)) in enumerate(zip(REPORT_TITLES, drawn), 1)]


def test_the_report_stage_writes_the_page_and_card_of_this_runs_files(chain, tmp_path, capsys):
    """The page is render() of this run's files: every plot under its title, the comparison tables (and
    the experiments when `dvc exp show --json` output is given), the model card, also written beside the model."""
    folder = _copy(chain, "report", tmp_path)
    (folder / "exps.json").write_text(json.dumps(EXPERIMENTS))
    run_stage(folder, "report", f"models/{MODEL}", "exps.json")
    said = capsys.readouterr().out
    page = (folder / "reports" / "index.html").read_text()
    expected = _expected_report(folder)
    plots = folder / "plots"
    assert _without_images(page) == _without_images(expected)
    uris = re.findall(r"src='(data:image/png;base64,[^']+)'", page)
    assert len(uris) == len(REPORT_TITLES)
    assert uris[0] == equity_plot(pl.read_csv(plots / "equity.csv", try_parse_dates=True))
    assert uris[-1] == equity_plot(pl.read_csv(plots / "walkforward_equity.csv", try_parse_dates=True))  # dates
    assert EXPERIMENTS_TABLE in page
    page_path = (folder / "reports" / "index.html").resolve()
    assert said.splitlines()[-1] == f"report: {page_path}; model card: models/{MODEL}/MODEL_CARD.md"
    run_stage(folder, "report", f"models/{MODEL}")  # as the dvc stage runs it: no experiments; reports/ is there
    assert _without_images((folder / "reports" / "index.html").read_text()) == _without_images(expected).replace(
        EXPERIMENTS_TABLE + "\n", "")


def test_the_report_stage_refuses_an_edited_model(chain, tmp_path):
    folder = _copy(chain, "report", tmp_path)
    path = folder / "models" / MODEL / "model" / "config.json"
    path.write_text(path.read_text().replace('"best_epoch"', '"best_epoch" ', 1))
    with pytest.raises(StockcastError, match="config.json"):
        run_stage(folder, "report", f"models/{MODEL}")
    assert not (folder / "reports" / "index.html").exists()
