"""pytest plugin for benchmarks/mutation.py: a mutant's tests run cheapest kill first, a test file's tests together,
and a mutant judged equivalent is not run.

mutmut runs the tests that reach a mutant with -x, so the first failing test ends the run: a mutant
killed by a unit test of a tenth of a second should not wait behind an end-to-end test of ten. Each test
is ranked by its expected seconds per kill, its duration over its chance to fail (the order that ends a
run soonest on average, for tests that fail independently): the duration is the one mutmut measured on
the clean code (mutmut-stats.json, in the folder the tests run in), the chance is learnt from the runs of
the same function's earlier mutants (KILLS: runs and failures per test, (failures + 1) / (runs + 2)), so
a function's first mutant runs its tests quickest first, and a test that killed its earlier mutants moves
up only as far as its duration earns. Ranking the last killer first whatever it cost (session 11) made
the quality shard quicker (751.8 s -> 523.6 s cold) and the model stages slower (the evaluate stage's
mutants all ran a 12 s ONNX test first, where a 0.4 s test kills most). mutmut passes the tests as an
unordered set, so they also interleave across files, and a module-scoped fixture (a trained model, a
built project) is torn down and rebuilt at every change of file: the files run in the order of their
cheapest test. Which mutants are killed does not change, only how soon a run that fails ends.

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
KILLS = Path("mutmut-kills")  # per mutated function, each test's [runs, failures] over its mutants' runs
RAN: dict[str, list[int]] = {}  # this run's tests: [1, 1 if it failed]
SKIPPED = 34  # mutmut's exit code for a mutant it did not test (mutmut.stats.status_by_exit_code)
# The modules to import in the fork server's warm-up, comma-separated (benchmarks/mutation.py's PRELOAD, by shard)
PRELOAD = "STOCKCAST_MUTATION_PRELOAD"


def cheapest_kill_first(nodeids: list[str], duration: dict[str, float],
                        record: dict[str, list[int]]) -> list[str]:
    """`nodeids` grouped by file, the files by their cheapest test, each file's tests cheapest first, a test's
    cost being its seconds per kill: duration * (runs + 2) / (failures + 1) from `record`; a test without a
    measured duration runs last in its file (mutmut measured every test it selects)."""
    cost = {n: duration.get(n, float("inf")) * (record.get(n, [0, 0])[0] + 2) / (record.get(n, [0, 0])[1] + 1)
            for n in nodeids}
    files: dict[str, list[str]] = {}
    for nodeid in nodeids:
        files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
    ordered = [sorted(tests, key=cost.__getitem__) for tests in files.values()]
    return [n for tests in sorted(ordered, key=lambda tests: cost[tests[0]]) for n in tests]


def _mutant() -> str:
    """The mutant this run tests; empty for mutmut's clean, stats and forced-fail runs and for plain runs."""
    name = os.environ.get("MUTANT_UNDER_TEST", "")
    return name if "__mutmut_" in name else ""


def pytest_configure(config: pytest.Config) -> None:
    if config.option.collectonly:  # the fork server's warm-up; a test run (a forked one has them) imports on use
        for name in filter(None, os.environ.get(PRELOAD, "").split(",")):
            importlib.import_module(name)


def _kills() -> Path | None:
    """This run's mutated function's record of earlier runs; None outside a mutant's run."""
    return KILLS / mangled_name_from_mutant_name(mutant) if (mutant := _mutant()) else None


def _read(record: Path | None) -> dict[str, list[int]]:
    return json.loads(record.read_text()) if record is not None and record.is_file() else {}


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not STATS.is_file():  # mutmut's own first run, which measures the durations
        return
    duration = json.loads(STATS.read_text())["duration_by_test"]
    by_id = {item.nodeid: item for item in items}
    items[:] = [by_id[n] for n in cheapest_kill_first(list(by_id), duration, _read(_kills()))]


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.failed:
        RAN[report.nodeid] = [1, int(report.failed)]


def pytest_sessionfinish() -> None:
    """Adds this run's tests to its function's record, read again just before: two runs of one function's
    mutants at once may still lose one's counts (the record only ranks tests; no verdict depends on it)."""
    if (record := _kills()) is None or not RAN:
        return
    counts = _read(record)
    for nodeid, (runs, failures) in RAN.items():
        before = counts.get(nodeid, [0, 0])
        counts[nodeid] = [before[0] + runs, before[1] + failures]
    KILLS.mkdir(exist_ok=True)
    written = record.with_name(f"{record.name}.{os.getpid()}")
    written.write_text(json.dumps(counts))
    written.replace(record)  # whole or not at all


def mutant_code(name: str) -> str:
    """The source of mutant `name` (e.g. stockcast.labels.x_make_labels__mutmut_4, stages.train.x_main__mutmut_2,
    stockcast.data.ledger.xǁLedgerǁrows__mutmut_1) in the mutated file mutmut wrote, found as text (no
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
