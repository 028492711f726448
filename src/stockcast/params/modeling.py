"""Params of the modelling stages: features, the chronological split, and the models train fits.

A leaf like the rest of stockcast.params, which re-exports every name (import them from there).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from stockcast.section import Section, label


class FeaturesParams(Section):
    set: str = "basic"  # a name in stockcast.features.registry.SETS (params_check checks it)
    families: list[str] | None = None  # None: every family of the set


class FoldParams(Section):
    """Walk-forward folds: test periods of `step_days` dates one after another, each trained on
    what precedes it (expanding) or on the `train_days` dates before it (rolling)."""

    scheme: Literal["expanding", "rolling"] = "expanding"
    step_days: int = Field(252, ge=1)           # dates per test period (252 = one trading year)
    min_train_days: int = Field(756, ge=1)      # the first fold trains on at least this many dates
    train_days: int = Field(756, ge=1)          # rolling scheme: the training window's length


class SplitParams(Section):
    label: Literal["direction", "excess"] = "direction"
    horizon: int = Field(1, ge=1, le=60)
    dead_zone: float = Field(0.0, ge=0, lt=1)
    dead_zone_mode: Literal["exclude", "flat"] = "exclude"  # flat: a third class (label 2) instead of no label
    train_fraction: float = Field(0.6, gt=0, lt=1)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    fraction_of: Literal["rows", "dates"] = "rows"      # what the fractions are shares of
    val_start: date | None = Field(None, strict=False)   # ISO dates; both or neither
    test_start: date | None = Field(None, strict=False)
    embargo_days: int = Field(80, ge=0)
    min_rows_per_segment: int = Field(60, ge=1)         # a ticker with fewer usable rows in a segment leaves it
    folds: FoldParams = FoldParams()

    @model_validator(mode="after")
    def _leaves_a_test_segment(self) -> SplitParams:
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError("train_fraction + val_fraction must be below 1 to leave a test segment")
        if (self.val_start is None) != (self.test_start is None):
            raise ValueError("give both val_start and test_start, or neither (fractions are used then)")
        if self.val_start and self.test_start and self.val_start >= self.test_start:
            raise ValueError(f"val_start ({self.val_start}) must come before test_start ({self.test_start})")
        if self.dead_zone_mode == "flat" and self.dead_zone == 0:
            raise ValueError("dead_zone_mode flat needs dead_zone > 0 (with 0 no move is flat)")
        return self


ModelName = Literal["lstm", "gru", "transformer", "logreg", "lightgbm", "ensemble"]
"""The names in stockcast.models.MODELS (a test keeps the two lists equal; params never imports torch)."""


class TransformerParams(Section):
    """Encoder width and heads; its depth and dropout are train.num_layers and train.dropout."""

    d_model: int = Field(32, ge=1)
    heads: int = Field(4, ge=1)

    @model_validator(mode="after")
    def _heads_divide_width(self) -> TransformerParams:
        if self.d_model % self.heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of heads ({self.heads})")
        return self


class LogregParams(Section):
    c: float = Field(1.0, gt=0)                 # inverse L2 strength, scikit-learn's C
    max_iter: int = Field(1000, ge=1)


class LightGBMParams(Section):
    num_leaves: int = Field(15, ge=2)
    n_estimators: int = Field(200, ge=1)        # the most boosting rounds
    learning_rate: float = Field(0.05, gt=0)
    min_child_samples: int = Field(50, ge=1)    # rows per leaf: the main guard against overfitting noise
    early_stopping_rounds: int = Field(20, ge=1)  # rounds without a better val `monitor` before stopping


class EnsembleParams(Section):
    members: list[Literal["lstm", "gru", "transformer", "logreg", "lightgbm"]] = ["lstm", "logreg", "lightgbm"]

    @model_validator(mode="after")
    def _distinct_members(self) -> EnsembleParams:
        if len(self.members) < 2 or len(set(self.members)) != len(self.members):
            raise ValueError(f"members must name at least two distinct models (got {self.members})")
        return self


class TrainParams(Section):
    model: ModelName = "lstm"
    seq_len: int = Field(20, ge=1, le=512)
    normalize: Literal["zscore", "robust", "rank"] = "zscore"  # fitted on the train segment only
    hidden_size: int = Field(64, ge=1)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(256, ge=1)          # per process under torchrun
    lr: float = Field(1e-3, gt=0)               # peak learning rate
    lr_schedule: Literal["cosine", "constant"] = "cosine"
    warmup_epochs: int = Field(1, ge=0)         # linear warm-up before the schedule
    min_lr: float = Field(1e-5, ge=0)           # where cosine ends
    weight_decay: float = Field(0.01, ge=0)     # AdamW
    clip_norm: float = Field(1.0, ge=0)         # max gradient norm; 0 turns clipping off
    epochs: int = Field(20, ge=1)
    patience: int = Field(5, ge=1)              # epochs without a better `monitor` before stopping
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"
    target_accuracy: float | None = Field(None, gt=0, le=1)  # stop once val accuracy reaches it
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"
    amp: bool = True                            # bf16 autocast, on CUDA only
    resume: bool = True                         # continue from checkpoint_dir if it matches params and data
    checkpoint_dir: str = "checkpoints/train"
    refit: Literal["none", "train_val"] = "none"  # train_val: after selection on val, fit again on train+val
    transformer: TransformerParams = TransformerParams()
    logreg: LogregParams = LogregParams()
    lightgbm: LightGBMParams = LightGBMParams()
    ensemble: EnsembleParams = EnsembleParams()
