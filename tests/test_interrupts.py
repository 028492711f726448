"""Interrupted and racing runs of the real train stage: Ctrl-C is one line and status 130, a second
trainer on the same checkpoints is refused, a dead trainer's lock is taken over, and a trainer run by
dvc dies with dvc instead of living on as an orphan."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from stockcast.errors import INTERRUPTED, StockcastError
from stockcast.runlock import exclusive

from .conftest import ROOT

LOCK = Path("checkpoints/train/train.lock")
ENV = os.environ | {"PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> Path:
    """A project whose ingest..split stages ran on a small synthetic market; training never ends by itself."""
    repo = tmp_path_factory.mktemp("stages")
    shutil.copytree(ROOT / "stages", repo / "stages")
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["ingest"] |= {"source": "synthetic", "synthetic": params["ingest"]["synthetic"] | {"tickers": 3, "days": 1000}}
    params["universe"]["path"] = str(ROOT / params["universe"]["path"])  # quality reads it from the stage's cwd
    params["split"]["folds"] |= {"min_train_days": 300, "train_days": 300, "step_days": 100}
    params["train"] |= {"seq_len": 5, "hidden_size": 4, "num_layers": 1, "batch_size": 512, "epochs": 100000,
                        "patience": 100000}
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    for stage in ("ingest", "quality", "features", "split"):
        done = subprocess.run([sys.executable, f"stages/{stage}.py"], cwd=repo, capture_output=True, text=True,
                              check=False)
        assert done.returncode == 0, done.stderr
    return repo


@pytest.fixture
def project(inputs, tmp_path) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(inputs, repo)
    return repo


def _train(repo: Path, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "stages/train.py"], cwd=repo, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _wait_for(process: subprocess.Popen, text: str, timeout: float = 120) -> list[str]:
    """Stdout lines of `process` up to the first that holds `text`."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            pytest.fail(f"train ended before printing {text!r}: {lines} {process.stderr.read()}")
        lines.append(line)
        if text in line:
            return lines
    pytest.fail(f"no {text!r} within {timeout} s: {lines}")


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for a reaper."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_ctrl_c_in_a_stage_prints_one_line_and_exits_130(project):
    trainer = _train(project)
    _wait_for(trainer, "epoch 0:")
    trainer.send_signal(signal.SIGINT)
    _, err = trainer.communicate(timeout=60)
    assert trainer.returncode == INTERRUPTED
    assert err.splitlines() == ["interrupted: train.py stopped by Ctrl-C; its outputs are incomplete, run it again"]
    assert not (project / LOCK).exists()


def test_a_second_trainer_is_refused_and_a_dead_ones_lock_is_taken_over(project):
    first = _train(project)
    _wait_for(first, "epoch 0:")
    assert (project / LOCK).read_text().strip() == str(first.pid)
    second = _train(project)
    _, err = second.communicate(timeout=120)
    assert second.returncode == 2
    refusal = (f"error: {LOCK}: another trainer (pid {first.pid}) is using {LOCK.parent}; "
               f"wait for it to finish or stop it (kill {first.pid})")
    assert err.splitlines() == [refusal]
    first.kill()  # SIGKILL: no cleanup, the lock file stays with a dead pid in it
    first.wait()
    assert (project / LOCK).read_text().strip() == str(first.pid)
    third = _train(project)
    lines = _wait_for(third, "epoch")
    assert f"{LOCK}: took over the lock of pid {first.pid}, which no longer runs\n" in lines
    assert any("resuming" in line for line in lines)  # the dead trainer's checkpoint is unfinished
    third.send_signal(signal.SIGINT)
    third.communicate(timeout=60)
    assert third.returncode == INTERRUPTED


PARENT = """
import subprocess, sys, os
log = open(sys.argv[1], "w")
child = subprocess.Popen([sys.executable, "stages/train.py"], env=os.environ | {"DVC_STAGE": "train"},
                         stdout=log, stderr=subprocess.STDOUT)
print(child.pid, flush=True)
child.wait()
"""


def test_a_trainer_run_by_dvc_dies_with_dvc(project, tmp_path):
    log = tmp_path / "train.log"
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(log)], cwd=project, env=ENV, text=True,
                              stdout=subprocess.PIPE)
    child = int(parent.stdout.readline())
    deadline = time.monotonic() + 120
    while "epoch 0:" not in (log.read_text() if log.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _alive(child), log.read_text()
    parent.kill()  # as `kill -9 <dvc>` would
    parent.wait()
    deadline = time.monotonic() + 20
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child), "the trainer outlived its parent"


HOLDER = """
import sys, time
from pathlib import Path
from stockcast.runlock import exclusive
with exclusive(Path(sys.argv[1]), "trainer"):
    print("held", flush=True)
    time.sleep(60)
"""


def test_the_lock_is_refused_while_held_and_free_once_released(tmp_path):
    path = tmp_path / "ck" / "train.lock"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)], text=True, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(StockcastError, match=f"another trainer \\(pid {holder.pid}\\)"), \
                exclusive(path, "trainer"):
            pass
    finally:
        holder.kill()
        holder.wait()
    with exclusive(path, "trainer"):
        assert path.read_text() == f"{os.getpid()}\n"
    assert not path.exists()
