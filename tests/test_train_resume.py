"""Checkpoints and resume: a run killed with SIGKILL and resumed ends exactly where an uninterrupted one does."""

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from stockcast import checkpoint
from stockcast.errors import StockcastError
from stockcast.fitting import trainable
from stockcast.models import Windows
from stockcast.params import TrainParams

# Trains a small LSTM with dropout (so the RNG streams matter) and SIGKILLs itself after epoch `kill_after`.
SCRIPT = """
import json, os, signal, sys
from pathlib import Path
import numpy as np, torch
from safetensors.torch import save_file
from stockcast.fitting import trainable
from stockcast.models import Windows
from stockcast.params import TrainParams
from stockcast.train import seed_everything

torch.set_num_threads(1)
out, kill_after = Path(sys.argv[1]), int(sys.argv[2])
seed_everything(0)
rng = np.random.default_rng(0)
x = rng.normal(0, 1, (900, 3)).astype(np.float32)
y = (x[:, 0] > 0).astype(np.float32)
windows = Windows(x, y, 5, {"train": np.arange(4, 700), "val": np.arange(704, 900)})
params = TrainParams(seq_len=5, hidden_size=8, num_layers=2, dropout=0.3, batch_size=32, lr=0.003, epochs=5,
                     patience=5, resume=True)

def on_epoch(epoch, metrics):
    if epoch == kill_after:
        os.kill(os.getpid(), signal.SIGKILL)

model = trainable("lstm", 3, params)
result = model.fit(windows, out / "logs", on_epoch, out / "checkpoints")
save_file({k: v.contiguous() for k, v in model.net.state_dict().items()}, out / "best.safetensors")
(out / "history.json").write_text(json.dumps(result.history))
"""


def _train(out, kill_after: int) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SCRIPT, str(out), str(kill_after)], capture_output=True, text=True)


def test_a_run_killed_with_sigkill_and_resumed_ends_with_identical_weights(tmp_path):
    killed = _train(tmp_path / "killed", kill_after=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert (tmp_path / "killed/checkpoints" / checkpoint.FILE).exists()
    assert not (tmp_path / "killed/best.safetensors").exists()
    resumed = _train(tmp_path / "killed", kill_after=-1)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming" in resumed.stdout and "after epoch 2" in resumed.stdout
    straight = _train(tmp_path / "straight", kill_after=-1)
    assert straight.returncode == 0, straight.stderr

    history = json.loads((tmp_path / "straight/history.json").read_text())
    assert json.loads((tmp_path / "killed/history.json").read_text()) == history and len(history) == 5
    assert history[-1]["val_loss"] < history[2]["val_loss"], "epochs after the kill changed the weights"
    ours, theirs = load_file(tmp_path / "killed/best.safetensors"), load_file(tmp_path / "straight/best.safetensors")
    assert ours.keys() == theirs.keys()
    for name in ours:
        assert torch.equal(ours[name], theirs[name]), name


def _noise() -> Windows:
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (400, 2)).astype(np.float32)
    y = rng.integers(0, 2, 400).astype(np.float32)
    return Windows(x, y, 3, {"train": np.arange(2, 300), "val": np.arange(302, 400)})


def test_a_checkpoint_of_other_params_is_not_resumed(tmp_path, capsys):
    params = TrainParams(seq_len=3, hidden_size=4, num_layers=1, epochs=2, resume=True)
    trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
    other = params.model_copy(update={"lr": 0.01})
    result = trainable("lstm", 2, other).fit(_noise(), tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
    assert len(result.history) == 2 and "starting afresh" in capsys.readouterr().out


def test_a_finished_run_is_never_replayed_but_trained_afresh(tmp_path, capsys):
    """`dvc repro -f train` (or a changed model file the fingerprint cannot see) reruns a finished
    training: it must train again, not replay the finished checkpoint."""
    params = TrainParams(seq_len=3, hidden_size=4, num_layers=1, epochs=3, patience=3, resume=True)
    torch.manual_seed(0)
    fresh = trainable("lstm", 2, params).fit(_noise(), tmp_path / "fresh", checkpoint_dir=None)
    torch.manual_seed(0)
    first = trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
    assert first.history == fresh.history
    epochs = []
    torch.manual_seed(1)  # other initial weights: a replay would still give `first`'s history
    second = trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", lambda e, m: epochs.append(e),
                                              checkpoint_dir=tmp_path / "ck")
    assert "of a finished run; training afresh" in capsys.readouterr().out
    assert epochs == [0, 1, 2] and second.history != first.history
    torch.manual_seed(0)
    third = trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
    assert third.history == fresh.history  # afresh means exactly as without a checkpoint


def test_an_interrupted_run_still_resumes(tmp_path, capsys):
    params = TrainParams(seq_len=3, hidden_size=4, num_layers=1, epochs=3, patience=3, resume=True)

    def interrupt(epoch, metrics):
        if epoch == 1:
            raise KeyboardInterrupt

    torch.manual_seed(0)
    with pytest.raises(KeyboardInterrupt):
        trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", interrupt, checkpoint_dir=tmp_path / "ck")
    epochs = []
    torch.manual_seed(5)  # the resumed weights come from the checkpoint, not from this seed
    resumed = trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", lambda e, m: epochs.append(e),
                                               checkpoint_dir=tmp_path / "ck")
    assert "resuming" in capsys.readouterr().out and epochs == [0, 1, 2]  # epochs 0, 1 replayed to the logs
    torch.manual_seed(0)
    straight = trainable("lstm", 2, params).fit(_noise(), tmp_path / "straight")
    assert resumed.history == straight.history and resumed.best_epoch == straight.best_epoch


def test_a_damaged_checkpoint_is_a_clear_error(tmp_path):
    params = TrainParams(seq_len=3, hidden_size=4, num_layers=1, epochs=1, resume=True)
    trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
    path = tmp_path / "ck" / checkpoint.FILE
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(StockcastError, match="damaged checkpoint"):
        trainable("lstm", 2, params).fit(_noise(), tmp_path / "logs", checkpoint_dir=tmp_path / "ck")
