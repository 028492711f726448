"""Mutation testing of the core with mutmut: shard by shard, each shard's modules against the tests
that own them; prints the score per module as JSON (and writes it to --out).

A mutant is one small plausible bug (`>` for `>=`, `+ 1` for `- 1`, a constant changed, a call
dropped) planted in a copy of the code. It is killed when a test fails with it in place, survives
when every test still passes, and has "no tests" when no selected test runs its function. The score
of a module is killed / (mutants - equivalent): a timeout counts as killed (the mutant changed
behaviour; each is listed too, as a hang can also be a forked run's own), "no tests" counts as
survived, and a mutant listed in benchmarks/mutation_equivalent.toml is taken out of the
denominator only while the line it names still reads the same (so an entry goes stale, and is
reported, as soon as its code changes); while it does, benchmarks/mutation_plugin.py skips its run.

Why mutmut rather than cosmic-ray: mutmut compiles every mutant once behind a trampoline, forks
each run from a pytest server that has already imported the suite, and runs only the tests that
reach the mutated function (stopping at the first failure; benchmarks/mutation_plugin.py runs those
cheapest kill first, file by file). cosmic-ray rewrites and re-imports a module and runs the whole test
command per mutant, which on 2 cores is hours for the same work.

Each shard runs in its own copy of the project (the files git lists, tracked or new) kept outside
the work tree (--state, default ~/.cache/stockcast/mutation/), so `mutants/` never lands in the
repository and shards cannot see each other's results. The copy is kept between runs because mutmut
is incremental: a later run retests only the mutants of functions whose code changed, plus, because
mutmut would otherwise let their verdicts stand, every mutant that survived or had no tests last
time (a test written since may kill it). A test file added to a shard keeps its verdicts too (one
dropped reruns every mutant). A killed mutant stays killed until its function changes,
so a test weakened since is caught only by `--fresh`, which starts the shard's copy anew (the cold
run, whose wall time is the one to quote). Tests that drive stages/*.py do it in-process
(tests/stages.py), so stage mutants are live in them, and share the project folders they build
between mutants (SHARED_FOLDERS) where no mutated stage built them: a mutant of the report stage
starts from the clean run's trained model and backtest instead of rebuilding them.

Usage: python benchmarks/mutation.py [--shard NAME ...] [--max-children 2] [--fresh] [--out FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from mutation_plugin import PASSED, TRUST_STATS, listed_equivalents, still_equivalent
from mutation_plugin import PRELOAD as PRELOAD_MODULES

ROOT = Path(__file__).resolve().parents[1]
STATE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "stockcast" / "mutation"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.toml"

SHARDS: dict[str, tuple[list[str], list[str]]] = {
    "labels_split": (["src/stockcast/labels.py", "src/stockcast/segments.py", "src/stockcast/coverage.py"],
                     ["tests/test_labels.py", "tests/test_segments.py", "tests/test_coverage.py"]),
    "dataset_normalize": (["src/stockcast/dataset.py", "src/stockcast/normalize.py"],
                          ["tests/test_dataset.py", "tests/test_normalize.py"]),
    "features": (["src/stockcast/features/*.py"],
                 ["tests/test_features.py", "tests/test_features_seed95.py", "tests/test_features_alpha158.py",
                  "tests/test_features_talib.py", "tests/test_features_causal.py"]),
    "quality": (["src/stockcast/data/quality.py", "src/stockcast/data/ledger.py",
                 "src/stockcast/data/session_rules.py"],
                ["tests/test_quality.py", "tests/test_quality_rules.py", "tests/test_quality_splits.py",
                 "tests/test_quality_calendars.py", "tests/test_quality_defects.py",
                 "tests/test_quality_invariants.py"]),
    "backtest": (["src/stockcast/backtest/engine.py", "src/stockcast/backtest/metrics.py",
                  "src/stockcast/backtest/fills.py"],
                 ["tests/test_backtest.py", "tests/test_backtest_metrics.py", "tests/test_fills.py"]),
    "evaluation": (["src/stockcast/evaluation/*.py"],
                   ["tests/test_evaluate.py", "tests/test_evaluation_classification.py",
                    "tests/test_evaluation_ranking.py", "tests/test_evaluation_significance.py"]),
    "checkpoint": (["src/stockcast/checkpoint.py"], ["tests/test_checkpoint.py", "tests/test_train_resume.py"]),
    "stages_data": (["stages/params.py", "stages/ingest.py", "stages/quality.py", "stages/features.py",
                     "stages/split.py"], ["tests/test_stage_scripts.py"]),
    "stages_model": (["stages/train.py", "stages/evaluate.py", "stages/backtest.py", "stages/walkforward.py",
                      "stages/predict.py", "stages/monitor.py", "stages/report.py"],
                     ["tests/test_model_stages_train.py", "tests/test_model_stages_backtest.py",
                      "tests/test_model_stages_serving.py"]),
}
# mutmut's exit codes (mutmut.stats.status_by_exit_code): 0 survived, 33 no tests, 34 skipped,
# 36/24/-24/152 timeout, 37 caught by a type checker; any other code is a failing test run.
SURVIVED, NO_TESTS, SKIPPED = 0, 33, 34
TIMEOUTS = (36, 24, -24, 152)  # counted killed, and listed: a hang in a forked run is not always the mutant's
# A run is stopped (and the mutant counted killed, as a timeout) after this many times the estimated
# duration of its tests plus 1 s: mutmut's default, 15, let each hanging mutant hold a core for ~2 minutes.
TIMEOUT_MULTIPLIER = 5
# The folder the tests share built project folders in (tests/stages.py's SHARED): emptied before each run, as
# a folder built by the code before this run's changes would stand in for one built by the new code.
SHARED_FOLDERS = "STOCKCAST_SHARED_FOLDERS"
# What a shard's stages import on first use, imported once by the fork server's warm-up (mutation_plugin.py) so no
# forked run pays for it again (measured in one, session 10): cvxpy ~1.0 s (the backtest's optimiser), dvclive with
# the dvc modules it loads ~0.5 s (train, monitor), lightgbm ~0.3 s, pandera's polars backend ~0.2 s, matplotlib's
# Agg canvas and PIL's PNG writer (the report). Only where they are used: a larger fork server makes every forked
# run slower (quality's quickest test, median of 12: 0.25-0.27 s without, 0.27-0.35 s with). torch is left to the
# few model-stage tests that use it (~1.8 s to import), so that fork server holds no torch state. The checkpoint
# tests import torch themselves; its optimiser's first step imports torch._dynamo (~790 modules with sympy): a
# forked run of a load() mutant took 2.3 s with it imported there, 0.16 s with it preloaded (medians of 4, session 13).
PRELOAD = {"stages_model": ("cvxpy", "dvclive", "dvc.repo", "dvc.scm", "lightgbm", "pandera.polars",
                            "matplotlib.backends.backend_agg", "PIL.PngImagePlugin"),
           "checkpoint": ("torch._dynamo",)}
# pytest's own plugins the shards' tests never use (no doctests, unittest cases, caplog, recwarn, subtests, pdb,
# reports or cache): each forked run registers every plugin and parses its fixtures. Without these, a forked run
# of quality's quickest-killing test took 0.180 s against 0.190 s (medians of 25, alternating, one process). A
# test that needed one would fail mutmut's stats run, which must pass, so no mutant is counted killed by it.
UNUSED_PLUGINS = ("doctest", "junitxml", "pastebin", "legacypath", "setuponly", "setupplan", "stepwise",
                  "threadexception", "faulthandler", "debugging", "logging", "subtests", "unittest", "recwarn")
GOAL = 0.90  # the score each core module is held to (killed / non-equivalent mutants)
# Lines whose mutants only change what a person reads (messages), never a number or a row.
NOT_MUTATED = [r"^\s*print\(", r"^\s*raise \w+Error\(", r"# pragma: no mutate"]


def project_copy(target: Path) -> None:
    """Make `target` hold the files git lists (tracked and new, not ignored), as the tests see them,
    and no others (mutmut's `mutants/` aside). Copies keep their modification times: mutmut
    regenerates a file's mutants only when its source is newer than them."""
    listed = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split("\0")
    wanted = {name for name in filter(None, listed) if (ROOT / name).is_file()}
    for stale in [p for p in target.rglob("*") if p.is_file() and not p.relative_to(target).parts[0] == "mutants"
                  and p.relative_to(target).as_posix() not in wanted]:
        stale.unlink()
    for name in sorted(wanted):
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target / name)


def configure(project: Path, modules: list[str], tests: list[str]) -> None:
    """Append this shard's [tool.mutmut] to the copy's pyproject.toml. The copy is not a git
    repository, so mutmut watches the files the tests read (besides pyproject.toml) by their hashes,
    and a change to any of them retests every mutant."""
    # no:unraisableexception: that plugin runs gc.collect() several times as pytest ends, which in a child forked
    # from the suite's imports (pandas, polars, exchange_calendars) costs ~0.6 s per mutant for nothing to report
    # benchmarks.mutation_plugin: a mutant's tests cheapest kill first, file by file (mutmut stops at the first
    # failure), and a listed equivalent mutant not run; _hypothesis_pytestplugin: the one entry-point plugin the
    # tests use, named as mutmut_env turns autoloading off; UNUSED_PLUGINS: not loaded at all
    quoted = lambda items: "[" + ", ".join(json.dumps(i) for i in items) + "]"  # noqa: E731
    unused = ", ".join(f'"-p", "no:{name}"' for name in UNUSED_PLUGINS)
    section = f"""
[tool.mutmut]
source_paths = ["src", "stages"]
only_mutate = {quoted(modules)}
pytest_add_cli_args_test_selection = {quoted(tests)}
pytest_add_cli_args = ["-p", "no:cacheprovider", "-p", "no:unraisableexception", "-p", "benchmarks.mutation_plugin",
                       "-p", "_hypothesis_pytestplugin", {unused}]
also_copy = ["params.yaml", "dvc.yaml", "data/sample", "docs", "tools", "benchmarks"]
do_not_mutate_patterns = {quoted(NOT_MUTATED)}
process_isolation = "forkserver"
timeout_multiplier = {TIMEOUT_MULTIPLIER}
use_git_change_detection = false
cache_invalidation_files = ["params.yaml", "dvc.yaml", "data/sample/*"]
on_dependency_change = "rerun"
"""
    with (project / "pyproject.toml").open("a") as f:
        f.write(section)


# Collects a shard's tests, then exits 3 if polars' thread pool (threads "polars-0", ...) is running.
POOL_CHECK = """
import glob, re, sys, pytest
pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider", *sys.argv[1:]])
threads = {open(p).read().strip() for p in glob.glob("/proc/self/task/*/comm")}
sys.exit(3 if any(re.fullmatch(r"polars-\\d+", t) for t in threads) else 0)
"""


def pool_started_at_import(project: Path, tests: list[str], env: dict[str, str]) -> list[str]:
    """The test files whose import starts polars' thread pool. mutmut forks every mutant's run from a
    process that has imported the tests, and a forked child waits forever on a pool whose threads
    stayed in the parent: one such file hangs the whole shard, so it is refused before the run."""
    if not Path("/proc/self/task").is_dir():
        return []
    run = lambda files: subprocess.run([sys.executable, "-c", POOL_CHECK, *files], cwd=project,  # noqa: E731
                                       env=env | {"PYTHONPATH": str(project / "src")}, capture_output=True,
                                       check=False).returncode == 3
    return [t for t in tests if run([t])] if run(tests) else []


def exit_codes(project: Path) -> dict[str, int]:
    """Every mutant's exit code, from the .meta files mutmut leaves beside each mutated file."""
    codes: dict[str, int] = {}
    for meta in (project / "mutants").rglob("*.py.meta"):
        codes |= json.loads(meta.read_text())["exit_code_by_key"]
    return codes


def retest_alive(project: Path, equivalent: set[str]) -> int:
    """Clear the verdicts of the mutants that survived, had no tests or were skipped as equivalent, so mutmut
    runs them again, but for those listed as `equivalent` (no test can kill them; if their function changed,
    mutmut reruns them itself); returns how many (each .meta file is what mutmut reads and writes its verdicts in)."""
    count = 0
    for meta in (project / "mutants").rglob("*.py.meta"):
        data = json.loads(meta.read_text())
        alive = [k for k, code in data["exit_code_by_key"].items()
                 if code in (SURVIVED, NO_TESTS, SKIPPED) and k not in equivalent]
        for key in alive:
            data["exit_code_by_key"][key] = None
        if alive:
            meta.write_text(json.dumps(data, indent=4))
            count += len(alive)
    return count


SELECTION = "stockcast-tests.json"  # in mutants/: the test files the shard's verdicts were reached with


def keep_verdicts_if_tests_grew(project: Path, tests: list[str]) -> bool:
    """mutmut reruns every mutant when its test selection changes. A shard that only gained test files
    keeps its verdicts instead: a killed mutant stays killed with more tests, mutmut lists the new tests
    and collects their coverage itself, and retest_alive reopens the rest. So the selection recorded in
    mutmut's stats (mutmut 3.8's config_fingerprint, a hash of the tuple) becomes the new one. A file
    dropped from the selection still reruns everything. Returns whether the verdicts were kept."""
    stats, recorded = project / "mutants" / "mutmut-stats.json", project / "mutants" / SELECTION
    if not (stats.exists() and recorded.exists()):
        return False
    before = json.loads(recorded.read_text())
    if before == tests or not set(before) <= set(tests):
        return False
    data = json.loads(stats.read_text())
    data["config_fingerprint"]["test_selection"] = hashlib.sha256(repr(tuple(tests)).encode()).hexdigest()[:12]
    stats.write_text(json.dumps(data))
    recorded.write_text(json.dumps(tests))
    return True


def module_of(mutant: str) -> str:
    return mutant.rpartition(".")[0]


def mutant_diff(project: Path, mutant: str) -> str:
    done = subprocess.run([sys.executable, "-m", "mutmut", "show", mutant], cwd=project, capture_output=True,
                          text=True, check=False)
    return done.stdout


def changed_lines(diff: str) -> list[str]:
    """The `-`/`+` lines of a mutant's diff: what a person needs to write the test that kills it."""
    return [line for line in diff.splitlines() if line[:1] in "-+" and not line.startswith(("---", "+++"))]


def equivalents(project: Path, codes: dict[str, int],
                listed: dict[str, dict[str, str]]) -> tuple[dict[str, str], list[str]]:
    """The `listed` equivalent mutants that survived (or were skipped as equivalent) and whose recorded line is
    still in their code (read from mutmut's mutated files, as the plugin does before skipping one), and those
    alive whose line is not (stale entries)."""
    live, stale = {}, []
    for name, entry in listed.items():
        if codes.get(name) not in (SURVIVED, NO_TESTS, SKIPPED):
            continue
        if still_equivalent(name, project / "mutants", listed):
            live[name] = entry["why"]
        else:
            stale.append(name)
    return live, stale


def score(codes: dict[str, int], equivalent: dict[str, str]) -> dict[str, dict]:
    by_module: dict[str, dict] = {}
    for name, code in sorted(codes.items()):
        row = by_module.setdefault(module_of(name), {"mutants": 0, "killed": 0, "timeouts": [], "survived": [],
                                                     "no_tests": [], "skipped": 0, "equivalent": 0})
        row["mutants"] += 1
        if name in equivalent:
            row["equivalent"] += 1
        elif code == SKIPPED:
            row["skipped"] += 1
        elif code == SURVIVED:
            row["survived"].append(name)
        elif code == NO_TESTS:
            row["no_tests"].append(name)
        else:
            row["killed"] += 1
            if code in TIMEOUTS:
                row["timeouts"].append(name)
    for row in by_module.values():
        tested = row["mutants"] - row["skipped"] - row["equivalent"]
        row["score"] = round(row["killed"] / tested, 4) if tested else None
    return by_module


def mutmut_env(environ: Mapping[str, str], shared: Path, preload: tuple[str, ...] = (),
               trust_stats: bool = False) -> dict[str, str]:
    """What mutmut and its forked test runs see: the mutation hypothesis profile, the shared folders, the modules
    to preload, this interpreter first on PATH (the stages call `python`), no PYTHONPATH (the copy's own src/ is
    imported), and bytecode written whatever the caller's PYTHONDONTWRITEBYTECODE says: mutmut's copy of a stage
    script holds every mutant of it (~1 MB, about a second to compile) and tests/stages.py loads a stage afresh in
    each test, so without a .pyc every forked run compiled it again, once per stage it ran. pytest's plugin
    autoloading is off: each forked run's pytest.main read every installed package's entry points and file list
    for it (a forked run of labels' first test, medians of 8 taken alternately in one process: ~0.14 s with,
    ~0.10 s without; configure() names the one plugin the tests use). `trust_stats`: mutmut's clean run ends
    at once when its stats run just passed the same tests (mutation_plugin.py's TRUST_STATS)."""
    env = {k: v for k, v in environ.items() if k not in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")}
    return env | {"HYPOTHESIS_PROFILE": "mutation", "DVC_NO_ANALYTICS": "1", SHARED_FOLDERS: str(shared),
                  "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1", TRUST_STATS: "1" if trust_stats else "",
                  PRELOAD_MODULES: ",".join(preload),
                  "PATH": f"{Path(sys.executable).parent}{os.pathsep}{environ['PATH']}"}


def run_shard(name: str, max_children: int, state: Path, fresh: bool) -> dict:
    modules, tests = SHARDS[name]
    project = state / name
    if fresh:
        shutil.rmtree(project, ignore_errors=True)
    cold = not (project / "mutants").is_dir()
    project.mkdir(parents=True, exist_ok=True)
    listed = listed_equivalents(EQUIVALENT)
    grew = not cold and keep_verdicts_if_tests_grew(project, tests)
    retested = 0 if cold else retest_alive(project, set(listed))
    project_copy(project)
    configure(project, modules, tests)
    shared = state / f"{name}-shared"
    shutil.rmtree(shared, ignore_errors=True)
    shared.mkdir(parents=True)
    (project / "mutants" / PASSED).unlink(missing_ok=True)  # only this run's stats run may vouch for its tests
    # a cold shard's clean run, a second run of every test on the code its stats run has just passed them on, is
    # not run (labels_split: 15.5 s of its 90); the stage shards' clean run also builds the project folders their
    # mutants then share (SHARED_FOLDERS)
    env = mutmut_env(os.environ, shared, PRELOAD.get(name, ()),
                     trust_stats=not any(m.startswith("stages/") for m in modules))
    start, load_before = time.perf_counter(), os.getloadavg()[0]
    if blocking := pool_started_at_import(project, tests, env):
        return {"shard": name, "error": "these test files start polars' thread pool at import (build shared "
                f"frames on first use instead): {', '.join(blocking)}", "wall_s": 0.0}
    done = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children)],
                          cwd=project, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        tail = re.sub(r"\s*\r", "\n", done.stdout + done.stderr)[-3000:]
        return {"shard": name, "error": f"mutmut exited {done.returncode}", "output": tail, "wall_s": wall}
    (project / "mutants" / SELECTION).write_text(json.dumps(tests))
    codes = exit_codes(project)
    equivalent, stale = equivalents(project, codes, listed)
    modules = score(codes, equivalent)
    alive = [m for row in modules.values() for m in row["survived"] + row["no_tests"]]
    run = "cold" if cold else f"incremental ({retested} alive mutants retested{', tests added' if grew else ''})"
    return {"shard": name, "run": run,
            "wall_s": round(wall, 1), "date": time.strftime("%Y-%m-%d"),
            "load_average": [round(load_before, 1), round(os.getloadavg()[0], 1)], "cpus": os.cpu_count(),
            "modules": modules, "stale_equivalents": stale,
            "alive": {m: changed_lines(mutant_diff(project, m)) for m in alive}}


def merged(out: Path, run: list[dict], max_children: int, note: str | None = None) -> dict:
    """The shards just run, in SHARDS' order, beside the earlier results in `out` of the shards not run
    this time (so `--shard X` updates X's entry and keeps the rest); scores are re-derived. Each shard
    keeps its own context (date, load average before and after, max_children, `note`), so nothing
    about a run is written outside the entry it describes. `wall_s` sums the shards' latest runs,
    `cold_wall_s` their latest cold runs (what `make mutation FRESH=1` costs; None while any is unknown)."""
    earlier = json.loads(out.read_text())["shards"] if out.exists() else []
    by_name = {s["shard"]: s for s in earlier if s["shard"] in SHARDS} | {s["shard"]: s for s in run}
    before = {s["shard"]: s for s in earlier}
    for shard in run:
        shard["max_children"] = max_children
        if note:
            shard["note"] = note
        cold = shard.get("run") == "cold"
        shard["cold_wall_s"] = shard["wall_s"] if cold else before.get(shard["shard"], {}).get("cold_wall_s")
    shards = [by_name[name] for name in SHARDS if name in by_name]
    modules = {m: row for shard in shards for m, row in shard.get("modules", {}).items()}
    colds = [s.get("cold_wall_s") for s in shards]
    return {"tool": "mutmut", "wall_s": round(sum(s["wall_s"] for s in shards), 1),
            "cold_wall_s": round(sum(colds), 1) if None not in colds else None,
            "score_by_module": {m: row["score"] for m, row in modules.items()},
            "below_goal": sorted(m for m, row in modules.items() if row["score"] is not None and row["score"] < GOAL),
            "not_run": [name for name in SHARDS if name not in by_name], "shards": shards}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shard", action="append", choices=sorted(SHARDS), help="default: every shard")
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--fresh", action="store_true", help="forget the shards' earlier runs: a cold run")
    parser.add_argument("--state", type=Path, default=STATE / ROOT.name, help="where each shard's copy is kept")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "mutation.json")
    parser.add_argument("--note", help="kept in each shard's entry: what the run was measured against")
    args = parser.parse_args()
    run = [run_shard(name, args.max_children, args.state, args.fresh) for name in args.shard or SHARDS]
    text = json.dumps(merged(args.out, run, args.max_children, args.note), indent=1)
    args.out.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
