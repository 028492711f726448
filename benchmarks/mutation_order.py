"""pytest plugin for benchmarks/mutation.py: a mutant's tests run quickest first, a test file's tests together.

mutmut runs the tests that reach a mutant with -x, so the first failing test ends the run: a mutant
killed by a unit test of a tenth of a second should not wait behind an end-to-end test of ten. mutmut
passes the tests as an unordered set, so they also interleave across files, and a module-scoped fixture
(a trained model, a built project) is torn down and rebuilt at every change of file. Here the files run
in the order of their quickest test, and inside a file the tests run quickest first; the durations are
those mutmut measured on the clean code (mutmut-stats.json, in the folder the tests run in).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

STATS = Path("mutmut-stats.json")


def quickest_first(nodeids: list[str], duration: dict[str, float]) -> list[str]:
    """`nodeids` grouped by file, the files by their quickest test, each file's tests quickest first;
    a test without a measured duration runs last in its file (mutmut measured every test it selects)."""
    seconds = {n: duration.get(n, float("inf")) for n in nodeids}
    files: dict[str, list[str]] = {}
    for nodeid in nodeids:
        files.setdefault(nodeid.split("::", 1)[0], []).append(nodeid)
    ordered = [sorted(tests, key=seconds.__getitem__) for tests in files.values()]
    return [n for tests in sorted(ordered, key=lambda tests: seconds[tests[0]]) for n in tests]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not STATS.is_file():  # mutmut's own first run, which measures the durations
        return
    duration = json.loads(STATS.read_text())["duration_by_test"]
    by_id = {item.nodeid: item for item in items}
    items[:] = [by_id[n] for n in quickest_first(list(by_id), duration)]
