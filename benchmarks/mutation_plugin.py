"""pytest plugin for benchmarks/mutation.py: a mutant's tests run cheapest kill first, a test file's tests together,
and a mutant judged equivalent is not run.

mutmut runs the tests that reach a mutant with -x, so the first failing test ends the run: a mutant
killed by a unit test of a tenth of a second should not wait behind an end-to-end test of ten. Each test
is ranked by its expected seconds per kill, its duration over its chance to fail (the order that ends a
run soonest on average, for tests that fail independently). Both are learnt from the runs of the same
function's earlier mutants (KILLS: per test, runs, failures and seconds): the chance is (failures + 1) /
(runs + 2), the duration the mean seconds of those runs, setup and teardown included, or, for a test not
run yet, the one mutmut measured on the clean code (mutmut-stats.json, in the folder the tests run in).
mutmut times only a test's call, in one run of all the tests: a fixture built for every forked run (a
trained model) is not in it, and a folder a shared fixture builds on first use is in the first test's
call only (the model stages' report test: 2.15 s there, where in a profiled run building the folders was
8.1 s of its call and the report stage 0.13 s). So a function's first mutant runs its tests quickest first
by mutmut's figures, and a test that killed its earlier mutants moves up only as far as its measured
duration earns. Ranking the last killer first whatever it cost (session 11) made the quality shard quicker
(751.8 s -> 523.6 s cold) and the model stages slower (the evaluate stage's mutants all ran a 12 s ONNX test
first, where a 0.4 s test kills most). mutmut passes the tests as an unordered set, so they also interleave
across files, and a module-scoped fixture (a trained model, a built project) is torn down and rebuilt at every
change of file: the files run in the order of their cheapest test. Which mutants are killed does not change,
only how soon a run that fails ends.

A mutant listed in benchmarks/mutation_equivalent.toml whose listed line is still in its code would
survive every test it reaches (that is what equivalent means): running them all to prove it, by the test durations
mutmut recorded, was about a fifth of the quality shard's CPU time (752 of ~3,800 s, an estimate, not an A/B run);
it ends at once with mutmut's "skipped" code. Its score is never raised by this: a skipped mutant is out of
the denominator, as a surviving equivalent is, and one wrongly listed would otherwise have counted as killed.

mutmut's first run of a cold shard runs every selected test on the clean code to measure them (its stats run,
which must pass), then runs them all again on the same code to check that they pass (its clean run): where
benchmarks/mutation.py says so (TRUST_STATS: shards of library modules, whose clean run only repeats the stats
run), the clean run ends at once, passing, when the stats run of the same mutmut run (PASSED, which mutation.py
removes before each) passed every test it would run. An incremental run loads its stats instead of running them,
so its clean run runs. The stage shards' clean run also builds the project folders their mutants share.

The libraries a shard's stages import on first use (benchmarks/mutation.py's PRELOAD) are imported once, by the
collect-only warm-up of mutmut's fork server (the process every mutant's run is forked from; the warm-up loads this
plugin too), so no forked run imports them again.
"""

from __future__ import annotations

import functools
import importlib
import json
import os
import tomllib
from pathlib import Path

import pytest
from mutmut.utils.format_utils import mangled_name_from_mutant_name

STATS = Path("mutmut-stats.json")
EQUIVALENT = Path("benchmarks") / "mutation_equivalent.toml"  # mutmut copies benchmarks/ beside the tests
KILLS = Path("mutmut-kills")  # per mutated function, each test's [runs, failures, seconds] over its mutants' runs
RAN: dict[str, list[float]] = {}  # this run's tests: [1, 1 if it failed, seconds in setup, call and teardown]
PASSED = Path("mutmut-stats-passed")  # the tests this mutmut run's stats run passed (benchmarks/mutation.py)
TRUST_STATS = "STOCKCAST_MUTATION_TRUST_STATS"  # set: a clean run the stats run already passed is not run again
SKIPPED = 34  # mutmut's exit code for a mutant it did not test (mutmut.stats.status_by_exit_code)
# The modules to import in the fork server's warm-up, comma-separated (benchmarks/mutation.py's PRELOAD, by shard)
PRELOAD = "STOCKCAST_MUTATION_PRELOAD"


def cheapest_kill_first(nodeids: list[str], duration: dict[str, float],
                        record: dict[str, list[float]]) -> list[str]:
    """`nodeids` grouped by file, the files by their cheapest test, each file's tests cheapest first, a test's
    cost being its seconds per kill: seconds / runs * (runs + 2) / (failures + 1) from `record`, with mutmut's
    `duration` for the seconds of a test `record` has no run of; a test with neither runs last in its file
    (mutmut measured every test it selects)."""
    def cost(nodeid: str) -> float:
        runs, failures, seconds = record.get(nodeid, (0, 0, 0.0))
        per_run = seconds / runs if runs else duration.get(nodeid, float("inf"))
        return per_run * (runs + 2) / (failures + 1)

    costs = {n: cost(n) for n in nodeids}
    files: dict[str, list[str]] = {}
    for nodeid in nodeids:
        files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
    ordered = [sorted(tests, key=costs.__getitem__) for tests in files.values()]
    return [n for tests in sorted(ordered, key=lambda tests: costs[tests[0]]) for n in tests]


def _run_kind() -> str | None:
    """mutmut's name for this run: a mutant's, "stats", "fail", "" for its clean run; None for a plain run."""
    return os.environ.get("MUTANT_UNDER_TEST")


def _mutant() -> str:
    """The mutant this run tests; empty for mutmut's clean, stats and forced-fail runs and for plain runs."""
    name = _run_kind() or ""
    return name if "__mutmut_" in name else ""


def pytest_configure(config: pytest.Config) -> None:
    if config.option.collectonly:  # the fork server's warm-up; a test run (a forked one has them) imports on use
        for name in filter(None, os.environ.get(PRELOAD, "").split(",")):
            importlib.import_module(name)
        listed_equivalents()


def _kills() -> Path | None:
    """This run's mutated function's record of earlier runs; None outside a mutant's run."""
    return KILLS / mangled_name_from_mutant_name(mutant) if (mutant := _mutant()) else None


def _read(record: Path | None) -> dict[str, list[float]]:
    """A function's record; a test's counts without seconds (a record kept from before seconds were recorded)
    are left out: its mean seconds per run cannot be told, so the test is ranked as not yet run."""
    counts = json.loads(record.read_text()) if record is not None and record.is_file() else {}
    return {nodeid: ran for nodeid, ran in counts.items() if len(ran) == 3}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if _run_kind() == "" and os.environ.get(TRUST_STATS) and PASSED.is_file() and (
            {item.nodeid for item in items} <= set(json.loads(PASSED.read_text()))):
        pytest.exit(f"every test passed in this mutmut run's stats run ({PASSED})", returncode=0)
    if not STATS.is_file():  # mutmut's own first run, which measures the durations
        return
    duration = json.loads(STATS.read_text())["duration_by_test"]
    by_id = {item.nodeid: item for item in items}
    items[:] = [by_id[n] for n in cheapest_kill_first(list(by_id), duration, _read(_kills()))]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    ran = RAN.setdefault(report.nodeid, [1, 0, 0.0])
    ran[1] = max(ran[1], int(report.failed))
    ran[2] += report.duration


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """After a passing stats run, writes the tests it passed (PASSED). After a mutant's run, adds its tests to its
    function's record, read again just before: two runs of one function's mutants at once may still lose one's
    counts (the record only ranks tests; no verdict depends on it)."""
    if _run_kind() == "stats" and exitstatus == 0:
        PASSED.write_text(json.dumps(sorted(item.nodeid for item in session.items)))
    if (record := _kills()) is None or not RAN:
        return
    counts = _read(record)
    for nodeid, ran in RAN.items():
        counts[nodeid] = [a + b for a, b in zip(counts.get(nodeid, (0, 0, 0.0)), ran)]
    KILLS.mkdir(exist_ok=True)
    written = record.with_name(f"{record.name}.{os.getpid()}")
    written.write_text(json.dumps(counts))
    written.replace(record)  # whole or not at all


def mutant_code(name: str, root: Path = Path()) -> str:
    """The source of mutant `name` (e.g. stockcast.labels.x_make_labels__mutmut_4, stages.train.x_main__mutmut_2,
    stockcast.data.ledger.xǁLedgerǁrows__mutmut_1) in the mutated file mutmut wrote under `root` (its mutants/
    folder), found as text (no import): its def line and every line indented under it. Empty when the file or
    the def is not there."""
    module, _, function = name.rpartition(".")
    files = [root.joinpath(*module.split(".")).with_suffix(".py"),
             root.joinpath("src", *module.split(".")).with_suffix(".py")]
    lines = next((f.read_text().splitlines() for f in files if f.is_file()), [])
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith(f"def {function}(")), None)
    if start is None:
        return ""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent), len(lines))
    return "\n".join(lines[start:end])


@functools.cache
def listed_equivalents(path: Path = EQUIVALENT) -> dict[str, dict[str, str]]:
    """The mutants listed equivalent in `path` (name: {line, why}), read once per process: the fork server's
    warm-up reads it (pytest_configure), so no forked run parses the ~100 entries again (~0.02 s each)."""
    return tomllib.loads(path.read_text()) if path.is_file() else {}


def still_equivalent(name: str, root: Path = Path(), listed: dict[str, dict[str, str]] | None = None) -> bool:
    """`name` is listed equivalent (in `listed`, default this folder's EQUIVALENT) and its listed line still
    reads the same in its code under `root`."""
    listed = listed_equivalents() if listed is None else listed
    return name in listed and listed[name]["line"].strip() in mutant_code(name, root)


def pytest_sessionstart(session: pytest.Session) -> None:
    if still_equivalent(mutant := _mutant()):
        pytest.exit(f"{mutant} is listed in {EQUIVALENT}", returncode=SKIPPED)
