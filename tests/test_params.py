import subprocess
import sys

import pytest

from stockcast.errors import StockcastError
from stockcast.params import SECTIONS, load_all, load_section, parse_section

from .conftest import ROOT


def test_repository_params_are_valid():
    assert set(load_all(ROOT / "params.yaml")) == set(SECTIONS)


def test_unknown_key_names_it_and_suggests_the_right_one():
    with pytest.raises(StockcastError, match=r"train\.hiden_size: unknown key \(did you mean 'hidden_size'\?\)"):
        parse_section("train", {"hiden_size": 32})


def test_wrong_type_is_an_error_not_a_coercion():
    with pytest.raises(StockcastError, match=r"train\.hidden_size: .*integer.*'abc'"):
        parse_section("train", {"hidden_size": "abc"})
    with pytest.raises(StockcastError, match="train.epochs"):
        parse_section("train", {"epochs": 2.5})


def test_out_of_range_values_are_rejected():
    with pytest.raises(StockcastError, match="split.horizon"):
        parse_section("split", {"horizon": 0})
    with pytest.raises(StockcastError, match="test segment"):
        parse_section("split", {"train_fraction": 0.8, "val_fraction": 0.3})


def test_scientific_notation_is_a_float(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("train:\n  lr: 1e-4\n")
    assert load_section("train", path).lr == pytest.approx(1e-4)


def test_unknown_section_is_an_error(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("trian:\n  lr: 0.1\n")
    with pytest.raises(StockcastError, match="did you mean 'train'"):
        load_all(path)


def test_a_stage_with_bad_params_prints_one_line_and_exits_2(tmp_path):
    (tmp_path / "params.yaml").write_text("train:\n  hidden_size: many\n")
    done = subprocess.run([sys.executable, str(ROOT / "stages" / "train.py")], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: params.yaml: train.hidden_size: Input should be a valid integer (got 'many')"]


def test_a_bare_yaml_null_selects_the_null_market(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("ingest:\n  source: synthetic\n  synthetic:\n    mode: null\n")
    assert load_section("ingest", path).synthetic.mode == "null"


def test_params_are_read_as_yaml_1_2_like_dvc_writes_them(tmp_path):
    """`dvc exp run -S` rewrites params.yaml as YAML 1.2: `2:1` unquoted must stay a ratio, not 121."""
    from stockcast.yaml12 import read_yaml

    path = tmp_path / "params.yaml"
    path.write_text("x:\n  ratios: [2:1, 3:2]\n  lr: 1e-4\n  word: yes\n  flag: true\n")
    assert read_yaml(path)["x"] == {"ratios": ["2:1", "3:2"], "lr": 1e-4, "word": "yes", "flag": True}
