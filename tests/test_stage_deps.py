"""dvc.yaml cannot go stale: each stage's code deps are its import closure, its params what it reads.

The closure comes from tools/stage_deps.py (an AST walk of the stage script's imports inside
src/stockcast); `make deps` rewrites dvc.yaml from it. The end-to-end checks (params read, dvc status
after an edit) run in tests/test_pipeline.py on its reproduced repository.
"""

from __future__ import annotations

import shutil
import sys

import pytest

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import stage_deps  # noqa: E402


def test_every_stage_lists_exactly_its_import_closure():
    problems = [f"{stage}: missing {missing}, not imported {extra}"
                for stage, (missing, extra) in stage_deps.differences().items()]
    assert not problems, "dvc.yaml code deps drifted (run `make deps`):\n" + "\n".join(problems)


def test_no_library_module_imports_by_computed_name():
    for path in (ROOT / "src/stockcast").rglob("*.py"):
        stage_deps.imported_modules(path)  # raises DynamicImport naming the file and line


def test_a_stage_that_imports_a_new_module_is_caught_and_rewritten(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "src", repo / "src", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    shutil.copytree(ROOT / "stages", repo / "stages")
    shutil.copy(ROOT / "dvc.yaml", repo / "dvc.yaml")
    (repo / "src/stockcast/extra.py").write_text("VALUE = 1\n")
    report = repo / "stages/report.py"
    source = report.read_text().replace("import polars as pl\n", "import polars as pl\n\nimport stockcast.extra\n")
    report.write_text(source)
    assert stage_deps.differences(repo) == {"report": (["src/stockcast/extra.py"], [])}
    assert stage_deps.write(repo) == ["report"]
    assert stage_deps.differences(repo) == {}
    assert "# imports (generated from the code" in (repo / "dvc.yaml").read_text()  # comments survive


def test_a_package_is_one_dep_only_when_the_stage_imports_all_of_it():
    models = {p for p in (ROOT / "src/stockcast/models").rglob("*.py")}
    assert stage_deps.as_deps(models) == ["src/stockcast/models"]
    assert stage_deps.as_deps(models - {ROOT / "src/stockcast/models/gru.py"}) == sorted(
        str(p.relative_to(ROOT)) for p in models - {ROOT / "src/stockcast/models/gru.py"})


def test_evaluate_needs_no_training_code():
    closure = {p.name for p in stage_deps.closure(ROOT / "stages/evaluate.py")}
    assert not closure & {"train.py", "checkpoint.py", "fitting.py"}


@pytest.mark.parametrize("stage", ["ingest", "quality", "split", "report"])
def test_params_py_no_longer_drags_the_feature_registry_into_every_stage(stage):
    closure = {str(p.relative_to(ROOT)) for p in stage_deps.closure(ROOT / f"stages/{stage}.py")}
    assert "src/stockcast/features/registry.py" not in closure
