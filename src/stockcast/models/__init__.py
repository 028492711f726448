"""The model registry: adding a model is adding a file here and one line in MODELS."""

from __future__ import annotations

from typing import Any

from torch import nn

from stockcast.errors import StockcastError
from stockcast.models.lstm import LSTM

MODELS: dict[str, type[nn.Module]] = {"lstm": LSTM}


def build(name: str, n_features: int, config: dict[str, Any]) -> nn.Module:
    """Instantiate a registered model from its config (the train params it uses)."""
    if name not in MODELS:
        raise StockcastError(f"train.model: unknown model {name!r} (known: {', '.join(MODELS)})")
    return MODELS[name].from_config(n_features, config)
