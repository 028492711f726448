"""The ensemble: the mean of its members' probabilities (train.ensemble.members).

All members are trained in this one stage run, each with the shared train params, and saved as
complete models in sub-folders (models/ensemble/<member>/), so each can also be inspected alone.
Members' training curves go to tensorboard under logs/train/<member>/; dvclive gets the ensemble's
val scores and each member's best (`<member>_val_accuracy`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from stockcast.models.base import FitResult, Model, NetTrainer, Windows
from stockcast.params import TrainParams
from stockcast.models.selection import class_scores
from stockcast.training_log import EpochCallback, log_history


class Ensemble(Model):
    """Averages the class probabilities (with two classes: P(up)) of models built from the registry."""

    def __init__(self, n_features: int, params: TrainParams, n_classes: int = 2, trainer: NetTrainer | None = None):
        from stockcast.models import build  # the registry imports this module, so import it late

        super().__init__(n_features, params, n_classes, trainer)
        self.members = {name: build(name, n_features, params.model_copy(update={"model": name}), n_classes, trainer)
                        for name in params.ensemble.members}
        self.reads_sequences = any(m.reads_sequences for m in self.members.values())

    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        bests, results = {}, {}
        for name, member in self.members.items():
            results[name] = member.fit(data, Path(log_dir) / name, None,
                                       None if checkpoint_dir is None else Path(checkpoint_dir) / name)
            bests |= {f"{name}_{k}": v for k, v in results[name].best.items() if k.startswith("val_")}
            print(f"train: ensemble member {name}: best {results[name].best}")
        metrics = class_scores(self.predict_proba(data, "val"), data.rows("val")[1])
        log_history(Path(log_dir) / "ensemble", [metrics], on_epoch)
        return FitResult(0, {**metrics, **bests}, [metrics], members=results)

    def refit(self, data: Windows, selection: FitResult, log_dir: Path) -> dict[str, Any]:
        """Each member for the length its own selection chose."""
        return {name: member.refit(data, selection.members[name], Path(log_dir) / name)
                for name, member in self.members.items()}

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        return np.mean([m.predict_proba(data, segment) for m in self.members.values()], axis=0).astype(np.float32)

    def save(self, directory: Path) -> list[str]:
        files = []
        for name, member in self.members.items():
            (directory / name).mkdir(parents=True, exist_ok=True)
            files += [f"{name}/{f}" for f in member.save(directory / name)]
        return files

    def restore(self, directory: Path) -> None:
        for name, member in self.members.items():
            member.restore(directory / name)
