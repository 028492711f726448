"""Model artifacts: the model's own files plus config.json with their SHA-256. Nothing is unpickled.

models/<name>/ holds what the model writes (safetensors weights, LightGBM text, or members' folders
for the ensemble) and config.json: model name, class count, validated train params, feature list,
normaliser, and a checksum per file. Loading verifies every checksum before parsing anything, so a truncated
or edited file is a one-line error that names it, never a crash deep inside a parser.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from stockcast.errors import StockcastError
from stockcast.models import Model, build
from stockcast.params import parse_section
from stockcast.tables import read_json, write_json

CONFIG = "config.json"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_model(directory: str | Path, model: Model, config: dict[str, Any]) -> None:
    """Write the model's files and config.json; `config` must hold `model`, `n_features` and `params`
    (the model's class count is added as `n_classes`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = model.save(directory)
    write_json({**config, "n_classes": model.n_classes, "files": {name: sha256(directory / name) for name in files}},
               directory / CONFIG)


def load_model(directory: str | Path) -> tuple[Model, dict[str, Any]]:
    """Rebuild the model from config.json and restore its verified files; any damage is a one-line error."""
    directory = Path(directory)
    config = read_json(directory / CONFIG)
    for key in ("model", "n_features", "params", "files"):
        if key not in config:
            raise StockcastError(f"{directory / CONFIG}: missing key {key!r}")
    for name, digest in config["files"].items():
        path = directory / name
        if not path.is_file():
            raise StockcastError(f"{path}: file not found")
        if sha256(path) != digest:
            raise StockcastError(f"{path}: damaged weights file (its SHA-256 differs from {CONFIG}: "
                                 "truncated or modified after training; rerun the train stage)")
    params = parse_section("train", config["params"], str(directory / CONFIG))
    n_classes = config.get("n_classes", 2)  # artifacts written before the flat class existed are binary
    model = build(config["model"], config["n_features"], params, n_classes)
    try:
        model.restore(directory)
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as err:
        raise StockcastError(f"{directory}: weights do not fit {config['model']} "
                             f"({str(err).splitlines()[0]})") from None
    return model, config
