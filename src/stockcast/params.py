"""Typed, validated params: one model per params.yaml section, so a typo fails loudly and early.

Every stage reads only its own section. An unknown key, a wrong type or an out-of-range value is
a one-line StockcastError that names the key and what would be accepted.
"""

from __future__ import annotations

import difflib
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from stockcast.errors import StockcastError


class Section(BaseModel):
    """Base for a params section: unknown keys are errors, values are never coerced silently."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class IngestParams(Section):
    source: Literal["sample"] = "sample"
    sample_path: str = "data/sample/ohlcv.parquet"


class QualityParams(Section):
    min_history_days: int = Field(250, ge=1)
    adjust_with_adj_close: bool = True


class FeaturesParams(Section):
    set: str = "basic"


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
    train_fraction: float = Field(0.6, gt=0, lt=1)
    val_fraction: float = Field(0.2, gt=0, lt=1)
    val_start: date | None = Field(None, strict=False)   # ISO dates; both or neither
    test_start: date | None = Field(None, strict=False)
    embargo_days: int = Field(80, ge=0)
    folds: FoldParams = FoldParams()

    @model_validator(mode="after")
    def _leaves_a_test_segment(self) -> SplitParams:
        if self.train_fraction + self.val_fraction >= 1:
            raise ValueError("train_fraction + val_fraction must be below 1 to leave a test segment")
        if (self.val_start is None) != (self.test_start is None):
            raise ValueError("give both val_start and test_start, or neither (fractions are used then)")
        if self.val_start and self.test_start and self.val_start >= self.test_start:
            raise ValueError(f"val_start ({self.val_start}) must come before test_start ({self.test_start})")
        return self


class TrainParams(Section):
    model: Literal["lstm"] = "lstm"
    seq_len: int = Field(20, ge=1, le=512)
    hidden_size: int = Field(64, ge=1)
    num_layers: int = Field(2, ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    epochs: int = Field(20, ge=1)
    patience: int = Field(5, ge=1)
    seed: int = 42
    device: Literal["auto", "cpu", "cuda"] = "auto"


class EvaluateParams(Section):
    threshold: float = Field(0.5, gt=0, lt=1)


class BacktestParams(Section):
    threshold: float = Field(0.5, gt=0, lt=1)
    cost_bps: float = Field(5.0, ge=0, le=1000)
    slippage_bps: float = Field(5.0, ge=0, le=1000)
    initial_capital: float = Field(100_000.0, gt=0)
    periods_per_year: int = Field(252, ge=1)


class ReportParams(Section):
    title: str = "stockcast report"


SECTIONS: dict[str, type[Section]] = {
    "ingest": IngestParams,
    "quality": QualityParams,
    "features": FeaturesParams,
    "split": SplitParams,
    "train": TrainParams,
    "evaluate": EvaluateParams,
    "backtest": BacktestParams,
    "report": ReportParams,
}


class _Yaml12Loader(yaml.SafeLoader):
    """SafeLoader that reads `1e-4` as a float, as YAML 1.2 (and DVC's `-S`) do; PyYAML alone keeps it a string."""


_Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$|^[-+]?\.(?:inf|Inf|INF)$|^\.(?:nan|NaN|NAN)$"),
    list("-+0123456789."),
)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """The params file as a mapping; a missing or malformed file is a one-line error."""
    path = Path(path)
    try:
        loader = _Yaml12Loader(path.read_text())
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except FileNotFoundError:
        raise StockcastError(f"{path}: params file not found") from None
    except yaml.YAMLError as err:
        raise StockcastError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise StockcastError(f"{path}: expected a mapping of sections, got {type(data).__name__}")
    return data


def parse_section(name: str, raw: Any, source: str = "params.yaml") -> Section:
    """Validate one section's mapping into its typed model."""
    if name not in SECTIONS:
        raise StockcastError(f"{source}: unknown section {name!r}{_suggest(name, SECTIONS)}")
    model = SECTIONS[name]
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise StockcastError(f"{source}: {name}: expected a mapping, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        raise StockcastError(_describe(err, name, model, source)) from None


def load_section(name: str, path: str | Path = "params.yaml") -> Any:
    """The typed params of one stage, read from `path`."""
    return parse_section(name, read_yaml(path).get(name), str(path))


def load_all(path: str | Path = "params.yaml") -> dict[str, Section]:
    """Every section, validated; unknown top-level sections are errors too."""
    data = read_yaml(path)
    return {name: parse_section(name, raw, str(path)) for name, raw in data.items()}


def _describe(err: ValidationError, section: str, model: type[Section], source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in (section, *first["loc"]))
    if first["type"] == "extra_forbidden":
        field = str(first["loc"][-1])
        return f"{source}: {key}: unknown key{_suggest(field, model.model_fields)}"
    return f"{source}: {key}: {first['msg']} (got {first['input']!r})"


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    known = ", ".join(choices)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {known})"
