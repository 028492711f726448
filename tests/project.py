"""A copy of this project in a fresh git repo, for tests that drive dvc end to end."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from .conftest import ROOT

TINY = {"train": {"seq_len": 5, "hidden_size": 8, "num_layers": 1, "epochs": 2, "patience": 1, "batch_size": 512},
        "backtest": {"rebalance_days": 21, "ppo": {"seeds": [0], "timesteps": 256, "n_steps": 128}}}
GENERATED = ("metrics/", "dvclive/", "plots/", "models/")


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run a command with the project's venv first on PATH; fail the test with its output if it fails."""
    full_env = os.environ | {"DVC_NO_ANALYTICS": "1",
                             "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"} | (env or {})
    done = subprocess.run(cmd, cwd=cwd, env=full_env, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def set_params(repo: Path, changes: dict) -> None:
    params = yaml.safe_load((repo / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def copy_project(repo: Path) -> Path:
    """The project's files (tracked and new, not ignored, not generated) in a new git repo with tiny params."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file() and not name.startswith(GENERATED) and name != "dvc.lock":
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    set_params(repo, TINY)
    for cmd in (["git", "init", "-q", "-b", "main"], ["git", "config", "user.name", "stockcast test"],
                ["git", "config", "user.email", "test@stockcast.invalid"], ["git", "add", "-A"],
                ["git", "commit", "-qm", "project"]):
        run(cmd, repo)
    return repo


def copy_of(reproduced: Path, repo: Path) -> Path:
    """A copy of a reproduced project (its git history, DVC cache and outputs with it), for a test module
    that changes it: `cp -a` costs seconds where a `dvc repro` costs minutes."""
    shutil.copytree(reproduced, repo, symlinks=True)
    return repo


def wait_for_queue(repo: Path, timeout_s: float = 600) -> str:
    """Poll `dvc queue status` until nothing is queued or running; return its last output."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = run(["dvc", "queue", "status"], repo)
        if "Queued" not in status and "Running" not in status:
            return status
        time.sleep(2)
    raise AssertionError(f"queue still busy after {timeout_s} s:\n{status}")


def reproduced_project(repo: Path, env: dict[str, str] | None = None) -> Path:
    """copy_project, then `dvc repro` (with `env` added) and a commit of dvc.lock and the metrics (as a user would)."""
    copy_project(repo)
    run(["dvc", "repro"], repo, env)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "first run"], repo)
    return repo
