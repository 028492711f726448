"""stockcast.params is a leaf; the checks that need the domain run in params_check, before any stage deletes."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest
import yaml

from stockcast.errors import StockcastError
from stockcast.params import SECTIONS, load_all, parse_section
from stockcast.params_check import check_file, check_sections

from .conftest import ROOT


def _sections(**changes: dict) -> dict:
    return {name: parse_section(name, changes.get(name, {})) for name in SECTIONS}


@pytest.mark.parametrize(("changes", "message"), [
    ({"features": {"set": "seed96"}}, r"features\.set: unknown set 'seed96' \(did you mean 'seed95'"),
    ({"features": {"families": ["momentun"]}}, r"features\.families: unknown family 'momentun'"),
    ({"split": {"embargo_days": 5}}, r"split\.embargo_days=5 is below horizon \+ feature lookback = 1 \+ 49 = 50"),
    ({"quality": {"calendar": "XNSY"}}, r"quality\.calendar: calendar 'XNSY' .*did you mean 'XNYS'"),
    ({"quality": {"split_ratios": ["2:1", "1:1"]}}, r"quality\.split_ratios: '1:1' moves the price by under 10%"),
    ({"ingest": {"download": {"tickers": ["../etc"]}}}, r"ingest\.download\.tickers: '\.\./etc' is not a valid"),
])
def test_the_domain_refuses_what_params_alone_cannot_judge(changes, message):
    with pytest.raises(StockcastError, match=message):
        check_sections(_sections(**changes))


def test_the_shipped_params_pass_every_check():
    assert set(check_file(ROOT / "params.yaml")) == set(SECTIONS)


def test_the_params_package_imports_nothing_of_the_domain():
    """Every module of stockcast.params imports only the leaves and its own package's modules."""
    leaves = {"stockcast.errors", "stockcast.section", "stockcast.yaml12"}
    modules = sorted((ROOT / "src/stockcast/params").glob("*.py"))
    assert {m.stem for m in modules} == {"__init__", "data", "modeling", "trading", "monitoring"}
    for module in modules:
        tree = ast.parse(module.read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
        imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
        domain = {m for m in imported if m.startswith("stockcast") and not m.startswith("stockcast.params.")}
        assert domain <= leaves, (module.name, domain - leaves)


def test_every_default_is_the_shipped_params_yaml():
    """One source: stockcast.params' defaults are params.yaml's values, and params.yaml spells out every key."""
    raw = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, section in load_all(ROOT / "params.yaml").items():
        default = SECTIONS[name]()
        assert section.model_dump() == default.model_dump(), f"params.yaml {name} differs from params.py"
        assert set(raw[name]) == set(SECTIONS[name].model_fields), f"params.yaml {name} leaves a key to a default"


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("features", "set", "seed96", "unknown set 'seed96'"),
    ("split", "embargo_days", 3, "below horizon"),
    ("quality", "calendar", "XNSY", "calendar 'XNSY'"),
])
def test_check_params_and_the_params_stage_agree(tmp_path, section, key, value, message):
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params[section][key] = value
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stage = subprocess.run([sys.executable, str(ROOT / "stages/params.py")], cwd=tmp_path, capture_output=True,
                           text=True)
    cli = subprocess.run([sys.executable, "-m", "stockcast.cli", "check-params", "params.yaml"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert stage.returncode == cli.returncode == 2
    assert len(stage.stderr.strip().splitlines()) == 1 and message in stage.stderr
    assert message in " ".join(cli.stdout.split())
    assert not (tmp_path / "data/params.checked").exists()
