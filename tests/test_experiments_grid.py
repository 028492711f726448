"""Hyperparameter search: the README's queued grid runs, and exp show ranks it by validation accuracy."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from .project import reproduced_project, run

METRIC = "dvclive/metrics.json:best_val_accuracy"


def _wait_for_queue(repo: Path, timeout_s: float = 600) -> str:
    """Poll `dvc queue status` until nothing is queued or running; return its last output."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo)
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(2)
    raise AssertionError(f"queue still busy after {timeout_s} s:\n{status}")


def _experiments(shown: list[dict]) -> list[dict]:
    """(params, metrics) of every experiment in `dvc exp show --json`, in the order shown."""
    found = []
    for rev in shown:
        for exp in rev.get("experiments") or []:
            for run_ in exp.get("revs", []):
                data = run_.get("data") or {}
                params = data.get("params", {}).get("params.yaml", {}).get("data", {})
                metrics = data.get("metrics", {}).get("dvclive/metrics.json", {}).get("data", {})
                found.append({"name": run_.get("name"), "train": params.get("train", {}), "metrics": metrics})
    return found


@pytest.mark.slow
def test_a_queued_grid_runs_every_combination_and_shows_the_best_first(tmp_path):
    repo = reproduced_project(tmp_path / "repo")
    run(["dvc", "exp", "run", "--queue", "-S", "train.hidden_size=4,8", "-S", "train.num_layers=1"], repo)
    run(["dvc", "queue", "start", "-j", "1"], repo)
    status = _wait_for_queue(repo)
    assert "Failed" not in status, status

    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo))
    grid = [e for e in _experiments(shown) if e["train"].get("num_layers") == 1]
    assert sorted(e["train"]["hidden_size"] for e in grid) == [4, 8]
    assert all(0 <= e["metrics"]["best_val_accuracy"] <= 1 for e in grid)

    table = run(["dvc", "exp", "show", "--csv", "--sort-by", METRIC, "--sort-order", "desc",
                 "--keep", "Experiment|typ|best_val_accuracy", "--drop", ".*"], repo).strip().splitlines()
    rows = [line.split(",") for line in table[1:]]
    ranked = [float(accuracy) for name, typ, accuracy in rows if typ.startswith("branch_")]
    assert len(ranked) == 2 and ranked == sorted(ranked, reverse=True), table
