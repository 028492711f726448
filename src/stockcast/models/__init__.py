"""The model registry: adding a model is adding a file here and one line in MODELS.

Sequence nets (lstm, gru, transformer) are tiny nn.Modules wrapped by SequenceModel; tabular models
(logreg, lightgbm) and the ensemble implement base.Model directly. train.model picks one by name;
params.ModelName lists the same names (a test keeps them equal).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from stockcast.errors import StockcastError
from stockcast.models.base import Model, NetTrainer, Windows, probability_columns
from stockcast.models.ensemble import Ensemble
from stockcast.models.gbdt import LightGBM
from stockcast.models.gru import GRU
from stockcast.models.logreg import LogReg
from stockcast.models.lstm import LSTM
from stockcast.models.sequence import SequenceModel
from stockcast.models.transformer import Transformer
from stockcast.params import TrainParams

MODELS: dict[str, Callable[[int, TrainParams, int, NetTrainer | None], Model]] = {
    "lstm": partial(SequenceModel, LSTM),
    "gru": partial(SequenceModel, GRU),
    "transformer": partial(SequenceModel, Transformer),
    "logreg": LogReg,
    "lightgbm": LightGBM,
    "ensemble": Ensemble,
}

__all__ = ["MODELS", "Model", "Windows", "build", "probability_columns"]


def build(name: str, n_features: int, params: TrainParams, n_classes: int = 2,
          trainer: NetTrainer | None = None) -> Model:
    """Instantiate a registered model for `n_features` inputs and `n_classes` labels (2: down, up;
    3: down, up, flat) from the train params; nets can be fitted only with a `trainer`."""
    if name not in MODELS:
        raise StockcastError(f"train.model: unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name](n_features, params, n_classes, trainer)
