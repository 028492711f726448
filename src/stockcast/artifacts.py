"""Model artifacts: safetensors weights plus a JSON config. Nothing is ever unpickled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from stockcast.errors import StockcastError
from stockcast.models import build
from stockcast.tables import read_json, write_json

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


def save_model(directory: str | Path, model: nn.Module, config: dict[str, Any]) -> None:
    """Write weights and config; `config` must hold `model`, `n_features` and the model's params."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, directory / WEIGHTS)
    write_json(config, directory / CONFIG)


def load_model(directory: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from its config and load its weights; a damaged file is a one-line error."""
    directory = Path(directory)
    config = read_json(directory / CONFIG)
    for key in ("model", "n_features", "params"):
        if key not in config:
            raise StockcastError(f"{directory / CONFIG}: missing key {key!r}")
    model = build(config["model"], config["n_features"], config["params"])
    try:
        state = load_file(directory / WEIGHTS)
    except FileNotFoundError:
        raise StockcastError(f"{directory / WEIGHTS}: file not found") from None
    except (SafetensorError, OSError) as err:
        raise StockcastError(f"{directory / WEIGHTS}: damaged weights file ({err})") from None
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise StockcastError(f"{directory / WEIGHTS}: weights do not fit {config['model']} "
                             f"({str(err).splitlines()[0]})") from None
    return model, config
