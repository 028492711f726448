"""Model artifacts: the model's own files plus config.json with their SHA-256. Nothing is unpickled.

models/<name>/ holds what the model writes (safetensors weights, LightGBM text, or members' folders
for the ensemble), its exports (a sequence model's model.onnx and model.int8.onnx, stockcast.export),
JSON extras (normalizer.json, importance.json) and config.json: model name, class count, validated
train params, feature list, normaliser, the `export` block, and a checksum per file; config.json is
sealed by config.json.sha256 (stockcast.checksums). Loading verifies every checksum before parsing
anything, so a truncated or edited file, config.json included, is a one-line error that names it,
never a crash deep inside a parser or a model rebuilt from edited params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import SafetensorError

from stockcast.checksums import CONFIG, seal_config, sha256, verified_config
from stockcast.errors import StockcastError
from stockcast.export import export_model
from stockcast.models import Model, Windows, build
from stockcast.params import parse_section
from stockcast.tables import write_json

BUNDLE = "model"  # models/<model>/model: what train writes; models/<model>/MODEL_CARD.md beside it


def save_model(directory: str | Path, model: Model, config: dict[str, Any],
               extras: dict[str, dict[str, Any]] | None = None, export_windows: Windows | None = None) -> None:
    """Write the model's files, the JSON `extras` (file name -> content), config.json and its seal;
    `config` must hold `model`, `n_features` and `params` (the model's class count is added as `n_classes`).
    With `export_windows` (what the model was fitted on), a sequence model is also exported to ONNX
    float and int8, its float file checked against torch on those val windows (export.export_model),
    and config.json records the `export` block; the files are checksummed like the rest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files = model.save(directory)
    exported = None if export_windows is None else export_model(model, directory, export_windows)
    if exported is not None:
        files, config = [*files, *exported.files], {**config, "export": exported.record}
    for name, content in (extras or {}).items():
        write_json(content, directory / name)
    files = [*files, *(extras or {})]
    write_json({**config, "n_classes": model.n_classes, "files": {name: sha256(directory / name) for name in files}},
               directory / CONFIG)
    seal_config(directory)


def bundle_dir(directory: str | Path) -> Path:
    """The folder holding config.json: `directory` itself, or its BUNDLE (models/<model>/model, which
    the train stage writes; models/<model> also holds the model card, which the report stage writes)."""
    directory = Path(directory)
    if not (directory / CONFIG).is_file() and (directory / BUNDLE / CONFIG).is_file():
        return directory / BUNDLE
    return directory


def load_model(directory: str | Path) -> tuple[Model, dict[str, Any]]:
    """Rebuild the model from config.json and restore its verified files (`directory`: see bundle_dir);
    any damage is a one-line error."""
    directory = bundle_dir(directory)
    config = verified_config(directory)
    for key in ("model", "n_features", "params"):
        if key not in config:
            raise StockcastError(f"{directory / CONFIG}: missing key {key!r}")
    params = parse_section("train", config["params"], str(directory / CONFIG))
    n_classes = config.get("n_classes", 2)  # artifacts written before the flat class existed are binary
    model = build(config["model"], config["n_features"], params, n_classes)
    try:
        model.restore(directory)
    except (SafetensorError, OSError, RuntimeError, ValueError, KeyError) as err:
        raise StockcastError(f"{directory}: weights do not fit {config['model']} "
                             f"({str(err).splitlines()[0]})") from None
    return model, config
