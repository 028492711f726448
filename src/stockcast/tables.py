"""Parquet in and out: zstd, one file per table, validated before it is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl

from stockcast.errors import StockcastError
from stockcast.schemas import validate


def read_table(path: str | Path) -> pl.DataFrame:
    """Read a parquet table; a missing or unreadable file is a one-line error naming it."""
    path = Path(path)
    if not path.exists():
        raise StockcastError(f"{path}: file not found")
    try:
        return pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise StockcastError(f"{path}: not a readable parquet file ({str(err).splitlines()[0]})") from None


def write_table(frame: pl.DataFrame, path: str | Path, schema: Any) -> None:
    """Validate `frame` against `schema`, then write it as zstd parquet, creating folders."""
    path = Path(path)
    validate(frame, schema, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    # zstd level 1: on prices the file is as small as at the default level 3, for a third less CPU
    frame.write_parquet(path, compression="zstd", compression_level=1, statistics=True)


def write_json(data: dict[str, Any], path: str | Path) -> None:
    """Small, sorted, diff-friendly JSON (metrics, manifests, configs)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path) -> dict[str, Any]:
    """Read a JSON object written by `write_json`; missing or malformed is a one-line error."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise StockcastError(f"{path}: file not found") from None
    except json.JSONDecodeError as err:
        raise StockcastError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise StockcastError(f"{path}: expected a JSON object")
    return data


def write_csv(frame: pl.DataFrame, path: str | Path) -> None:
    """Plot data as CSV, creating folders (dvc plots reads it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(path)
