"""The data stages' scripts (params, ingest, quality, features, split) do their own part of the job: each
reads the deps dvc.yaml gives it, hands its params section to the library whole, and writes what the
library returns to the outs dvc.yaml names, and nowhere else.

Each runs in-process (tests/stages.py) on a slice of the bundled sample, with params that differ from
every default the library would fall back to, so a dropped or swapped argument, a wrong path or a lost
output in a stage fails here in seconds. The outputs are checked against the library run on the same
inputs and against the rules the params set (the horizon of the label, the embargo between segments,
the folds' periods). These are the data stages' shard (stages_data) in benchmarks/mutation.py.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml

from stockcast.data import exchanges
from stockcast.data.quality import check, headline
from stockcast.data.universe import read_universe_file
from stockcast.errors import StockcastError
from stockcast.features.registry import compute, feature_set
from stockcast.labels import make_labels
from stockcast.params import load_section

from .conftest import ROOT, SAMPLE
from .stages import built, project, run_stage, set_params

ORDER = ("params", "ingest", "quality", "features", "split")
INPUT = "data/input/ohlcv.parquet"
CHANGES = {
    "ingest": {"source": "sample", "path": INPUT, "download": {"cache_dir": "data/cache/nested"}},
    "quality": {"min_history_days": 150, "stale_run": 4, "extreme_move": 0.3},
    "features": {"set": "basic", "families": ["price", "momentum"]},
    "split": {"label": "excess", "horizon": 2, "dead_zone": 0.001, "dead_zone_mode": "flat", "train_fraction": 0.5,
              "val_fraction": 0.25, "fraction_of": "dates", "embargo_days": 70, "min_rows_per_segment": 40,
              "folds": {"scheme": "expanding", "step_days": 126, "min_train_days": 300, "train_days": 252}},
}


def _outs(stage: str, folder: Path) -> set[str]:
    """The files and folders dvc.yaml declares `stage` writes (outs and metrics), its ${...} resolved."""
    declared = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    params = yaml.safe_load((folder / "params.yaml").read_text())
    paths = set()
    for entry in declared.get("outs", []) + declared.get("metrics", []):
        path = next(iter(entry)) if isinstance(entry, dict) else entry
        if path.startswith("${"):
            section, _, key = path[2:-1].partition(".")
            path = params[section]
            for part in key.split("."):
                path = path[part]
        paths.add(path)
    return paths


def _files(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}


class Before:
    """{stage: the project folder as that stage finds it}, each built on first use: the folder the stage before it
    in ORDER finds, with that stage run in a copy. Under benchmarks/mutation.py a folder is taken from, or
    published to, the shared folders when no stage that built it is mutated (tests/stages.py), so a mutant of
    split does not run the four stages before it again."""

    def __init__(self, root: Path) -> None:
        self.root, self.folders = root, {}

    def __getitem__(self, stage: str) -> Path:
        ran = ORDER[:ORDER.index(stage)]
        return built(self.folders, f"data-before-{stage}", ran, lambda: self._build(stage, ran))

    def _build(self, stage: str, ran: tuple[str, ...]) -> Path:
        if not ran:
            return self._project()
        folder = shutil.copytree(self[ran[-1]], self.root / f"before-{stage}")
        run_stage(folder, ran[-1])
        return folder

    def _project(self) -> Path:
        folder = project(self.root / "project", {k: v for k, v in CHANGES.items() if k != "ingest"})
        params = yaml.safe_load((folder / "params.yaml").read_text())
        download = params["ingest"]["download"] | CHANGES["ingest"]["download"]
        params["ingest"].update(CHANGES["ingest"] | {"download": download})  # nested: project() merges one level
        params["split"]["folds"] = CHANGES["split"]["folds"]
        (folder / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
        (folder / INPUT).parent.mkdir(parents=True)
        pl.read_parquet(SAMPLE).filter(pl.col("date").is_between(date(2009, 1, 1), date(2013, 3, 1))).write_parquet(
            folder / INPUT)
        return folder


@pytest.fixture(scope="module")
def before(tmp_path_factory) -> Before:
    return Before(tmp_path_factory.mktemp("chain"))


def _run(before: Before, stage: str, tmp_path: Path) -> Path:
    """`stage` run on a copy of the folder it finds; it must write exactly its declared outs."""
    folder = shutil.copytree(before[stage], tmp_path / "project")
    existing = _files(folder)
    run_stage(folder, stage)
    written = _files(folder) - existing
    declared = _outs(stage, folder)
    assert all(any(f == d or f.startswith(d.rstrip("/") + "/") for d in declared) for f in written), (
        f"{stage} wrote outside its outs {sorted(declared)}: {sorted(written)}")
    assert all((folder / d).exists() for d in declared), f"{stage} did not write all of {sorted(declared)}"
    return folder


def test_the_params_stage_checks_the_file_and_leaves_its_stamp(before, tmp_path):
    folder = _run(before, "params", tmp_path)
    assert (folder / "data" / "params.checked").read_text() == "params.yaml passed stockcast's checks\n"
    bad = shutil.copytree(before["params"], tmp_path / "bad")
    (bad / "params.yaml").write_text((bad / "params.yaml").read_text().replace("horizon: 2", "horizon: 0"))
    with pytest.raises(StockcastError, match="split.horizon"):
        run_stage(bad, "params")
    assert not (bad / "data" / "params.checked").exists()


def test_the_ingest_stage_writes_the_configured_source_with_its_meta(before, tmp_path, capsys):
    folder = _run(before, "ingest", tmp_path)
    raw = pl.read_parquet(folder / "data" / "raw" / "ohlcv.parquet")
    source = pl.read_parquet(folder / INPUT)
    assert raw.height == source.height and raw.sort("ticker", "date")["close"].equals(
        source.sort("ticker", "date")["close"])
    meta = json.loads((folder / "data" / "raw" / "ohlcv.meta.json").read_text())
    assert (meta["source"], meta["path"], meta["rows"], meta["tickers"]) == (
        "sample", INPUT, source.height, source["ticker"].n_unique())
    assert (folder / "data" / "cache" / "nested").is_dir()  # made with its parents, even when unused
    run_stage(folder, "ingest")  # `dvc repro -f ingest`: the cache folder is there already
    assert capsys.readouterr().out.endswith(f"{source['ticker'].n_unique()} tickers from sample -> "
                                            "data/raw/ohlcv.parquet\n")  # nothing skipped, nothing said


def test_the_ingest_stage_says_which_files_and_rows_a_folder_source_skipped(before, tmp_path, capsys):
    """A folder of CSV exports: the editor and hidden files beside them and the blank rows they end with
    are left out, and the stage's line says how many of each (what `dvc repro` shows a user)."""
    folder = shutil.copytree(before["ingest"], tmp_path / "project")
    bars, csv = pl.read_parquet(folder / INPUT), folder / "data" / "input" / "csv"
    csv.mkdir()
    for ticker in ("AAPL", "IBM"):
        (csv / f"{ticker}.csv").write_text(bars.filter(pl.col("ticker") == ticker).drop("ticker").write_csv())
    with (csv / "AAPL.csv").open("a") as f:
        f.write(",,,,,,\n,,,,,,\n\n,,,,,,\n")
    (csv / "IBM.csv~").write_text("a backup\n")
    (csv / "._AAPL.csv").write_text("macOS metadata\n")
    set_params(folder, {"ingest": {"source": "directory", "path": "data/input/csv"}})
    run_stage(folder, "ingest")
    said = capsys.readouterr().out
    assert said.endswith("from directory -> data/raw/ohlcv.parquet; skipped 2 hidden or editor files; "
                         "skipped 4 blank rows\n"), said  # the empty line counts too
    assert pl.read_parquet(folder / "data" / "raw" / "ohlcv.parquet").height == bars.filter(
        pl.col("ticker").is_in(["AAPL", "IBM"])).height


def test_the_quality_stage_writes_the_librarys_verdict_on_the_raw_bars(before, tmp_path, capsys):
    folder = _run(before, "quality", tmp_path)
    said = capsys.readouterr().out  # what dvc repro shows: the rules with a count, and only those
    assert "quarantined {'zero_volume': 1}, rules broken {'zero_volume': 1}, warnings {}," in said
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(folder)
        params, universe = load_section("quality"), read_universe_file(load_section("universe").path)
    raw = pl.read_parquet(folder / "data" / "raw" / "ohlcv.parquet")
    expected = check(raw, params, exchanges=exchanges.of_universe(universe))
    assert pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet").equals(expected.clean)
    assert pl.read_parquet(folder / "data" / "quarantine" / "ohlcv.parquet").equals(expected.quarantine)
    assert pl.read_parquet(folder / "data" / "quarantine" / "findings.parquet").equals(expected.findings)
    report = json.loads((folder / "data" / "quarantine" / "report.json").read_text())
    assert report["provenance"] == {"source": "sample"}
    assert {k: v for k, v in report.items() if k != "provenance"} == json.loads(json.dumps(expected.report))
    assert json.loads((folder / "metrics" / "quality.json").read_text()) == headline(expected.report)
    assert report["tickers_dropped"] == [] and "FB" in set(expected.clean["ticker"])  # 196 rows: 150 is enough
    assert report["by_rule"]["zero_volume"] == 1


def test_the_quality_stage_judges_a_ticker_by_the_exchange_its_data_named(before, tmp_path):
    """The exchanges ingest found in the data (its meta) join the universe file's: FB, named XLON there and
    unplaced in the universe file, is judged by London's calendar; the source's provenance is carried on."""
    folder = shutil.copytree(before["quality"], tmp_path / "project")
    universe = folder / "data" / "sample" / "universe.csv"
    table = pl.read_csv(universe, infer_schema=False)
    table.with_columns(exchange=pl.when(pl.col("ticker") == "FB").then(None).otherwise("exchange")).write_csv(universe)
    meta_file = folder / "data" / "raw" / "ohlcv.meta.json"
    meta = json.loads(meta_file.read_text()) | {"exchanges": {"FB": "XLON"}, "served_by": {"FB": "stooq"},
                                                "not_served": {"IBM": ["yahoo: 404"]}}
    meta_file.write_text(json.dumps(meta))
    run_stage(folder, "quality")
    report = json.loads((folder / "data" / "quarantine" / "report.json").read_text())
    assert report["calendars"]["XLON"]["tickers"] == 1
    assert report["calendars"]["XNAS"]["tickers"] == table.filter(pl.col("exchange") == "XNAS").height - 1
    assert report["provenance"] == {"source": "sample", "served_by": {"FB": "stooq"},
                                    "not_served": {"IBM": ["yahoo: 404"]}}
    table.write_csv(universe)  # the universe file places FB on XNAS: the two disagree, and the error says where
    with pytest.raises(StockcastError, match=r"^data/sample/universe.csv: ticker 'FB' is on exchange 'XNAS' there"):
        run_stage(folder, "quality")


def test_the_quality_stage_names_the_raw_file_when_it_breaks_the_contract(before, tmp_path):
    folder = shutil.copytree(before["quality"], tmp_path / "project")
    raw = folder / "data" / "raw" / "ohlcv.parquet"
    pl.read_parquet(raw).drop("volume").write_parquet(raw)
    with pytest.raises(StockcastError, match=r"^data/raw/ohlcv.parquet: breaks the RawOHLCV contract"):
        run_stage(folder, "quality")


def test_the_features_stage_computes_the_configured_set_and_families(before, tmp_path):
    folder = _run(before, "features", tmp_path)
    features = feature_set("basic", ["price", "momentum"])
    clean = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    assert pl.read_parquet(folder / "data" / "features" / "features.parquet").equals(compute(clean, features))
    manifest = json.loads((folder / "data" / "features" / "manifest.json").read_text())
    assert (manifest["set"], manifest["families"]) == ("basic", ["price", "momentum"])
    assert manifest["features"] == [f.describe() for f in features]
    assert manifest["max_lookback"] == max(f.lookback for f in features) < max(
        f.lookback for f in feature_set("basic", None))


def test_the_split_stage_labels_segments_and_folds_by_its_params(before, tmp_path, capsys):
    folder = _run(before, "split", tmp_path)
    splits = folder / "data" / "splits"
    labels = pl.read_parquet(splits / "labels.parquet")
    said = re.search(r"labelled rows per segment (\{.*?\}), tickers (\{.*?\});", capsys.readouterr().out)
    assert ast.literal_eval(said[1]) == dict(labels.group_by("segment").agg(pl.col("label").count()).iter_rows())
    tickers = json.loads((splits / "coverage.json").read_text())["tickers"]
    assert ast.literal_eval(said[2]) == {segment: len(names) for segment, names in tickers.items()}
    clean = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    expected = make_labels(clean, 2, "excess", 0.001, "flat").select("ticker", "date", "label")
    paired = labels.join(expected, on=["ticker", "date"], how="left", suffix="_library")
    assert paired.height == labels.height and paired["label"].eq_missing(paired["label_library"]).all()
    assert set(labels["label"].drop_nulls().unique()) == {0, 1, 2}  # flat: the third class
    bounds = json.loads((splits / "boundaries.json").read_text())
    assert (bounds["horizon"], bounds["embargo_days"], bounds["label"], bounds["n_classes"]) == (2, 70, "excess", 3)
    dates = clean["date"].unique().sort()
    position = {d: i for i, d in enumerate(dates)}
    val, test = date.fromisoformat(bounds["val_start"]), date.fromisoformat(bounds["test_start"])
    # fraction_of dates: train takes half the calendar, val a quarter, each segment after an embargo of 70 dates
    assert position[val] == pytest.approx(0.5 * len(dates) + 70, abs=2)
    assert position[test] == pytest.approx(0.75 * len(dates) + 70, abs=2)
    last_train = labels.filter(pl.col("segment") == "train")["date"].max()
    last_val = labels.filter(pl.col("segment") == "val")["date"].max()
    assert position[val] - position[last_train] - 1 == 70 == position[test] - position[last_val] - 1  # embargo
    folds = json.loads((splits / "folds.json").read_text())
    at = {d: i for i, d in enumerate(labels["date"].unique().sort())}  # the folds are cut on the labelled dates
    spans = [{k: [at[date.fromisoformat(d)] for d in fold[k]] for k in ("train", "val", "test")}
             for fold in folds["folds"]]
    assert folds["scheme"] == "expanding" and len(spans) >= 3
    assert spans[0]["test"][0] == 300 + 70                                    # min_train_days, then the embargo
    assert all(b["test"][0] == a["test"][1] + 1 for a, b in zip(spans, spans[1:]))  # back to back
    assert all(f["test"][1] - f["test"][0] + 1 == 126 for f in spans[:-1])     # step_days
    assert all(f["train"][0] == 0 and f["val"][1] == f["test"][0] - 71 for f in spans)  # expanding: from the start
    assert all(f["val"][0] - f["train"][1] - 1 == 70 for f in spans)
    coverage = json.loads((splits / "coverage.json").read_text())
    assert coverage["min_rows_per_segment"] == 40


def test_the_split_stage_cuts_at_the_dates_it_is_given(before, tmp_path):
    """split.val_start and test_start, when set, decide the segments instead of the fractions; with
    fraction_of: rows, the fractions are shares of the labelled rows (train: half)."""
    folder = shutil.copytree(before["split"], tmp_path / "project")
    set_params(folder, {"split": {"val_start": "2011-01-03", "test_start": "2012-01-03"}})
    run_stage(folder, "split")
    bounds = json.loads((folder / "data" / "splits" / "boundaries.json").read_text())
    assert (bounds["val_start"], bounds["test_start"]) == ("2011-01-03", "2012-01-03")
    set_params(folder, {"split": {"val_start": None, "test_start": None, "fraction_of": "rows", "label": "direction"}})
    run_stage(folder, "split")
    labels = pl.read_parquet(folder / "data" / "splits" / "labels.parquet")
    assert labels.filter(pl.col("segment") == "train").height / labels.height == pytest.approx(0.5, abs=0.01)
    clean = pl.read_parquet(folder / "data" / "clean" / "ohlcv.parquet")
    expected = make_labels(clean, 2, "direction", 0.001, "flat").select("ticker", "date", "label")
    assert labels.select("ticker", "date", "label").join(expected, on=["ticker", "date"], how="left").select(
        pl.col("label").eq_missing(pl.col("label_right")).all()).item()
    set_params(folder, {"split": {"folds": {"scheme": "rolling", "step_days": 126, "min_train_days": 300,
                                            "train_days": 252}}})
    run_stage(folder, "split")
    folds = json.loads((folder / "data" / "splits" / "folds.json").read_text())["folds"]
    at = {d: i for i, d in enumerate(labels["date"].unique().sort())}
    starts = [(at[date.fromisoformat(f["train"][0])], at[date.fromisoformat(f["test"][0])]) for f in folds]
    assert all(train == max(0, test - 70 - 252) for train, test in starts)  # rolling: train_days before the embargo
    assert any(train > 0 for train, _ in starts)
