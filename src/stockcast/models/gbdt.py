"""LightGBM gradient-boosted trees on the feature row at the window's end date.

qlib's benchmark has GBDTs on engineered features beating sequence models, so this is the baseline a
sequence model must clear. Early stopping on val uses train.monitor, patience in boosting rounds
(train.lightgbm.early_stopping_rounds). Two classes train the binary objective; three (down, up,
flat) the multiclass one. Saved as LightGBM's own text format, never pickled. lightgbm is imported by
the methods that fit or load a booster: importing it costs 2.6 s, which every stage that only reads
an LSTM would otherwise pay.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stockcast.models.base import FitResult, Model, NetTrainer, Windows
from stockcast.params import TrainParams
from stockcast.models.selection import class_scores
from stockcast.training_log import EpochCallback, log_history

if TYPE_CHECKING:
    import lightgbm as lgb

TEXT = "lightgbm.txt"
METRICS = {  # objective -> monitor -> LightGBM metric
    "binary": {"val_loss": "binary_logloss", "val_accuracy": "binary_error"},
    "multiclass": {"val_loss": "multi_logloss", "val_accuracy": "multi_error"},
}


class LightGBM(Model):
    """A binary- or multiclass-objective booster, trimmed to its best round on val."""

    def __init__(self, n_features: int, params: TrainParams, n_classes: int = 2, trainer: NetTrainer | None = None):
        super().__init__(n_features, params, n_classes, trainer)
        self.booster: lgb.Booster | None = None
        self.objective = "binary" if n_classes == 2 else "multiclass"

    def _config(self) -> dict:
        p, metrics = self.params.lightgbm, METRICS[self.objective]
        first = metrics[self.params.monitor]
        classes = {} if self.n_classes == 2 else {"num_class": self.n_classes}
        return {"objective": self.objective, **classes,
                "metric": [first, *(m for m in metrics.values() if m != first)],
                "num_leaves": p.num_leaves, "learning_rate": p.learning_rate,
                "min_child_samples": p.min_child_samples, "seed": self.params.seed,
                "deterministic": True, "force_row_wise": True, "verbose": -1}

    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        import lightgbm as lgb

        x, y = data.rows("train")
        xv, yv = data.rows("val")
        train_set = lgb.Dataset(x, y, free_raw_data=True)
        evals: dict = {}
        booster = lgb.train(self._config(), train_set, num_boost_round=self.params.lightgbm.n_estimators,
                            valid_sets=[train_set, lgb.Dataset(xv, yv, reference=train_set)],
                            valid_names=["train", "val"],
                            callbacks=[lgb.record_evaluation(evals),
                                       lgb.early_stopping(self.params.lightgbm.early_stopping_rounds,
                                                          first_metric_only=True, verbose=False)])
        best_round = booster.best_iteration or booster.current_iteration()
        self.booster = lgb.Booster(model_str=booster.model_to_string(num_iteration=best_round))
        loss, error = METRICS[self.objective]["val_loss"], METRICS[self.objective]["val_accuracy"]
        history = [{"train_loss": float(t), "val_loss": float(v), "val_accuracy": 1.0 - float(e)}
                   for t, v, e in zip(evals["train"][loss], evals["val"][loss], evals["val"][error], strict=True)]
        log_history(log_dir, history, on_epoch)
        best = {"train_loss": history[best_round - 1]["train_loss"],
                **class_scores(self.predict_proba(data, "val"), yv)}
        return FitResult(best_round - 1, best, history, stopped_early=len(history) < self.params.lightgbm.n_estimators)

    def refit(self, data: Windows, selection: FitResult, log_dir: Path) -> dict[str, Any]:
        """The best iteration's number of boosting rounds, with no validation set to stop on."""
        import lightgbm as lgb

        rounds = selection.best_epoch + 1
        x, y = data.rows("train")
        self.booster = lgb.train(self._config(), lgb.Dataset(x, y, free_raw_data=True), num_boost_round=rounds)
        return {"boosting_rounds": rounds}

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        raw = self.booster.predict(data.rows(segment)[0])
        proba = np.column_stack([1 - raw, raw]) if self.n_classes == 2 else raw
        return proba.astype(np.float32)

    def feature_importance(self) -> dict[str, np.ndarray]:
        """Total gain and number of splits per feature (LightGBM's two importance types)."""
        return {kind: self.booster.feature_importance(importance_type=kind).astype(float) for kind in ("gain", "split")}

    def save(self, directory: Path) -> list[str]:
        (directory / TEXT).write_text(self.booster.model_to_string())
        return [TEXT]

    def restore(self, directory: Path) -> None:
        import lightgbm as lgb

        try:
            self.booster = lgb.Booster(model_str=(directory / TEXT).read_text())
        except lgb.basic.LightGBMError as err:
            raise ValueError(str(err)) from None
        if self.booster.num_feature() != self.n_features:
            raise ValueError(f"booster has {self.booster.num_feature()} features, expected {self.n_features}")
        trees_per_round = 1 if self.n_classes == 2 else self.n_classes
        if self.booster.num_model_per_iteration() != trees_per_round:
            raise ValueError(f"booster predicts {self.booster.num_model_per_iteration()} outputs, "
                             f"expected {trees_per_round} for {self.n_classes} classes")
