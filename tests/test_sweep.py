"""From the grid to the final model across two machines (docs/experiments.md, the README's grid):
machine A queues and runs its share (the README's `dvc exp run --queue` and `dvc queue start`),
machine B runs its own, both `dvc exp push` to a shared bare git remote (outputs to a local DVC
remote); a third clone `dvc exp pull`s every experiment, compares them (`stockcast compare`), applies
the one validation chose and refits it on train+val."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .project import copy_project, run, set_params, wait_for_queue

SELECT = "best_val_accuracy"


def _clone(origin: Path, dest: Path) -> Path:
    run(["git", "clone", "-q", str(origin), str(dest)], origin.parent)
    for cmd in (["git", "config", "user.name", "stockcast test"], ["git", "config", "user.email", "t@stockcast.invalid"],
                ["dvc", "pull", "-q"]):
        run(cmd, dest)
    return dest


def _experiments(repo: Path) -> dict[str, dict]:
    """name -> (rev, dvclive metrics, lightgbm params) of the experiments `dvc exp show --json` lists."""
    found = {}
    for commit in json.loads(run(["dvc", "exp", "show", "--json"], repo)):
        for exp in commit.get("experiments") or []:
            for rev in exp["revs"]:
                data = rev["data"]
                found[rev["name"]] = {"rev": rev["rev"],
                                      "val": data["metrics"]["dvclive/metrics.json"]["data"],
                                      "leaves": data["params"]["params.yaml"]["data"]["train"]["lightgbm"]["num_leaves"]}
    return found


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("sweep")
    seed = copy_project(root / "seed")
    set_params(seed, {"train": {"model": "lightgbm", "lightgbm": {"num_leaves": 15, "n_estimators": 40,
                                                                  "learning_rate": 0.05, "min_child_samples": 50,
                                                                  "early_stopping_rounds": 5}},
                      "walkforward": {"max_folds": 2}})  # each experiment reruns train onwards: kept short
    run(["git", "init", "-q", "--bare", "-b", "main", str(root / "origin.git")], root)
    run(["dvc", "remote", "add", "-d", "shared", str(root / "dvc-remote")], seed)
    run(["dvc", "repro"], seed)
    run(["git", "add", "-A"], seed)
    run(["git", "commit", "-qm", "baseline: lightgbm, a shared dvc remote"], seed)
    run(["git", "remote", "add", "origin", str(root / "origin.git")], seed)
    run(["git", "push", "-q", "origin", "main"], seed)
    run(["dvc", "push", "-q"], seed)

    a = _clone(root / "origin.git", root / "machine-a")
    run(["dvc", "exp", "run", "--queue", "-S", "train.lightgbm.num_leaves=3,31"], a)
    run(["dvc", "queue", "start", "-j", "1"], a)
    status = wait_for_queue(a)
    assert "Failed" not in status, status
    run(["dvc", "exp", "push", "origin"], a)

    b = _clone(root / "origin.git", root / "machine-b")
    run(["dvc", "exp", "run", "-S", "train.lightgbm.num_leaves=7", "-n", "b-leaves7"], b)
    run(["dvc", "exp", "push", "origin"], b)

    collector = _clone(root / "origin.git", root / "collector")
    run(["dvc", "exp", "pull", "origin"], collector)
    return {"a": _experiments(a), "b": _experiments(b), "machine-a": a, "collector": collector}


@pytest.mark.slow
def test_the_two_machine_sweep_collects_every_experiment(sweep):
    collected = _experiments(sweep["collector"])
    assert len(sweep["a"]) == 2 and list(sweep["b"]) == ["b-leaves7"]
    assert collected.keys() == sweep["a"].keys() | sweep["b"].keys()
    assert sorted(e["leaves"] for e in collected.values()) == [3, 7, 31]
    for name, exp in {**sweep["a"], **sweep["b"]}.items():  # the very commits each machine made
        assert collected[name]["rev"] == exp["rev"] and collected[name]["val"] == exp["val"]


@pytest.mark.slow
def test_the_queued_grid_ran_every_combination_and_exp_show_ranks_it_best_first(sweep):
    assert sorted(e["leaves"] for e in sweep["a"].values()) == [3, 31]
    assert all(0 <= e["val"][SELECT] <= 1 for e in sweep["a"].values())
    table = run(["dvc", "exp", "show", "--csv", "--sort-by", f"dvclive/metrics.json:{SELECT}", "--sort-order", "desc",
                 "--keep", f"Experiment|typ|{SELECT}", "--drop", ".*"], sweep["machine-a"]).strip().splitlines()
    ranked = [(name, float(accuracy)) for name, typ, accuracy in (line.split(",") for line in table[1:])
              if typ.startswith("branch_")]
    assert {name for name, _ in ranked} == set(sweep["a"]), table
    assert all(accuracy == sweep["a"][name]["val"][SELECT] for name, accuracy in ranked), table
    assert [a for _, a in ranked] == sorted((a for _, a in ranked), reverse=True), table


@pytest.mark.slow
def test_compare_names_all_three_and_marks_the_val_best_then_the_refit_scores_test_alone(sweep):
    repo = sweep["collector"]
    collected = _experiments(repo)
    best = max(collected, key=lambda name: collected[name]["val"][SELECT])
    out = run(["stockcast", "compare", "--out", "reports/compare.html"], repo)
    page = (repo / "reports/compare.html").read_text()
    for name in collected:  # in each table: params, val, test, backtest
        label = f"\u2605 {name}: selected by validation" if name == best else name
        assert page.count(f"<tr><th>{label}</th>") == 4, name
    assert set(re.findall(r"\u2605 ([\w-]+)", page)) == {best}
    assert f"selected by validation ({SELECT}): {best}" in out
    assert "<img alt='equity curves' src='data:image/png;base64," in page

    # the README's last steps: apply the val-best (its model comes from the DVC remote), refit, compare
    run(["dvc", "exp", "apply", best], repo)
    selection = json.loads((repo / "models/lightgbm/model/config.json").read_text())
    run(["dvc", "exp", "run", "-S", "train.refit=train_val", "-n", "final"], repo)
    config = json.loads((repo / "models/lightgbm/model/config.json").read_text())
    assert config["params"]["lightgbm"]["num_leaves"] == collected[best]["leaves"]
    rounds = selection["best_epoch"] + 1
    assert config["refit"]["mode"] == "train_val" and config["refit"]["length"] == {"boosting_rounds": rounds}
    assert config["refit"]["selection_windows"] == selection["windows"]
    assert config["refit"]["windows"] == selection["windows"]["train"] + selection["windows"]["val"]
    assert config["best"] == selection["best"]  # the selection fit, run again, chose the same
    evaluate = json.loads((repo / "metrics/evaluate.json").read_text())
    assert "val" not in evaluate and evaluate["selection"]["refit"] == 1
    assert evaluate["selection"]["val_accuracy"] == collected[best]["val"][SELECT]
    script = "import polars as pl; print(sorted(set(pl.read_parquet('data/predictions/predictions.parquet')['segment'])))"
    assert run(["python", "-c", script], repo).strip() == "['test']"
    out = run(["stockcast", "compare", "final", best, "--out", "reports/compare.html"], repo)
    assert "2 experiments (final, " in out
