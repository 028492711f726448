"""Every command in the README runs in a test and shows what the README says it shows.

The commands are read from the README's bash blocks, so an edit there is an edit here. Those this file
does not run are listed with the test that does (COVERED) or why none can (NOT_RUN).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT
from .project import copy_of, run

COVERED = {
    "make test": ".ci/run runs it on a fresh clone",
    "dvc remote add -d storage s3://my-bucket/stockcast": "tests/test_dvc_workflow.py (an S3 remote on a moto server)",
    "dvc remote modify --local storage access_key_id ...": "tests/test_dvc_workflow.py (credentials in config.local)",
    "dvc push": "tests/test_dvc_workflow.py",
    "dvc pull": "tests/test_dvc_workflow.py",
    "dvc exp run --queue -S 'train.hidden_size=128,256,512' -S 'train.num_layers=2,3,4' -S "
    "'train.dropout=0.1,0.2,0.3' -S 'train.lr=0.001,0.0001,0.00001'": "tests/test_sweep.py (a 2-run grid, queued on machine A)",
    "dvc queue start -j 2": "tests/test_sweep.py",
    "dvc queue status": "tests/test_sweep.py",
    "dvc exp apply <best-name>": "tests/test_dvc_workflow.py",
    "stockcast compare --out reports/compare.html": "tests/test_sweep.py (3 experiments from two clones)",
    "dvc exp run -S train.refit=train_val -n final": "tests/test_sweep.py",
    "stockcast compare final <best-name> --out reports/compare.html": "tests/test_sweep.py",
    "torchrun --standalone --nproc_per_node 8 stages/train.py": "tests/test_train_ddp.py (2 processes, gloo, CPU)",
    'git tag -a lstm@v1.0.0 -m "lstm, seed95, test accuracy in MODEL_CARD.md" && git push --tags':
        "tests/test_pipeline.py (test_the_registry_serves_the_trained_model_by_name: the tag; no remote to push to)",
    "dvc artifacts get https://github.com/you/stockcast lstm -o lstm/":
        "tests/test_pipeline.py (test_the_registry_serves_the_trained_model_by_name, from the local clone)",
    """python -c "import dvc.api; print(dvc.api.artifacts_show('lstm'))\"""":
        "tests/test_pipeline.py (test_the_registry_serves_the_trained_model_by_name)",
    "make daily": "tests/test_daily.py (tools/daily.sh, which it runs, with one new session on the sample)",
    "stockcast monitor --check": "tests/test_monitor.py (through typer's CliRunner, exit 0 and 1)",
    "dvc repro predict": "tests/test_predict.py (the stage in a trained project)",
    "stockcast serve models/lstm --port 8000": "tests/test_serve.py (the command in a subprocess, a free port)",
    "curl -s http://127.0.0.1:8000/health/ready": "tests/test_serve.py (the same request through httpx)",
    "curl -s http://127.0.0.1:8000/v1/signals/AAPL": "tests/test_serve.py (the same request through httpx)",
    "curl -s -X POST http://127.0.0.1:8000/v1/predict -H 'content-type: application/json' -d @bars.json":
        "tests/test_serve.py (the same request through httpx)",
    "stockcast predict bars.csv --out signals.csv": "tests/test_serve.py (through typer's CliRunner)",
}
NOT_RUN = {
    "make run": "it is `make setup` (what `make test` does first) and `dvc repro`, which every end-to-end test runs",
    "docker build -t stockcast-serve . && docker run --rm -p 127.0.0.1:8000:8000 stockcast-serve":
        "needs a Docker daemon; tests/test_serve.py checks the Dockerfile's torch pin against pyproject.toml",
    "torchrun --nnodes 2 --nproc_per_node 8 --rdzv-backend c10d --rdzv-endpoint node0:29500 --rdzv-id stockcast "
    "stages/train.py": "needs two machines",
}
SEED = ("dvc exp run -S train.hidden_size=256 -S train.num_layers=3 -S train.dropout=0.3 -S train.batch_size=64 "
        "-S train.lr=0.0001 -S train.epochs=100 -S train.patience=15 -S train.target_accuracy=0.6")
EVERYDAY = ["dvc repro", "dvc exp run -S train.hidden_size=32",
            "dvc exp show --only-changed --drop 'data/|models/|plots/'", "dvc metrics diff main",
            "dvc params diff main", "dvc plots show"]
LEAKAGE = [
    "dvc exp run -S ingest.source=synthetic -S ingest.synthetic.mode=null -S ingest.synthetic.tickers=30 "
    "-S ingest.synthetic.days=2000 -n null-check",
    "dvc exp run -S ingest.source=synthetic -S ingest.synthetic.mode=planted -S ingest.synthetic.bayes_accuracy=0.58 "
    "-S ingest.synthetic.tickers=30 -S ingest.synthetic.days=2000 -n planted-check",
    "dvc exp show --drop '.*' --keep 'Experiment|test\\.(accuracy|accuracy_low|accuracy_high|null_rate|p_binomial)$'",
]
RUN_HERE = {*EVERYDAY, "stockcast tensorboard", SEED, "dvc exp show --sort-by dvclive/metrics.json:best_val_accuracy "
            "--sort-order desc --drop '.*' --keep 'Experiment|train\\.(hidden_size|num_layers|dropout|lr)$|"
            "best_val_accuracy'", *LEAKAGE}


def readme_commands() -> list[str]:
    """Each command of the README's bash blocks, continuation lines joined, comments and spacing removed."""
    text = (ROOT / "README.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            command = re.split(r"\s+#\s", line)[0].strip()
            if command and not command.startswith("#"):
                commands.append(" ".join(command.split()))
    return commands


def test_every_readme_command_is_run_or_explained():
    commands = readme_commands()
    unaccounted = [c for c in commands if c not in RUN_HERE | set(COVERED) | set(NOT_RUN)]
    assert not unaccounted, f"README commands no test runs: {unaccounted}"
    assert not (RUN_HERE | set(COVERED)) - set(commands), "this file lists commands the README no longer has"
    for command, where in COVERED.items():
        path = where.split()[0]
        assert (ROOT / path).exists(), f"{command}: {path} does not exist"


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory) -> Path:
    return copy_of(reproduced, tmp_path_factory.mktemp("readme") / "repo")


def _sh(command: str, repo: Path, **env: str) -> str:
    return run(shlex.split(command), repo, {"COLUMNS": "220", **env})


def test_the_everyday_commands_show_what_the_readme_says(repo):
    repro, exp_run, show, metrics_diff, params_diff, plots = (_sh(c, repo) for c in EVERYDAY)
    assert "up to date" in repro
    assert "Running stage 'train'" in exp_run and "Running stage 'ingest'" not in exp_run
    header = next(line for line in show.splitlines() if "Experiment" in line)
    assert {"test.accuracy", "test.auc", "best_val_accuracy"} <= set(header.split()), header
    assert "metrics/evaluate.json" in metrics_diff and "test.accuracy" in metrics_diff
    assert "train.hidden_size" in params_diff and "32" in params_diff
    assert (repo / "dvc_plots/index.html").exists() and "dvc_plots/index.html" in plots


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stockcast_tensorboard_serves_the_training_curves(repo):
    port = _free_port()
    env = os.environ | {"PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    server = subprocess.Popen(["stockcast", "tensorboard", "--port", str(port)], cwd=repo, env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline, body = time.monotonic() + 60, ""
        while time.monotonic() < deadline and not body:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/data/runs", timeout=2) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.5)
        assert "train" in json.loads(body or "[]"), body
    finally:  # the command and the tensorboard server it started, as Ctrl-C would stop them
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


def test_the_seed_configuration_trains(repo):
    """The seed's LSTM (256 x 3, batch 64, lr 1e-4) through the pipeline, for one epoch instead of 100."""
    out = _sh(SEED + " -S train.epochs=1 -n seed", repo)
    config = json.loads((repo / "models/lstm/model/config.json").read_text())["params"]
    assert (config["hidden_size"], config["num_layers"], config["batch_size"], config["epochs"]) == (256, 3, 64, 1)
    assert "epoch 0:" in out
    ranked = _sh(next(c for c in RUN_HERE if "--sort-by" in c), repo)
    header = next(line for line in ranked.splitlines() if "Experiment" in line)
    assert header.split() == ["Experiment", "best_val_accuracy", "train.hidden_size", "train.num_layers",
                              "train.dropout", "train.lr"], header


def test_the_leakage_check_finds_no_edge_on_the_null_market_and_the_planted_one(repo):
    for command in LEAKAGE[:2]:
        _sh(command, repo)
    shown = _sh(LEAKAGE[2], repo)
    header = next(line for line in shown.splitlines() if "Experiment" in line).split()
    assert header == ["Experiment", "test.accuracy", "test.accuracy_high", "test.accuracy_low", "test.null_rate",
                      "test.p_binomial"], header
    rows = {line.split()[-6].strip("[]"): [float(v) for v in line.split()[-5:]]
            for line in shown.splitlines() if "-check]" in line}
    accuracy, high, low, null_rate, p_binomial = rows["null-check"]
    assert low <= null_rate <= high and p_binomial > 0.01, rows
    accuracy, high, low, null_rate, p_binomial = rows["planted-check"]
    assert low > null_rate and p_binomial < 1e-6, rows
