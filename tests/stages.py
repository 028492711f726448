"""Run the pipeline's stage scripts in-process in a temporary project folder, as `dvc repro` would
run them there: the same main(), the same params.yaml reading, the same files in and out.

In-process (not a subprocess per stage) keeps the truth tests quick and lets a test plant a leak
into a stage module (monkeypatch one of its names) to prove the checks would catch it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType

import yaml

from .conftest import ROOT

STAGES = ROOT / "stages"
# A folder where built project folders are shared between test processes (benchmarks/mutation.py sets it for
# each shard's run and empties it first: mutmut runs a process per mutant, each rebuilding the same prefix).
SHARED = "STOCKCAST_SHARED_FOLDERS"


def stage(name: str) -> ModuleType:
    """stages/<name>.py as a fresh module (not run): patch its names, then call its main().

    Named `stages.<name>`, the name mutmut gives the file, so its mutants are live here
    (benchmarks/mutation.py)."""
    spec = importlib.util.spec_from_file_location(f"stages.{name}", STAGES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def project(folder: Path, changes: dict[str, dict]) -> Path:
    """A bare project folder: the repository's params.yaml with `changes` merged section by section,
    and the sample's universe file (what the evaluate and backtest stages read)."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (folder / "data" / "sample").mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "data" / "sample" / "universe.csv", folder / "data" / "sample" / "universe.csv")
    return folder


def set_params(folder: Path, changes: dict[str, dict]) -> None:
    params = yaml.safe_load((folder / "params.yaml").read_text())
    for section, values in changes.items():
        params[section].update(values)
    (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))


def run_stage(folder: Path, name: str, *argv: str, module: ModuleType | None = None) -> None:
    """Run stage `name` (or an already loaded, perhaps patched, `module` of it) with `argv` in `folder`."""
    module = module or stage(name)
    saved = sys.argv
    sys.argv = [f"stages/{name}.py", *argv]
    try:
        with contextlib.chdir(folder):
            module.main()
    finally:
        sys.argv = saved


def shareable(ran: Iterable[str]) -> bool:
    """Whether a folder built by running the stages `ran` is the same in every test process: the code is the
    files' own (mutmut's MUTANT_UNDER_TEST is unset or empty), or the one mutant active is in a stage not
    among them. A mutant anywhere else (the library, or mutmut's own "stats" and "fail" runs) may reach
    any stage, so nothing is shared under it."""
    mutant = os.environ.get("MUTANT_UNDER_TEST", "")
    module = mutant.partition("__mutmut_")[0].rpartition(".")[0]
    return not mutant or (module.startswith("stages.") and module.removeprefix("stages.") not in set(ran))


def shared_folder(name: str, ran: Iterable[str]) -> Path | None:
    """Where the folder `name`, built by running the stages `ran`, is shared (None: build it here)."""
    root = os.environ.get(SHARED)
    return Path(root) / name if root and shareable(ran) else None


def publish(folder: Path, shared: Path) -> None:
    """Copy `folder` to `shared` whole or not at all (another process may publish the same folder)."""
    staging = shutil.copytree(folder, shared.with_name(f".{shared.name}.{os.getpid()}"))
    try:
        staging.rename(shared)
    except OSError:  # published meanwhile
        shutil.rmtree(staging)


def built(folders: dict[str, Path], label: str, ran: Iterable[str], build: Callable[[], Path]) -> Path:
    """folders[label], the folder made by `build` running the stages `ran`: built once per process, or taken from
    (else published to) the shared folders when none of those stages is mutated."""
    if label not in folders:
        shared = shared_folder(label, ran)
        if shared is not None and shared.is_dir():
            folders[label] = shared
        else:
            folders[label] = build()
            if shared is not None:
                publish(folders[label], shared)
    return folders[label]
