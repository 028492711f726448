"""dvc.yaml's `artifacts:` registry declares exactly the registered models, each at models/<name>."""

from __future__ import annotations

import yaml

from stockcast.card import CARD
from stockcast.models import MODELS

from .conftest import ROOT


def test_every_registered_model_is_a_dvc_artifact_and_nothing_else():
    artifacts = yaml.safe_load((ROOT / "dvc.yaml").read_text())["artifacts"]
    assert list(artifacts) == list(MODELS)
    for name, entry in artifacts.items():
        assert (entry["path"], entry["type"]) == (f"models/{name}", "model")
        assert entry["meta"] == {"metrics": ["metrics/evaluate.json", "metrics/backtest.json"],
                                 "card": f"models/{name}/{CARD}"}
