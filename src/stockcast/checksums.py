"""SHA-256 seals on model artifacts, so an edited or truncated file is refused with one line.

models/<name>/config.json lists the SHA-256 of every other file of the artifact (weights,
normaliser, importance); config.json itself is sealed by `config.json.sha256` beside it, in
`sha256sum` format (`sha256sum -c config.json.sha256` checks it by hand). Reading the config through
`verified_config` checks the seal and every listed file before anything is parsed. This module
loads no model code, so the report stage verifies without importing torch.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from stockcast.errors import StockcastError
from stockcast.tables import read_json

CONFIG = "config.json"
SEAL = f"{CONFIG}.sha256"
RETRAIN = "rerun the train stage (`dvc repro -f train`) or restore the file (`dvc checkout`)"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def seal_config(directory: Path) -> None:
    """Write config.json.sha256 for the config.json just written."""
    (directory / SEAL).write_text(f"{sha256(directory / CONFIG)}  {CONFIG}\n")


def config_hash(directory: str | Path) -> str:
    """The model's identity: the SHA-256 of its sealed config.json, which lists the SHA-256 of every
    other file, so two artifacts share it only when every file is the same."""
    directory = Path(directory)
    verified_config(directory)
    return (directory / SEAL).read_text().split(maxsplit=1)[0]


def verified_config(directory: str | Path) -> dict[str, Any]:
    """config.json, after its seal and the SHA-256 of every file it lists were checked."""
    directory = Path(directory)
    config_path, seal = directory / CONFIG, directory / SEAL
    if not config_path.is_file():
        raise StockcastError(f"{config_path}: file not found; run the train stage first")
    if not seal.is_file():
        raise StockcastError(f"{seal}: file not found, so {config_path} cannot be verified; {RETRAIN}")
    if seal.read_text().split(maxsplit=1)[:1] != [sha256(config_path)]:
        raise StockcastError(f"{config_path}: edited or damaged after training (its SHA-256 differs from {SEAL}); "
                             f"{RETRAIN}")
    config = read_json(config_path)
    if not isinstance(config.get("files"), dict):
        raise StockcastError(f"{config_path}: missing key 'files'")
    for name, digest in config["files"].items():
        path = directory / name
        if not path.is_file():
            raise StockcastError(f"{path}: file not found")
        if sha256(path) != digest:
            raise StockcastError(f"{path}: damaged artifact file (its SHA-256 differs from {CONFIG}: "
                                 f"truncated or modified after training); {RETRAIN}")
    return config
