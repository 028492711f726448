"""benchmarks/mutation.py's bookkeeping: how a shard's verdicts become a score, which verdicts an
incremental run reopens, and what a shard's kept project copy holds."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

_spec = importlib.util.spec_from_file_location("mutation_plugin", ROOT / "benchmarks" / "mutation_plugin.py")
mutation_plugin = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutation_plugin)
sys.modules.setdefault("mutation_plugin", mutation_plugin)  # mutation.py imports it, as a script beside it does
_spec = importlib.util.spec_from_file_location("mutation_tool", ROOT / "benchmarks" / "mutation.py")
mutation = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mutation)

KILLED, TIMEOUT = 1, 36


def test_the_score_leaves_out_equivalent_and_skipped_mutants_and_counts_no_tests_as_survived():
    codes = {"m.f__mutmut_1": KILLED, "m.f__mutmut_2": TIMEOUT, "m.f__mutmut_3": mutation.SURVIVED,
             "m.f__mutmut_4": mutation.NO_TESTS, "m.f__mutmut_5": mutation.SURVIVED, "m.f__mutmut_6": mutation.SKIPPED,
             "m.f__mutmut_7": mutation.SKIPPED}  # 7: skipped by the plugin as equivalent
    row = mutation.score(codes, {"m.f__mutmut_5": "why", "m.f__mutmut_7": "why"})["m"]
    assert (row["mutants"], row["killed"], row["equivalent"], row["skipped"]) == (7, 2, 2, 1)
    assert row["survived"] == ["m.f__mutmut_3"] and row["no_tests"] == ["m.f__mutmut_4"]
    assert row["timeouts"] == ["m.f__mutmut_2"]  # killed, and listed
    assert row["score"] == 0.5  # 2 killed of the 4 that are neither equivalent nor skipped


def test_an_incremental_run_reopens_the_survivors_and_the_untested_but_not_the_listed_equivalents(tmp_path):
    """...and a mutant skipped as equivalent once its entry is gone from the list."""
    meta = tmp_path / "mutants" / "src" / "m.py.meta"
    meta.parent.mkdir(parents=True)
    codes = {"a": KILLED, "b": mutation.SURVIVED, "c": mutation.NO_TESTS, "d": TIMEOUT, "e": None,
             "f": mutation.SURVIVED, "g": mutation.SKIPPED, "h": mutation.SKIPPED}
    meta.write_text(json.dumps({"exit_code_by_key": codes, "durations_by_key": {"a": 0.5}}))
    assert mutation.retest_alive(tmp_path, equivalent={"f", "h"}) == 3
    kept = json.loads(meta.read_text())
    assert kept["exit_code_by_key"] == {"a": KILLED, "b": None, "c": None, "d": TIMEOUT, "e": None,
                                        "f": mutation.SURVIVED,  # listed equivalent: not rerun
                                        "g": None,  # skipped as equivalent, no longer listed: rerun
                                        "h": mutation.SKIPPED}
    assert kept["durations_by_key"] == {"a": 0.5}


def test_a_kept_copy_loses_files_git_no_longer_lists_but_keeps_mutmuts_results(tmp_path):
    (tmp_path / "mutants").mkdir()
    (tmp_path / "mutants" / "x.py.meta").write_text("{}")
    (tmp_path / "src" / "gone.py").parent.mkdir()
    (tmp_path / "src" / "gone.py").write_text("")
    mutation.project_copy(tmp_path)
    assert (tmp_path / "mutants" / "x.py.meta").exists() and not (tmp_path / "src" / "gone.py").exists()
    source = ROOT / "src" / "stockcast" / "labels.py"
    copied = tmp_path / "src" / "stockcast" / "labels.py"
    assert copied.read_text() == source.read_text()
    assert copied.stat().st_mtime == source.stat().st_mtime  # mutmut regenerates only what is newer


def test_merging_keeps_other_shards_and_carries_the_cold_wall_time_through_incremental_runs(tmp_path):
    out = tmp_path / "mutation.json"
    row = {"mutants": 10, "killed": 9, "survived": ["q.f__mutmut_1"], "no_tests": [], "skipped": 0,
           "equivalent": 0, "score": 0.9}
    cold = [{"shard": "quality", "run": "cold", "wall_s": 900.0, "modules": {"q": row}},
            {"shard": "labels_split", "run": "cold", "wall_s": 300.0, "modules": {"l": row | {"score": 0.5}}}]
    out.write_text(json.dumps(mutation.merged(out, cold, 2)))
    again = [{"shard": "quality", "run": "incremental (1 alive mutants retested)", "wall_s": 40.0,
              "modules": {"q": row | {"score": 1.0}}}]
    report = mutation.merged(out, again, 2, note="after a new test")
    assert [s["shard"] for s in report["shards"]] == ["labels_split", "quality"]  # SHARDS' order
    assert (report["wall_s"], report["cold_wall_s"]) == (340.0, 1200.0)
    assert report["score_by_module"] == {"l": 0.5, "q": 1.0} and report["below_goal"] == ["l"]
    assert report["shards"][1]["note"] == "after a new test" and "note" not in report["shards"][0]


def test_a_shard_that_only_gained_tests_keeps_its_verdicts_under_mutmuts_own_fingerprint(tmp_path, monkeypatch):
    """The selection hash written is the one mutmut computes for the new tests (checked against mutmut
    itself, so an upgrade that changes it fails here); a file dropped reruns everything."""
    from mutmut import configuration

    stats, recorded = tmp_path / "mutants" / "mutmut-stats.json", tmp_path / "mutants" / mutation.SELECTION
    stats.parent.mkdir()
    stats.write_text(json.dumps({"config_fingerprint": {"test_selection": "old", "timeout": "t"}, "x": 1}))
    recorded.write_text(json.dumps(["tests/a.py"]))
    assert not mutation.keep_verdicts_if_tests_grew(tmp_path, ["tests/a.py"])  # unchanged: mutmut agrees itself
    assert not mutation.keep_verdicts_if_tests_grew(tmp_path, ["tests/b.py"])  # a.py dropped: rerun all
    assert json.loads(stats.read_text())["config_fingerprint"]["test_selection"] == "old"
    assert mutation.keep_verdicts_if_tests_grew(tmp_path, ["tests/a.py", "tests/b.py"])
    data = json.loads(stats.read_text())
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["src"]\n'
                                             'pytest_add_cli_args_test_selection = ["tests/a.py", "tests/b.py"]\n')
    monkeypatch.chdir(tmp_path)
    configuration.reset_config()
    try:
        expected = configuration.config().config_fingerprint()["test_selection"]
    finally:
        configuration.reset_config()
    assert data == {"config_fingerprint": {"test_selection": expected, "timeout": "t"}, "x": 1}
    assert json.loads(recorded.read_text()) == ["tests/a.py", "tests/b.py"]


def test_a_functions_first_mutant_runs_its_tests_quickest_first_each_files_tests_together(tmp_path):
    """The plugin mutation.py loads into mutmut's runs, in a real pytest run, with no record of earlier runs:
    a.py's quickest test (0.1 s) puts a.py first, then its other tests by duration (one mutmut never measured
    last), then b.py's."""
    import subprocess

    for file in ("a", "b"):
        (tmp_path / f"test_{file}.py").write_text("import pathlib\n" + "".join(
            f"def test_{name}():\n    pathlib.Path('ran').open('a').write('{file}.{name} ')\n"
            for name in ("slow", "quick", "unmeasured", "mid")))
    seconds = {"test_a.py::test_slow": 9.0, "test_a.py::test_quick": 0.1, "test_a.py::test_mid": 2.0,
               "test_b.py::test_slow": 0.5, "test_b.py::test_quick": 0.2, "test_b.py::test_mid": 0.3,
               "test_b.py::test_unmeasured": 0.4}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": seconds}))
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "benchmarks.mutation_plugin", "-p",
                          "no:cacheprovider", "test_b.py", "test_a.py"], cwd=tmp_path, capture_output=True,
                         text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert run.returncode == 0, run.stdout + run.stderr
    assert (tmp_path / "ran").read_text().split() == [
        "a.quick", "a.mid", "a.slow", "a.unmeasured", "b.quick", "b.mid", "b.unmeasured", "b.slow"]


def test_a_test_that_kills_a_functions_mutants_moves_up_only_as_far_as_its_measured_duration_earns(tmp_path):
    """In real pytest runs with the plugin, as mutmut forks them (-x). By mutmut's durations b.py's test_kills
    (0.5 s) would run first once it has killed (0.5 * 3 / 2 against a.quick's 0.3 * 3), but under f's mutants
    it takes ~0.3 s and a.py's tests ~0.02 and ~0.06 s (as a fixture mutmut's timing missed would),
    so f's next mutant runs a.py first again; under g's it fails at once and runs first from g's second mutant
    on. A plain run records nothing."""
    import subprocess

    (tmp_path / "test_a.py").write_text("import pathlib, time\n" + "".join(
        f"def test_{name}():\n    time.sleep({pause})\n    pathlib.Path('ran').open('a').write('a.{name} ')\n"
        for name, pause in (("quick", 0.02), ("mid", 0.06))))
    (tmp_path / "test_b.py").write_text(
        "import os, pathlib, time\ndef test_kills():\n    pathlib.Path('ran').open('a').write('b.kills ')\n"
        "    mutant = os.environ.get('MUTANT_UNDER_TEST', '')\n"
        "    time.sleep(0.3 if 'x_f__' in mutant else 0.0)\n"
        "    assert 'x_f__' not in mutant and 'x_g__' not in mutant\n")
    seconds = {"test_a.py::test_quick": 0.3, "test_a.py::test_mid": 0.4, "test_b.py::test_kills": 0.5}
    (tmp_path / "mutmut-stats.json").write_text(json.dumps({"duration_by_test": seconds}))

    def run(mutant: str | None) -> tuple[int, list[str]]:
        (tmp_path / "ran").write_text("")
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "benchmarks.mutation_plugin", "-p",
                               "no:cacheprovider", "test_a.py", "test_b.py"], cwd=tmp_path, capture_output=True,
                              text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""} | (
                                  {"MUTANT_UNDER_TEST": mutant} if mutant is not None else {}))
        return done.returncode, (tmp_path / "ran").read_text().split()

    kills = tmp_path / mutation_plugin.KILLS
    assert run(None) == (0, ["a.quick", "a.mid", "b.kills"]) and not kills.exists()
    assert run("pkg.mod.x_f__mutmut_1") == (1, ["a.quick", "a.mid", "b.kills"])
    record = json.loads((kills / "pkg.mod.x_f").read_text())
    assert {n: counts[:2] for n, counts in record.items()} == {
        "test_a.py::test_quick": [1, 0], "test_a.py::test_mid": [1, 0], "test_b.py::test_kills": [1, 1]}
    assert 0.3 <= record["test_b.py::test_kills"][2] < 3 and 0.02 <= record["test_a.py::test_quick"][2] < 0.3
    assert run("pkg.mod.x_f__mutmut_2") == (1, ["a.quick", "a.mid", "b.kills"])
    assert json.loads((kills / "pkg.mod.x_f").read_text())["test_b.py::test_kills"][:2] == [2, 2]
    assert run("pkg.mod.x_g__mutmut_1") == (1, ["a.quick", "a.mid", "b.kills"])
    assert run("pkg.mod.x_g__mutmut_2") == (1, ["b.kills"])
    assert sorted(p.name for p in kills.iterdir()) == ["pkg.mod.x_f", "pkg.mod.x_g"]


def test_a_clean_run_ends_at_once_only_where_this_runs_stats_run_passed_every_test_it_would_run(tmp_path):
    """In real pytest runs with the plugin: a failing stats run vouches for nothing; a passing one writes the tests
    it passed, and mutmut's clean run of them then ends at once with code 0, but only where TRUST_STATS is set
    and every test it selects is among them (a test the stats run did not pass runs, and so do the rest)."""
    import subprocess

    (tmp_path / "test_a.py").write_text("import os, pathlib\n" + "".join(
        f"def test_{name}():\n    pathlib.Path('ran').open('a').write('{name} ')\n"
        "    assert not os.environ.get('FAIL')\n" for name in ("one", "two")))
    passed = tmp_path / mutation_plugin.PASSED

    def run(kind: str | None, *tests: str, **env: str) -> tuple[int, list[str]]:
        (tmp_path / "ran").write_text("")
        done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "benchmarks.mutation_plugin", "-p",
                               "no:cacheprovider", *tests], cwd=tmp_path, capture_output=True, text=True,
                              env={"PYTHONPATH": str(ROOT), "PATH": ""} | env | (
                                  {"MUTANT_UNDER_TEST": kind} if kind is not None else {}))
        return done.returncode, (tmp_path / "ran").read_text().split()

    trusted = {mutation_plugin.TRUST_STATS: "1"}
    assert run("stats", "test_a.py", FAIL="1") == (1, ["one"]) and not passed.exists()
    assert run("stats", "test_a.py::test_one") == (0, ["one"])
    assert json.loads(passed.read_text()) == ["test_a.py::test_one"]
    assert run("", "test_a.py::test_one", **trusted) == (0, [])
    assert run("", "test_a.py::test_one") == (0, ["one"])  # not trusted
    assert run("", "test_a.py", **trusted) == (0, ["one", "two"])  # test_two was not in the stats run
    assert run(None, "test_a.py::test_one", **trusted) == (0, ["one"])  # a plain run
    assert run("pkg.mod.x_f__mutmut_1", "test_a.py::test_one", **trusted) == (0, ["one"])


@pytest.mark.parametrize(("mutant", "ran", "shared"), [
    (None, ("split", "train"), True),  # a plain run: the files' own code
    ("", ("split", "train"), True),  # mutmut's clean run
    ("stages.predict.x_main__mutmut_7", ("split", "train", "evaluate"), True),  # built before the mutated stage
    ("stages.train.x_main__mutmut_7", ("split", "train", "evaluate"), False),  # the mutated stage built it
    ("stages.train.xǁRunǁfit__mutmut_2", ("train",), False),  # a method of the mutated stage
    ("stockcast.fitting.x_fit__mutmut_1", ("split",), False),  # the library reaches every stage
    ("stats", ("split",), False),  # mutmut's coverage run: every test must call what it reaches
    ("fail", ("split",), False),  # mutmut's forced failure
])
def test_a_built_folder_is_shared_only_when_no_stage_that_built_it_is_mutated(monkeypatch, tmp_path, mutant, ran,
                                                                              shared):
    from .stages import SHARED, shared_folder

    if mutant is None:
        monkeypatch.delenv("MUTANT_UNDER_TEST", raising=False)
    else:
        monkeypatch.setenv("MUTANT_UNDER_TEST", mutant)
    monkeypatch.setenv(SHARED, str(tmp_path))
    assert shared_folder("before-x", ran) == (tmp_path / "before-x" if shared else None)
    monkeypatch.delenv(SHARED)
    assert shared_folder("before-x", ran) is None  # not under benchmarks/mutation.py: nothing is shared
    assert mutation.SHARED_FOLDERS == SHARED


def test_mutmuts_runs_write_bytecode_and_import_the_copys_own_code(tmp_path):
    """A forked run loads each stage script afresh (tests/stages.py): mutmut's copy of one holds all its mutants,
    so a run that may not write a .pyc compiles ~1 MB again each time."""
    env = mutation.mutmut_env({"PATH": "/bin", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": "/elsewhere",
                               "HOME": "/root"}, tmp_path / "shared", ("cvxpy", "dvc.repo"))
    assert env == {"PATH": f"{Path(sys.executable).parent}{os.pathsep}/bin", "HOME": "/root",
                   "HYPOTHESIS_PROFILE": "mutation", "DVC_NO_ANALYTICS": "1", "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
                   mutation.SHARED_FOLDERS: str(tmp_path / "shared"), mutation.PRELOAD_MODULES: "cvxpy,dvc.repo",
                   mutation.TRUST_STATS: ""}


def test_a_folder_is_published_whole_once(tmp_path):
    """The second process to publish a folder keeps the first one's copy and leaves no staging folder."""
    from .stages import publish

    for text in ("first", "second"):
        built = tmp_path / text
        (built / "data").mkdir(parents=True)
        (built / "data" / "x.txt").write_text(text)
        publish(built, tmp_path / "shared" / "before-x")
    assert (tmp_path / "shared" / "before-x" / "data" / "x.txt").read_text() == "first"
    assert [p.name for p in (tmp_path / "shared").iterdir()] == ["before-x"]


def test_the_plugin_imports_the_shards_preloads_and_starts_no_polars_pool():
    """What the fork server's collect-only warm-up imports for its forked runs must not leave polars' thread pool
    running: a forked child would wait forever on threads that stayed in the parent (benchmarks/mutation.py
    refuses such a test file). The listed equivalents are read there too, once, for every forked run. A plain test
    run imports and reads nothing ahead."""
    import subprocess

    check = ("import glob, re, sys, types, polars, benchmarks.mutation_plugin as plugin\n"
             "plugin.pytest_configure(types.SimpleNamespace(option=types.SimpleNamespace(collectonly=False)))\n"
             "assert 'cvxpy' not in sys.modules and not plugin.listed_equivalents.cache_info().currsize\n"
             "plugin.pytest_configure(types.SimpleNamespace(option=types.SimpleNamespace(collectonly=True)))\n"
             "threads = {open(p).read().strip() for p in glob.glob('/proc/self/task/*/comm')}\n"
             "print(all(m in sys.modules for m in sys.argv[1].split(',')),\n"
             "      any(re.fullmatch(r'polars-\\d+', t) for t in threads), len(plugin.listed_equivalents()) > 50,\n"
             "      plugin.listed_equivalents.cache_info().misses)")
    preload = ",".join(module for modules in mutation.PRELOAD.values() for module in modules)
    run = subprocess.run([sys.executable, "-c", check, preload], cwd=ROOT, capture_output=True, text=True,
                         check=True, env=os.environ | {"PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'src'}",
                                                       mutation.PRELOAD_MODULES: preload})
    assert run.stdout.split() == ["True", "False", "True", "1"]


def test_mutmuts_pytest_runs_load_none_of_the_unused_plugins_and_still_run_the_suites_fixtures(tmp_path):
    """configure()'s pytest arguments, in a real run: tmp_path, monkeypatch, capsys and hypothesis still work,
    and the plugins named unused are not loaded."""
    import subprocess
    import tomllib

    (tmp_path / "pyproject.toml").write_text("")
    mutation.configure(tmp_path, ["src/x.py"], ["test_x.py"])
    args = tomllib.loads((tmp_path / "pyproject.toml").read_text())["tool"]["mutmut"]["pytest_add_cli_args"]
    (tmp_path / "test_x.py").write_text(
        "from hypothesis import given, strategies as st\n@given(st.integers())\ndef test_given(x):\n"
        "    assert x == x\n"
        "def test_x(tmp_path, monkeypatch, capsys, request):\n    print('out')\n"
        "    assert capsys.readouterr().out == 'out\\n' and tmp_path.is_dir()\n"
        "    loaded = {name for name, p in request.config.pluginmanager.list_name_plugin() if p is not None}\n"
        "    assert not loaded & {'doctest', 'logging', 'debugging', 'unittest'}, loaded\n")
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", *args, "test_x.py"], cwd=tmp_path,
                         capture_output=True, text=True, env=mutation.mutmut_env(os.environ, tmp_path / "shared")
                         | {"PYTHONPATH": str(ROOT)})
    assert run.returncode == 0 and "2 passed" in run.stdout, run.stdout + run.stderr
    assert set(mutation.UNUSED_PLUGINS) <= {arg.removeprefix("no:") for arg in args}


def test_a_mutant_listed_equivalent_is_skipped_while_its_line_still_reads_the_same(tmp_path):
    """In a real pytest run with the plugin, as mutmut forks it: the listed mutant whose code still has the
    listed line (a function's or a method's) ends with mutmut's "skipped" code before any test runs; one whose
    line changed and an unlisted one run their tests."""
    import subprocess

    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "mod.py").write_text(
        "def x_f__mutmut_1(a):\n    return a + 0\n\n\ndef x_f__mutmut_2(a):\n    return a - 0\n\n\n"
        "class C:\n    def xǁCǁg__mutmut_1(self):\n        return 1\n")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "benchmarks" / "mutation_equivalent.toml").write_text(
        '["pkg.mod.x_f__mutmut_1"]\nline = "return a + 0"\nwhy = "adds nothing"\n\n'
        '["pkg.mod.x_f__mutmut_2"]\nline = "return a - 1"\nwhy = "the code has changed since"\n\n'
        '["pkg.mod.xǁCǁg__mutmut_1"]\nline = "return 1"\nwhy = "a method\'s mutant"\n')
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    codes = {}
    for mutant in ("pkg.mod.x_f__mutmut_1", "pkg.mod.x_f__mutmut_2", "pkg.mod.x_f__mutmut_3",
                   "pkg.mod.xǁCǁg__mutmut_1"):
        run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "benchmarks.mutation_plugin", "-p",
                              "no:cacheprovider", "test_x.py"], cwd=tmp_path, capture_output=True, text=True,
                             env={"PYTHONPATH": str(ROOT), "PATH": "", "MUTANT_UNDER_TEST": mutant})
        codes[mutant] = run.returncode
    assert codes == {"pkg.mod.x_f__mutmut_1": mutation.SKIPPED, "pkg.mod.x_f__mutmut_2": 0,
                     "pkg.mod.x_f__mutmut_3": 0, "pkg.mod.xǁCǁg__mutmut_1": mutation.SKIPPED}


def test_a_record_kept_from_before_seconds_were_recorded_ranks_its_tests_as_not_yet_run(tmp_path):
    """A shard copy kept from an older plugin holds [runs, failures] per test. Its counts cannot give a mean
    duration, so its tests are ranked by mutmut's figures (a.quick first, where the old record's 40 kills in
    40 runs would have put b.kills first) and the record is written anew with seconds."""
    import subprocess

    (tmp_path / "test_a.py").write_text("import pathlib\ndef test_quick():\n"
                                        "    pathlib.Path('ran').open('a').write('a.quick ')\n")
    (tmp_path / "test_b.py").write_text("import pathlib\ndef test_kills():\n"
                                        "    pathlib.Path('ran').open('a').write('b.kills ')\n    assert False\n")
    (tmp_path / "mutmut-stats.json").write_text(json.dumps(
        {"duration_by_test": {"test_a.py::test_quick": 0.3, "test_b.py::test_kills": 0.5}}))
    kills = tmp_path / mutation_plugin.KILLS
    kills.mkdir()
    (kills / "pkg.mod.x_f").write_text(json.dumps({"test_b.py::test_kills": [40, 40]}))
    done = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "benchmarks.mutation_plugin", "-p",
                           "no:cacheprovider", "test_a.py", "test_b.py"], cwd=tmp_path, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": "",
                                          "MUTANT_UNDER_TEST": "pkg.mod.x_f__mutmut_3"})
    assert done.returncode == 1, done.stdout + done.stderr
    assert (tmp_path / "ran").read_text().split() == ["a.quick", "b.kills"]
    record = json.loads((kills / "pkg.mod.x_f").read_text())
    assert {n: counts[:2] for n, counts in record.items()} == {"test_a.py::test_quick": [1, 0],
                                                               "test_b.py::test_kills": [1, 1]}
    assert all(len(counts) == 3 for counts in record.values())


def test_a_listed_mutant_counts_equivalent_while_its_line_is_in_its_mutated_code_and_is_stale_after(tmp_path):
    """Read from mutmut's mutated file, as the plugin reads it before skipping a run: mutant 1 still has its listed
    line; mutant 2's line changed since it was listed (stale); a killed one or one not generated is neither."""
    module = tmp_path / "mutants" / "src" / "pkg" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text("def x_f__mutmut_1(a):\n    return a >= 0\n\n\ndef x_f__mutmut_2(a):\n    return a + 2\n")
    entry = lambda line: {"line": line, "why": f"{line}: why"}  # noqa: E731
    listed = {"pkg.mod.x_f__mutmut_1": entry("return a >= 0"), "pkg.mod.x_f__mutmut_2": entry("return a + 1"),
              "pkg.mod.x_f__mutmut_3": entry("return a"), "pkg.mod.x_g__mutmut_1": entry("return a")}
    codes = {"pkg.mod.x_f__mutmut_1": mutation.SKIPPED, "pkg.mod.x_f__mutmut_2": mutation.SURVIVED,
             "pkg.mod.x_f__mutmut_3": KILLED}
    assert mutation.equivalents(tmp_path, codes, listed) == (
        {"pkg.mod.x_f__mutmut_1": "return a >= 0: why"}, ["pkg.mod.x_f__mutmut_2"])
