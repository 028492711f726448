"""pytest plugin for benchmarks/mutation.py: a mutant's tests run quickest first, a test file's tests together,
and a mutant judged equivalent is not run.

mutmut runs the tests that reach a mutant with -x, so the first failing test ends the run: a mutant
killed by a unit test of a tenth of a second should not wait behind an end-to-end test of ten. mutmut
passes the tests as an unordered set, so they also interleave across files, and a module-scoped fixture
(a trained model, a built project) is torn down and rebuilt at every change of file. Here the files run
in the order of their quickest test, and inside a file the tests run quickest first; the durations are
those mutmut measured on the clean code (mutmut-stats.json, in the folder the tests run in). Mutants of one
function tend to fall to the same test, so the test that killed the last of them (KILLERS) runs first (the
quality shard cold: 751.8 s quickest first, 523.6 s with this, one run each, session 11); which mutants are
killed does not change, only how soon a run that fails ends.

A mutant listed in benchmarks/mutation_equivalent.toml whose listed line is still in its code would
survive every test it reaches (that is what equivalent means): running them all to prove it, by the test durations
mutmut recorded, was about a fifth of the quality shard's CPU time (752 of ~3,800 s, an estimate, not an A/B run);
it ends at once with mutmut's "skipped" code. Its score is never raised by this: a skipped mutant is out of
the denominator, as a surviving equivalent is, and one wrongly listed would otherwise have counted as killed.

The libraries a shard's stages import on first use (benchmarks/mutation.py's PRELOAD) are imported once, by the
collect-only warm-up of mutmut's fork server (the process every mutant's run is forked from; the warm-up loads this
plugin too), so no forked run imports them again.
"""

from __future__ import annotations

import importlib
import json
import os
import tomllib
from pathlib import Path

import pytest
from mutmut.utils.format_utils import mangled_name_from_mutant_name

STATS = Path("mutmut-stats.json")
EQUIVALENT = Path("benchmarks") / "mutation_equivalent.toml"  # mutmut copies benchmarks/ beside the tests
KILLERS = Path("mutmut-killers")  # per mutated function, the test that failed last in one of its mutant's runs
SKIPPED = 34  # mutmut's exit code for a mutant it did not test (mutmut.stats.status_by_exit_code)
# The modules to import in the fork server's warm-up, comma-separated (benchmarks/mutation.py's PRELOAD, by shard)
PRELOAD = "STOCKCAST_MUTATION_PRELOAD"


def quickest_first(nodeids: list[str], duration: dict[str, float]) -> list[str]:
    """`nodeids` grouped by file, the files by their quickest test, each file's tests quickest first;
    a test without a measured duration runs last in its file (mutmut measured every test it selects)."""
    seconds = {n: duration.get(n, float("inf")) for n in nodeids}
    files: dict[str, list[str]] = {}
    for nodeid in nodeids:
        files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
    ordered = [sorted(tests, key=seconds.__getitem__) for tests in files.values()]
    return [n for tests in sorted(ordered, key=lambda tests: seconds[tests[0]]) for n in tests]


def killer_first(nodeids: list[str], killer: str | None) -> list[str]:
    """`nodeids` with `killer` moved to the front, when it is one of them."""
    return [killer, *(n for n in nodeids if n != killer)] if killer in nodeids else nodeids


def _mutant() -> str:
    """The mutant this run tests; empty for mutmut's clean, stats and forced-fail runs and for plain runs."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""


def pytest_configure(config: pytest.Config) -> None:
    if config.option.collectonly:  # the fork server's warm-up; a test run (a forked one has them) imports on use
        for name in filter(None, os.environ.get(PRELOAD, "").split(",")):
            importlib.import_module(name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not STATS.is_file():  # mutmut's own first run, which measures the durations
        return
    duration = json.loads(STATS.read_text())["duration_by_test"]
    by_id = {item.nodeid: item for item in items}
    killer = KILLERS / mangled_name_from_mutant_name(mutant) if (mutant := _mutant()) else None
    last = killer.read_text() if killer is not None and killer.is_file() else None
    items[:] = [by_id[n] for n in killer_first(quickest_first(list(by_id), duration), last)]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.failed and (mutant := _mutant()):
        KILLERS.mkdir(exist_ok=True)
        killer = KILLERS / mangled_name_from_mutant_name(mutant)
        written = killer.with_name(f"{killer.name}.{os.getpid()}")
        written.write_text(report.nodeid)
        written.replace(killer)  # whole or not at all: two runs may write at once


def mutant_code(name: str) -> str:
    """The source of mutant `name` (e.g. stockcast.labels.x_make_labels__mutmut_4, stages.train.x_main__mutmut_2,
    stockcast.data.quality.xǁ_Ledgerǁrows__mutmut_1) in the mutated file mutmut wrote, found as text (no
    import): its def line and every line indented under it. Empty when the file or the def is not there."""
    module, _, function = name.rpartition(".")
    files = [Path(*module.split(".")).with_suffix(".py"), Path("src", *module.split(".")).with_suffix(".py")]
    lines = next((f.read_text().splitlines() for f in files if f.is_file()), [])
    start = next((i for i, line in enumerate(lines) if line.lstrip().startswith(f"def {function}(")), None)
    if start is None:
        return ""
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = next((i for i in range(start + 1, len(lines))
                if lines[i].strip() and len(lines[i]) - len(lines[i].lstrip()) <= indent), len(lines))
    return "\n".join(lines[start:end])


def still_equivalent(name: str) -> bool:
    """`name` is listed equivalent and its listed line still reads the same in its code."""
    listed = tomllib.loads(EQUIVALENT.read_text()) if EQUIVALENT.is_file() else {}
    return name in listed and listed[name]["line"].strip() in mutant_code(name)


def pytest_sessionstart(session: pytest.Session) -> None:
    if still_equivalent(mutant := _mutant()):
        pytest.exit(f"{mutant} is listed in {EQUIVALENT}", returncode=SKIPPED)
