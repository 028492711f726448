"""The DVC flows users come for: remotes (local and S3), applying the best experiment, its pull-request diff."""

from __future__ import annotations

import filecmp
import json
import secrets
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import ROOT
from .project import copy_of, run

SECRET = secrets.token_hex(16)  # made at run time, so no file of the project can contain it
OUTPUTS = ("data/cache", "data/raw", "data/clean", "data/quarantine", "data/features", "data/splits", "data/predictions",
           "data/backtest", "models", "reports")


@pytest.fixture(scope="module")
def repo(reproduced, tmp_path_factory) -> Path:
    return copy_of(reproduced, tmp_path_factory.mktemp("workflow") / "repo")


def _same_tree(a: Path, b: Path) -> None:
    files = sorted(p.relative_to(a) for out in OUTPUTS for p in (a / out).rglob("*") if p.is_file())
    assert files, "no outputs to compare"
    match, mismatch, errors = filecmp.cmpfiles(a, b, [str(f) for f in files], shallow=False)
    assert not mismatch and not errors, f"differ: {mismatch}, missing: {errors}"


def _fresh_clone(repo: Path, dest: Path) -> Path:
    run(["git", "clone", "-q", str(repo), str(dest)], repo.parent)
    return dest


def test_pull_from_a_local_remote_gives_identical_outputs(repo, tmp_path):
    # what the download source would have fetched: the cache is an output, so the team pulls it
    shutil.copy(repo / "data/sample/ohlcv.parquet", repo / "data/cache/AAPL.parquet")
    run(["dvc", "commit", "--force", "ingest"], repo)
    run(["git", "commit", "-qam", "a downloaded ticker in the cache"], repo)
    run(["dvc", "remote", "add", "-d", "local", str(tmp_path / "remote")], repo)
    run(["dvc", "push"], repo)
    run(["git", "commit", "-qam", "add a local remote"], repo)
    clone = _fresh_clone(repo, tmp_path / "clone")
    run(["dvc", "pull"], clone)
    _same_tree(repo, clone)
    assert (clone / "data/cache/AAPL.parquet").exists()
    assert "up to date" in run(["dvc", "status"], clone)
    # importing the package writes bytecode into the stages' source folders (deps): no stage is stale for it
    (clone / "src/stockcast/params/__pycache__").mkdir(parents=True, exist_ok=True)
    (clone / "src/stockcast/params/__pycache__/sections.cpython-311.pyc").write_bytes(b"\0")
    assert "up to date" in run(["dvc", "status"], clone)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def s3_server():
    """moto's S3 server on 127.0.0.1 with one bucket; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer
    import boto3

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="stockcast-key",
                 aws_secret_access_key=SECRET, region_name="us-east-1").create_bucket(Bucket="dvc")
    yield endpoint
    server.stop()


def _s3_credentials(repo: Path) -> None:
    """Credentials go to .dvc/config.local (git-ignored), as the README says."""
    run(["dvc", "remote", "modify", "--local", "s3", "access_key_id", "stockcast-key"], repo)
    run(["dvc", "remote", "modify", "--local", "s3", "secret_access_key", SECRET], repo)


def test_pull_from_an_s3_remote_gives_identical_outputs_and_keeps_secrets_out_of_git(repo, tmp_path, s3_server):
    run(["dvc", "remote", "add", "s3", "s3://dvc/stockcast"], repo)
    run(["dvc", "remote", "modify", "s3", "endpointurl", s3_server], repo)
    _s3_credentials(repo)
    run(["dvc", "push", "-r", "s3"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "add an s3 remote"], repo)
    tracked = subprocess.run(["git", "grep", "-l", SECRET], cwd=repo, capture_output=True, text=True)
    assert tracked.stdout == "", f"a credential is in a tracked file: {tracked.stdout}"
    assert SECRET in (repo / ".dvc/config.local").read_text()

    clone = _fresh_clone(repo, tmp_path / "clone")
    _s3_credentials(clone)
    run(["dvc", "pull", "-r", "s3"], clone)
    _same_tree(repo, clone)
    assert "up to date" in run(["dvc", "status"], clone)


def test_the_best_experiment_can_be_applied_and_the_pr_report_names_what_it_changed(repo):
    for size in (3, 4):
        run(["dvc", "exp", "run", "-S", f"train.hidden_size={size}", "--name", f"h{size}"], repo)
    table = run(["dvc", "exp", "show", "--md", "--sort-by", "metrics/evaluate.json:val.auc", "--sort-order", "desc"],
                repo)
    assert "h3" in table and "h4" in table
    shown = json.loads(run(["dvc", "exp", "show", "--json"], repo))
    scores = {}
    for rev in shown:
        for exp in rev.get("experiments") or []:
            for r in exp["revs"]:
                metrics = r["data"]["metrics"]["metrics/evaluate.json"]["data"]
                scores[r["name"]] = metrics["val"]["auc"]
    best = max(scores, key=scores.get)
    run(["dvc", "exp", "apply", best], repo)
    params = (repo / "params.yaml").read_text()
    assert f"hidden_size: {best[1:]}" in params
    # what CML would post on the pull request that commits the applied experiment
    shutil.copy(ROOT / "Makefile", repo / "Makefile")
    out = run(["make", "--no-print-directory", "pr-report", "BASE=HEAD"], repo)
    assert "train.hidden_size" in out and "| 8 " in out and f"| {best[1:]} " in out
    assert "metrics/evaluate.json" in out and "test.auc" in out
