"""Sequence models: a torch net over windows (batch, seq_len, features), trained by stockcast.train.fit,
which the caller hands in as `trainer` (predicting needs no training code)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from safetensors.torch import load_file, save_file
from torch import nn

from stockcast.dataset import loader
from stockcast.errors import StockcastError
from stockcast.models.base import FitResult, Model, NetTrainer, Windows
from stockcast.models.nets import VAL_BATCH, amp_enabled, pick_device, predict_proba
from stockcast.params import TrainParams
from stockcast.training_log import EpochCallback

WEIGHTS = "model.safetensors"


class SequenceModel(Model):
    """Wraps any nn.Module class with `from_config(n_features, params, n_classes)` and forward(x) -> logits
    (one per window for two classes, n_classes per window beyond)."""

    reads_sequences = True

    def __init__(self, net_class: type[nn.Module], n_features: int, params: TrainParams, n_classes: int = 2,
                 trainer: NetTrainer | None = None):
        super().__init__(n_features, params, n_classes, trainer)
        self.net = net_class.from_config(n_features, params, n_classes)

    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        if self.trainer is None:
            raise StockcastError(f"train: {self.params.model} was built for inference; fitting needs a trainer")
        return self.trainer.fit(self.net, data.dataset("train"), data.dataset("val"), self.params, log_dir, on_epoch,
                                checkpoint_dir, self.n_classes)

    def refit(self, data: Windows, selection: FitResult, log_dir: Path) -> dict[str, Any]:
        """As many epochs as early stopping chose: the best epoch's count (best_epoch + 1)."""
        if self.trainer is None:
            raise StockcastError(f"train: {self.params.model} was built for inference; refitting needs a trainer")
        epochs = selection.best_epoch + 1
        self.trainer.fit_epochs(self.net, data.dataset("train"), self.params, epochs, log_dir)
        return {"epochs": epochs}

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        """Inference runs wherever it can (`auto`): a model trained on a GPU predicts on a laptop."""
        device = pick_device("auto")
        self.net.to(device)
        batches = loader(data.dataset(segment), VAL_BATCH, False, 0, device.type == "cuda")
        return predict_proba(self.net, batches, device, self.n_classes, amp_enabled(self.params, device))

    def save(self, directory: Path) -> list[str]:
        save_file({k: v.detach().cpu().contiguous() for k, v in self.net.state_dict().items()}, directory / WEIGHTS)
        return [WEIGHTS]

    def restore(self, directory: Path) -> None:
        self.net.load_state_dict(load_file(directory / WEIGHTS))
