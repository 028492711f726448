"""End to end: the repository, copied into a fresh git repo, reproduces with tiny params."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
import yaml

from stockcast.schemas import OHLCV, Labels, Predictions, Quarantine, RawOHLCV, Returns, features_schema

from .conftest import ROOT

TINY = {"train": {"seq_len": 5, "hidden_size": 8, "num_layers": 1, "epochs": 2, "patience": 1, "batch_size": 512}}


def _run(cmd: list[str], cwd: Path) -> str:
    env = os.environ | {"DVC_NO_ANALYTICS": "1", "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _set_params(repo: Path, changes: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A fresh git repo holding the project's files (tracked and new), with tiny train params."""
    repo = tmp_path_factory.mktemp("e2e") / "repo"
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not name.startswith(("metrics/", "dvclive/", "plots/")) and name != "dvc.lock":
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    _set_params(repo, TINY)
    for cmd in (["git", "init", "-q"], ["git", "config", "user.name", "stockcast test"],
                ["git", "config", "user.email", "test@stockcast.invalid"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "project"]):
        _run(cmd, repo)
    _run(["dvc", "repro"], repo)
    _run(["git", "add", "-A"], repo)
    _run(["git", "commit", "-qm", "first run"], repo)
    return repo


def test_every_output_honours_its_contract(repo):
    RawOHLCV.validate(pl.read_parquet(repo / "data/raw/ohlcv.parquet"))
    clean = OHLCV.validate(pl.read_parquet(repo / "data/clean/ohlcv.parquet"))
    quarantine = Quarantine.validate(pl.read_parquet(repo / "data/quarantine/ohlcv.parquet"))
    manifest = json.loads((repo / "data/features/manifest.json").read_text())
    features_schema([f["name"] for f in manifest["features"]]).validate(
        pl.read_parquet(repo / "data/features/features.parquet"))
    Labels.validate(pl.read_parquet(repo / "data/splits/labels.parquet"))
    Predictions.validate(pl.read_parquet(repo / "data/predictions/predictions.parquet"))
    Returns.validate(pl.read_parquet(repo / "data/backtest/returns.parquet"))
    quality = json.loads((repo / "metrics/quality.json").read_text())
    assert quality["rows_in"] == clean.height + quarantine.height == quality["rows_clean"] + quality["rows_quarantined"]
    assert (repo / "models/lstm/model.safetensors").exists() and any((repo / "logs/train").iterdir())
    html = (repo / "reports/index.html").read_text()
    assert "data:image/png;base64," in html and "https://" not in html


def test_metrics_files_keep_their_contract(repo):
    evaluate = json.loads((repo / "metrics/evaluate.json").read_text())
    assert {"accuracy", "precision", "recall", "f1", "auc"} <= set(evaluate["test"])
    assert {"majority_class", "always_up"} <= set(evaluate["baselines"])
    backtest = json.loads((repo / "metrics/backtest.json").read_text())
    for side in ("test", "benchmark"):
        assert {"annual_return", "sharpe", "max_drawdown", "win_rate"} <= set(backtest[side])


def test_second_repro_does_nothing(repo):
    out = _run(["dvc", "repro"], repo)
    assert _ran(out) == set() and "up to date" in out


def test_a_train_param_reruns_exactly_train_and_what_follows(repo):
    _set_params(repo, {"train": {"hidden_size": 6}})
    out = _run(["dvc", "repro"], repo)
    assert _ran(out) == {"train", "evaluate", "backtest", "report"}
    _run(["git", "checkout", "--", "params.yaml"], repo)
    _run(["dvc", "checkout", "--force"], repo)


def test_an_experiment_is_listed_by_exp_show(repo):
    out = _run(["dvc", "exp", "run", "-S", "train.hidden_size=4", "--name", "tiny4"], repo)
    assert _ran(out) == {"train", "evaluate", "backtest", "report"}
    shown = json.loads(_run(["dvc", "exp", "show", "--json"], repo))
    names = {exp.get("name") for rev in shown for exp in (rev.get("experiments") or []) for exp in exp.get("revs", [])}
    assert "tiny4" in names
    diff = json.loads(_run(["dvc", "metrics", "diff", "HEAD", "--json"], repo))
    assert "test.accuracy" in diff["metrics/evaluate.json"] or "test.auc" in diff["metrics/evaluate.json"]
