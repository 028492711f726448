"""Typed, validated params: one model per params.yaml section, so a typo fails loudly and early.

Every stage reads only its own section. An unknown key, a wrong type or an out-of-range value is
a one-line StockcastError that names the key and what would be accepted. This module is a leaf: it
imports nothing of the domain, so every stage can depend on it without depending on everything.
Checks that need the domain (is the feature set registered, the calendar known, the embargo long
enough for the features' lookback) live in params_check.py, which `stockcast check-params` and the
pipeline's first stage run before any stage deletes an output.

The sections' models live by stage family in data, modeling, trading and monitoring (leaves too);
every name is re-exported here, so `from stockcast.params import TrainParams` is the one spelling.
The defaults here are the shipped params.yaml (a test keeps the two equal). Every section is a
section.Section: strict, and traced when STOCKCAST_PARAMS_TRACE is set (see section.py).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from stockcast.errors import StockcastError
from stockcast.params.data import (  # noqa: F401  (re-exported)
    KEYED_SOURCES, SourceParams, DownloadParams, SyntheticParams, SqlParams, IngestParams, RuleAction, RuleParams,
    WarnRuleParams, TickerRuleParams, CONTRACT_RULES, TICKER_RULES, QualityRules, QualityParams,
)
from stockcast.params.modeling import (  # noqa: F401  (re-exported)
    FeaturesParams, FoldParams, SplitParams, ModelName, TransformerParams, LogregParams, LightGBMParams,
    EnsembleParams, TrainParams,
)
from stockcast.params.trading import (  # noqa: F401  (re-exported)
    EvaluateParams, RegimeParams, REGIMES, UniverseParams, PPOParams, BacktestParams, WalkForwardParams,
    ReportParams,
)
from stockcast.params.monitoring import (  # noqa: F401  (re-exported)
    RetrainParams, MonitorParams,
)
from stockcast.section import Section, label, start_tracing
from stockcast.yaml12 import read_yaml

SECTIONS: dict[str, type[Section]] = {
    "ingest": IngestParams,
    "quality": QualityParams,
    "features": FeaturesParams,
    "split": SplitParams,
    "train": TrainParams,
    "universe": UniverseParams,
    "evaluate": EvaluateParams,
    "backtest": BacktestParams,
    "walkforward": WalkForwardParams,
    "report": ReportParams,
    "monitor": MonitorParams,
}


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
    """The typed params of one stage, read from `path` (traced, see the module doc)."""
    start_tracing()
    return label(parse_section(name, read_yaml(path).get(name), str(path)), name)


def load_all(path: str | Path = "params.yaml") -> dict[str, Section]:
    """Every section, validated; unknown top-level sections are errors too."""
    start_tracing()
    data = read_yaml(path)
    return {name: label(parse_section(name, raw, str(path)), name) for name, raw in data.items()}


def _describe(err: ValidationError, section: str, model: type[Section], source: str) -> str:
    first = err.errors()[0]
    key = ".".join(str(part) for part in (section, *first["loc"]))
    if first["type"] == "extra_forbidden":
        field = str(first["loc"][-1])
        return f"{source}: {key}: unknown key{_suggest(field, _fields_at(model, first['loc'][:-1]))}"
    return f"{source}: {key}: {first['msg']} (got {first['input']!r})"


def _fields_at(model: type[BaseModel], loc: tuple) -> dict[str, Any]:
    """The keys accepted where an unknown key was found, following nested sections (train.lightgbm)."""
    for part in loc:
        inner = model.model_fields[part].annotation if part in model.model_fields else None
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            break
        model = inner
    return model.model_fields


def _suggest(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1)
    known = ", ".join(choices)
    return f" (did you mean {close[0]!r}?)" if close else f" (known: {known})"
