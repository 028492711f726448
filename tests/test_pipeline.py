"""End to end: the repository, copied into a fresh git repo, reproduces with tiny params."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pytest
import yaml

from stockcast.predict import Scorer
from stockcast.section import TRACE_ENV
from stockcast.schemas import OHLCV, Labels, Predictions, Quarantine, RawOHLCV, Returns, Signals, features_schema

from .conftest import ROOT, TRACE
from .project import copy_of, run, set_params

sys.path.insert(0, str(ROOT / "tools"))
import stage_deps  # noqa: E402

READ_BUT_NOT_A_DVC_PARAM = {
    "train.resume": "continuing an interrupted run gives the same model (bit-identical on CPU): it must not rerun train",
}

def _ran(output: str) -> set[str]:
    return set(re.findall(r"Running stage '([\w-]+)'", output))


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory) -> Path:
    return copy_of(reproduced, tmp_path_factory.mktemp("e2e") / "repo")


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
    assert (repo / "models/lstm/model/model.safetensors").exists() and any((repo / "logs/train").iterdir())
    html = (repo / "reports/index.html").read_text()
    assert "data:image/png;base64," in html and "https://" not in html


def test_predict_lists_every_ticker_quality_saw(repo):
    signals = Signals.validate(pl.read_parquet(repo / "data/signals/latest.parquet"))
    raw = pl.read_parquet(repo / "data/raw/ohlcv.parquet")
    assert signals["ticker"].to_list() == sorted(raw["ticker"].unique())
    summary = json.loads((repo / "metrics/predict.json").read_text())
    assert (summary["tickers"], summary["scored"] + summary["unscored"]) == (signals.height, signals.height)
    assert signals["model_hash"].unique().to_list() == [Scorer.load(repo / "models/lstm").hash]


def test_the_model_card_is_generated_from_this_runs_metrics_and_kept_in_git(repo):
    card = (repo / "models/lstm/MODEL_CARD.md").read_text()
    scores = json.loads((repo / "data/predictions/scores.json").read_text())["test"]
    assert f"| accuracy | {scores['accuracy']:.4f} [{scores['accuracy_low']:.4f}, {scores['accuracy_high']:.4f}] |" in card
    assert f"| sha256 (sealed config.json) | {Scorer.load(repo / 'models/lstm').hash} |" in card
    assert "| fill | next_open |" in card and "## Limits" in card
    assert run(["git", "ls-files", "models/lstm/MODEL_CARD.md"], repo).strip() == "models/lstm/MODEL_CARD.md"
    assert "<h2>Model card</h2>" in (repo / "reports/index.html").read_text()


def test_the_registry_serves_the_trained_model_by_name(repo, tmp_path):
    import dvc.api

    run(["git", "tag", "-a", "lstm@v0.1.0", "-m", "first lstm"], repo)
    run(["dvc", "artifacts", "get", str(repo), "lstm", "-o", str(tmp_path / "lstm")], tmp_path)
    fetched = Scorer.load(tmp_path / "lstm")
    assert fetched.hash == Scorer.load(repo / "models/lstm").hash
    assert (tmp_path / "lstm/MODEL_CARD.md").read_text() == (repo / "models/lstm/MODEL_CARD.md").read_text()
    head = run(["git", "rev-parse", "HEAD"], repo).strip()
    assert dvc.api.artifacts_show("lstm", repo=str(repo)) == {"rev": head, "path": "models/lstm"}


def _leaves(tree: dict, prefix: str = "") -> dict[str, object]:
    out = {}
    for key, value in tree.items():
        out |= _leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {prefix + key: value}
    return out


def test_metrics_files_hold_the_headline_and_the_detail_files_the_rest(repo):
    evaluate = json.loads((repo / "metrics/evaluate.json").read_text())
    headline = {"accuracy", "accuracy_low", "accuracy_high", "null_rate", "p_binomial", "auc", "f1"}
    assert headline <= set(evaluate["test"])
    assert {"majority_class", "always_up"} <= set(evaluate["baselines"])
    scores = json.loads((repo / "data/predictions/scores.json").read_text())
    assert {"precision", "recall", "top_flop_accuracy", "ic_tstat"} <= set(scores["test"])
    assert {k: scores["test"][k] for k in evaluate["test"]} == evaluate["test"]
    test = pl.read_parquet(repo / "data/predictions/predictions.parquet").filter(pl.col("segment") == "test")
    hits = int(((test["prob"] > 0.5).cast(pl.Int8) == test["label"]).sum())  # the stage's numbers are the rows'
    assert (evaluate["test"]["n"], evaluate["test"]["accuracy"]) == (test.height, pytest.approx(hits / test.height))
    backtest = json.loads((repo / "metrics/backtest.json").read_text())
    for side in ("test", "benchmark"):
        assert {"annual_return", "sharpe", "max_drawdown"} <= set(backtest[side])
    assert "win_rate" in json.loads((repo / "data/backtest/summary.json").read_text())["test"]
    quality = json.loads((repo / "metrics/quality.json").read_text())
    report = json.loads((repo / "data/quarantine/report.json").read_text())
    assert quality["quarantined"] == report["by_rule"] and "by_ticker" in report["missing_sessions"]


def test_every_metrics_file_is_small_flat_and_names_no_ticker(repo):
    """So `dvc exp show` stays readable: two levels at most, a few dozen keys, no per-ticker key."""
    tickers = set(pl.read_parquet(repo / "data/raw/ohlcv.parquet")["ticker"].unique())
    features = {f["name"] for f in json.loads((repo / "data/features/manifest.json").read_text())["features"]}
    for path in [*(repo / "metrics").glob("*.json"), repo / "dvclive/metrics.json"]:
        metrics = json.loads(path.read_text())
        if path.name == "monitor.json":  # its per-feature drift block is the format the monitor issue asks for
            assert set(metrics.pop("features")) == features
        leaves = _leaves(metrics)
        assert len(leaves) <= 40, f"{path.name}: {len(leaves)} keys"
        assert all(key.count(".") <= 1 for key in leaves), f"{path.name}: nested deeper than two levels"
        named = {part for key in leaves for part in key.split(".")} & tickers
        assert not named, f"{path.name} has per-ticker keys {named}"


def test_second_repro_does_nothing(repo):
    out = run(["dvc", "repro"], repo)
    assert _ran(out) == set() and "up to date" in out


def test_a_train_param_reruns_exactly_train_and_what_follows_and_exp_show_lists_the_experiment(repo):
    out = run(["dvc", "exp", "run", "-S", "train.hidden_size=4", "--name", "tiny4"], repo)
    assert _ran(out) == {"params", "train", "evaluate", "backtest", "predict", "monitor", "report"}  # walkforward: logreg
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo))
    names = {exp.get("name") for rev in shown for exp in (rev.get("experiments") or []) for exp in exp.get("revs", [])}
    assert "tiny4" in names
    diff = json.loads(run(["dvc", "metrics", "diff", "HEAD", "--json"], repo))
    assert "test.accuracy" in diff["metrics/evaluate.json"] or "test.auc" in diff["metrics/evaluate.json"]


def _read_keys(folder: Path) -> dict[str, set[str]]:
    return {p.stem: set(p.read_text().split()) for p in folder.glob("*.keys")}


def _run_stage(repo: Path, work: Path, stage: str, changes: dict, inputs: tuple[str, ...], trace: Path) -> None:
    """Run one stage script in `work` (a copy of `inputs` from `repo`) with changed params, traced."""
    work.mkdir(parents=True)
    for name in inputs:
        shutil.copytree(repo / name, work / name) if (repo / name).is_dir() else shutil.copy(repo / name, work / name)
    set_params(work, changes)
    done = subprocess.run([sys.executable, str(repo / f"stages/{stage}.py")], cwd=work, capture_output=True,
                          text=True, env={**os.environ, TRACE_ENV: str(trace)})
    assert done.returncode == 0, done.stderr


def _declared(stage: dict, params: dict) -> tuple[set[str], bool, set[str]]:
    """(params keys dvc.yaml lists for the stage, with ${...} resolved; whether it tracks the whole file;
    keys interpolated into its cmd, deps and outs)."""
    def resolve(text: str) -> str:
        def value(match: re.Match) -> str:
            node = params
            for part in match[1].split("."):
                node = node[part]
            return str(node)
        return re.sub(r"\$\{([\w.]+)\}", value, text)

    keys, whole = set(), False
    for entry in stage.get("params", []):
        if isinstance(entry, dict):
            whole = True
        else:
            keys.add(resolve(entry))
    used = set(re.findall(r"\$\{([\w.]+)\}", json.dumps({k: stage.get(k) for k in ("cmd", "deps", "outs")})))
    return keys, whole, used


def _covers(listed: str, key: str) -> bool:
    return key == listed or key.startswith(listed + ".")


def test_each_stage_lists_exactly_the_params_keys_it_reads(repo, reproduced, tmp_path):
    runs = [_read_keys(reproduced.parent / TRACE)]
    # the keys other settings read: the synthetic and directory sources, walk-forward with LightGBM
    directory = {"source": "directory", "path": "data/sample", "pattern": "*.parquet"}
    _run_stage(repo, tmp_path / "ingest", "ingest", {"ingest": {"source": "synthetic"}}, ("params.yaml",),
               tmp_path / "trace1")
    _run_stage(repo, tmp_path / "wf", "walkforward", {"walkforward": {"model": "lightgbm"}},
               ("params.yaml", "data"), tmp_path / "trace2")
    _run_stage(repo, tmp_path / "dir", "ingest", {"ingest": directory}, ("params.yaml", "data/sample"),
               tmp_path / "trace3")
    database = tmp_path / "prices.duckdb"  # the sql source, on a DuckDB copy of the sample
    with duckdb.connect(str(database)) as con:
        con.register("sample", pl.read_parquet(repo / "data/sample/ohlcv.parquet").to_arrow())
        con.execute("CREATE TABLE ohlcv AS SELECT * FROM sample")
    sql = {"source": "sql", "path": str(database), "sql": {"url": f"duckdb:///{database}"}}
    _run_stage(repo, tmp_path / "sql", "ingest", {"ingest": sql}, ("params.yaml",), tmp_path / "trace4")
    runs += [_read_keys(tmp_path / f"trace{i}") for i in (1, 2, 3, 4)]
    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    base = yaml.safe_load((repo / "params.yaml").read_text())
    problems = []
    for name, stage in pipeline.items():
        read_anywhere = set()
        for run_params, keys in zip([base, base | {"ingest": {**base["ingest"], "source": "synthetic"}},
                                     base | {"walkforward": {**base["walkforward"], "model": "lightgbm"}},
                                     base | {"ingest": {**base["ingest"], **directory}},
                                     base | {"ingest": {**base["ingest"], **sql}}], runs):
            if name not in keys:
                continue
            listed, whole, used = _declared(stage, run_params)
            read_anywhere |= keys[name]
            for key in sorted(keys[name]):
                if not whole and key not in READ_BUT_NOT_A_DVC_PARAM and \
                        not any(_covers(k, key) for k in listed | used):
                    problems.append(f"{name} reads {key}, which dvc.yaml does not list")
        listed, _, _ = _declared(stage, base)
        problems += [f"{name} lists {k}, which it never reads" for k in sorted(listed)
                     if not any(_covers(k, key) for key in read_anywhere)]
        assert name in runs[0], f"stage {name} read no params at all"
    assert not problems, "\n".join(problems)


def test_editing_a_module_reruns_exactly_the_stages_that_import_it(repo):
    """Each library module in turn gets a new line; `dvc status` must list exactly the stages whose
    import closure holds it, and nothing else."""
    from dvc.repo import Repo

    pipeline = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    closures = {name: stage_deps.closure(repo / stage_deps.stage_script(stage["cmd"]), repo)
                for name, stage in pipeline.items()}
    wrong = []
    with Repo(str(repo)) as dvc:
        assert dvc.status() == {}
        for module in sorted((repo / "src/stockcast").rglob("*.py")):
            original = module.read_text()
            module.write_text(original + "\n# edited\n")
            try:
                changed = {name.rsplit(":", 1)[-1] for name in dvc.status()}
            finally:
                module.write_text(original)
            expected = {name for name, files in closures.items() if module in files}
            if changed != expected:
                wrong.append(f"{module.relative_to(repo)}: dvc status {sorted(changed)}, closure {sorted(expected)}")
    assert not wrong, "\n".join(wrong)


def _copy(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source, target) if source.is_dir() else shutil.copy2(source, target)


def test_each_stage_runs_on_its_declared_deps_alone_and_writes_only_its_outs(repo, tmp_path):
    """A stage that read an undeclared file would fail here; one that wrote an undeclared file is named."""
    from dvc.repo import Repo

    with Repo(str(repo)) as dvc:
        stages = [(s.name, s.cmd, [d.def_path for d in s.deps], [o.def_path for o in s.outs])
                  for s in dvc.index.stages]
    problems = []
    for name, cmd, deps, outs in stages:
        work = tmp_path / name
        work.mkdir()
        shutil.copy(repo / "params.yaml", work / "params.yaml")
        inputs = [d for d in deps if not stage_deps.is_code_dep(d)]
        for dep in inputs:
            _copy(repo / dep, work / dep)
        before = {p for p in work.rglob("*") if p.is_file()}
        script, *args = cmd.split()[1:]
        done = subprocess.run([sys.executable, str(repo / script), *args], cwd=work, capture_output=True, text=True)
        if done.returncode != 0:
            problems.append(f"{name} fails with only its deps {inputs}: {done.stderr.strip().splitlines()[-1:]}")
            continue
        written = {p.relative_to(work).as_posix() for p in work.rglob("*") if p.is_file() and p not in before}
        undeclared = sorted(w for w in written if not any(w == o or w.startswith(o.rstrip("/") + "/") for o in outs))
        if undeclared:
            problems.append(f"{name} writes {undeclared}, which are not among its outs {outs}")
    assert not problems, "\n".join(problems)


def test_a_bad_param_fails_before_any_output_is_deleted(repo):
    kept = {p: p.read_bytes() for folder in ("models", "dvclive", "logs/train") for p in (repo / folder).rglob("*")
            if p.is_file()}
    done = subprocess.run(["dvc", "exp", "run", "-S", "train.epochs=-5"], cwd=repo, capture_output=True, text=True,
                          env=os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"})
    output = done.stdout + done.stderr
    assert done.returncode != 0 and "train.epochs: Input should be greater than or equal to 1" in output
    assert "Running stage 'train'" not in output
    assert kept and all(p.read_bytes() == content for p, content in kept.items())
    run(["git", "checkout", "--", "params.yaml"], repo)


def test_a_forced_train_trains_afresh_instead_of_replaying_its_finished_checkpoint(repo):
    for _ in range(2):  # the first may find another experiment's checkpoint; the second finds its own, finished
        out = run(["dvc", "repro", "-f", "-s", "train"], repo)
        assert "resuming" not in out and "epoch 0:" in out and "epoch 1:" in out  # TINY: two epochs, trained
    assert "of a finished run; training afresh" in out
    assert not (repo / "checkpoints/train/train.lock").exists()
    coverage = json.loads((repo / "data/splits/coverage.json").read_text())
    assert coverage["dropped"] == [] and len(coverage["tickers"]["train"]) == 8  # the sample keeps every ticker
    assert "Coverage: who trained" in (repo / "reports/index.html").read_text()

