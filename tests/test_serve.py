"""The HTTP service and `stockcast predict`: the pipeline's own numbers, over a real server.

A tiny model is trained with the project's own stages (tests/trained.py) and its predict stage run;
`stockcast serve` then runs in a subprocess on a free 127.0.0.1 port and httpx talks to it. GET
answers the predict stage's prob exactly; POST of bars cut at a test date answers the probability
the evaluate stage scored at that date; bad input gets a 4xx and one line; a bug gets a 500 and the
server keeps serving (an in-process uvicorn, where a test can break the scorer); 2,000 requests from
8 concurrent clients get no error. The CLI's predict is compared with Scorer.score_bars.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
import uvicorn
from typer.testing import CliRunner

from stockcast.cli import app as cli
from stockcast.data.directory import load_directory
from stockcast.errors import StockcastError
from stockcast.predict import Scorer
from stockcast.serve.app import api, create_app
from stockcast.serve.docs import render

from .conftest import ROOT
from .stages import run_stage
from .trained import cut_dates, prepare, trained

SIGNALS = "data/signals/latest.parquet"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A trained, evaluated project with its predict stage's table."""
    folder = trained(prepare(tmp_path_factory.mktemp("serve") / "prepared"), tmp_path_factory.mktemp("trained"),
                     model="lstm")
    run_stage(folder, "predict", "models/lstm")
    return folder


@pytest.fixture(scope="module")
def scorer(project) -> Scorer:
    return Scorer.load(project / "models/lstm", 0.5)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_live(url: str, alive: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{url}/health/live", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(project) -> Iterator[str]:
    """`stockcast serve models/lstm` in the project folder, as a user runs it; stopped as Ctrl-C would."""
    port = _free_port()
    env = os.environ | {"PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "stockcast.cli", "serve", "models/lstm", "--port", str(port)],
                               cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_live(url, lambda: process.poll() is None)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def in_process(app) -> Iterator[str]:
    """A real uvicorn server of `app` on a thread of this process (so a test can patch what it calls)."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_live(url, thread.is_alive, 20)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=20)


def _bars_json(bars: pl.DataFrame) -> list[dict]:
    return bars.with_columns(pl.col("date").cast(pl.String)).to_dicts()


def _post(url: str, bars: pl.DataFrame | list[dict]) -> httpx.Response:
    rows = bars if isinstance(bars, list) else _bars_json(bars)
    return httpx.post(f"{url}/v1/predict", json={"bars": rows}, timeout=30)


def _one_ticker(project: Path, scorer: Scorer, rows: int | None = None) -> pl.DataFrame:
    raw = pl.read_parquet(project / "data/raw/ohlcv.parquet")
    ticker = raw["ticker"].unique().sort()[0]
    return raw.filter(pl.col("ticker") == ticker).tail(rows or scorer.min_rows)


def test_ready_names_the_model_by_its_hash_and_the_signals_by_their_date(server, project, scorer):
    ready = httpx.get(f"{server}/health/ready").json()
    table = pl.read_parquet(project / SIGNALS)
    assert ready == {"status": "ready", "model": "lstm", "model_hash": Scorer.load(project / "models/lstm").hash,
                     "threshold": 0.5, "features": len(scorer.features), "seq_len": 5, "min_rows": scorer.min_rows,
                     "signals_as_of": str(table["as_of"].max()), "signals_tickers": table.height}
    assert httpx.get(f"{server}/health/live").json() == {"status": "live"}
    assert httpx.get(f"{server}/openapi.json").json() == api().openapi()  # what docs/serving.md is made from


def test_a_tickers_signal_is_the_predict_stages_row_exactly(server, project):
    table = pl.read_parquet(project / SIGNALS)
    assert table.height == 6
    for row in table.iter_rows(named=True):
        answer = httpx.get(f"{server}/v1/signals/{row['ticker']}").json()
        expected = row | {"as_of": str(row["as_of"]), "prob_down": None, "prob_flat": None}
        assert answer == expected  # prob: the table's float32, exactly (JSON keeps every digit of a double)


def test_posted_bars_cut_at_a_test_date_get_the_probability_evaluate_scored(server, project):
    raw = pl.read_parquet(project / "data/raw/ohlcv.parquet")
    predictions = pl.read_parquet(project / "data/predictions/predictions.parquet")
    for cut in cut_dates(predictions):
        expected = predictions.filter(pl.col("date") == cut).select("ticker", "prob").sort("ticker")
        history = raw.filter((pl.col("date") <= cut) & pl.col("ticker").is_in(expected["ticker"].implode()))
        response = _post(server, history)
        assert response.status_code == 200, response.text
        got = response.json()["signals"]
        assert [s["ticker"] for s in got] == expected["ticker"].to_list()
        assert {s["as_of"] for s in got} == {str(cut)} and {s["reason"] for s in got} == {None}
        np.testing.assert_allclose([s["prob"] for s in got], expected["prob"].to_numpy(), atol=1e-6)
        assert [s["call"] for s in got] == ["up" if s["prob"] > 0.5 else "down" for s in got]


def test_exactly_min_rows_bars_are_scored_as_the_scorer_scores_them(server, project, scorer):
    bars = _one_ticker(project, scorer)
    got = _post(server, bars).json()["signals"]
    expected, _ = scorer.score_bars(bars)
    assert got == [row | {"as_of": str(row["as_of"]), "prob_down": None, "prob_flat": None}
                   for row in expected.iter_rows(named=True)]


def _edited(bars: pl.DataFrame, at: int, **values) -> list[dict]:
    rows = _bars_json(bars)
    rows[at] = {k: v for k, v in (rows[at] | values).items() if v is not ...}
    return rows


def test_bad_input_is_a_4xx_in_one_line_and_the_server_keeps_serving(server, project, scorer):
    bars = _one_ticker(project, scorer)
    ticker, n = bars["ticker"][0], scorer.min_rows
    day = str(bars["date"][3])
    where = f"(ticker '{ticker}', date '{day}')"
    json_body = {"content-type": "application/json"}
    nan_body = json.dumps({"bars": _edited(bars, 3, close=float("nan"))})  # Python's json writes a NaN token
    assert "NaN" in nan_body
    cases = [
        (_post(server, _edited(bars, 3, close=...)), 422, f"bars[3].close {where}: Field required"),
        (_post(server, bars.head(n - 1)), 422,
         f"ticker {ticker}: {n - 1} bars, the model needs at least {n} (feature warm-up {scorer.lookback} + window "
         f"{scorer.seq_len})"),
        (httpx.post(f"{server}/v1/predict", content=nan_body, headers=json_body), 422,
         f"bars[3].close {where}: Input should be a finite number (got nan)"),
        (httpx.post(f"{server}/v1/predict", content=nan_body.replace("NaN", "-Infinity"), headers=json_body), 422,
         f"bars[3].close {where}: Input should be a finite number (got -inf)"),
        (_post(server, _edited(bars, 3, close=None)), 422,
         f"bars[3].close {where}: Input should be a valid number (got None)"),
        (_post(server, _edited(bars, 3, volume=1.5)), 422,
         f"bars[3].volume {where}: Input should be a valid integer, got a number with a fractional part (got 1.5)"),
        (_post(server, _edited(bars, 3, Close=1.0)), 422, f"bars[3].Close {where}: Extra inputs are not permitted "
                                                          "(got 1.0)"),
        (_post(server, _edited(bars, 3, ticker="../x")), 422, "bars[3].ticker (ticker '../x', date "
         f"'{day}'): '../x' is not a valid ticker (1-32 of A-Z a-z 0-9 . ^ = - _ &, starting with a letter, digit or "
         "^; no path separators, no '..') (got '../x')"),
        (_post(server, _edited(bars, 3, low=1e6)), 422,
         f"ticker {ticker}: bar of {day} quarantined by quality rule ohlc_inconsistent"),
        (_post(server, _edited(bars, 3, close=-1.0)), 422,
         f"ticker {ticker}: bar of {day} quarantined by quality rule non_positive_price"),
        (_post(server, _bars_json(bars) + _bars_json(bars.tail(1))), 422,
         f"ticker {ticker}: bar of {bars['date'][-1]} quarantined by quality rule duplicate"),
        (_post(server, []), 422, "bars: List should have at least 1 item after validation, not 0 (got [])"),
        (httpx.post(f"{server}/v1/predict", content=b'{"bars": [', headers=json_body), 422,
         "body: not valid JSON (Expecting value at character 10)"),
        (httpx.post(f"{server}/v1/predict", content=b'{"bars": []}'), 422,
         'body: expected a JSON object {"bars": [...]} sent with Content-Type: application/json'),
        (httpx.get(f"{server}/v1/signals/ZZZ"), 404, f"ticker 'ZZZ' is not in {SIGNALS} (6 tickers, as of "),
        (httpx.get(f"{server}/v2/signals"), 404, "no such endpoint: GET /v2/signals (see /openapi.json)"),
        (httpx.get(f"{server}/docs"), 404, "no such endpoint: GET /docs"),  # Swagger UI would need a CDN
        (httpx.delete(f"{server}/v1/predict"), 405, "DELETE is not allowed on /v1/predict"),
    ]
    for response, status, message in cases:
        error = response.json()["error"]
        assert (response.status_code, error[:len(message)]) == (status, message), error
        assert list(response.json()) == ["error"] and "\n" not in error
    assert httpx.get(f"{server}/health/live").status_code == 200
    assert _post(server, bars).status_code == 200


def test_a_bug_is_a_500_in_one_line_and_the_server_keeps_serving(project, scorer, monkeypatch):
    bars = _one_ticker(project, scorer)
    with in_process(create_app(scorer, pl.read_parquet(project / SIGNALS))) as url:
        with monkeypatch.context() as patch:
            patch.setattr(Scorer, "score_bars", lambda self, bars: 1 / 0)
            response = _post(url, bars)
        assert (response.status_code, response.json()) == (
            500, {"error": "internal error (ZeroDivisionError: division by zero); the server keeps serving"})
        assert httpx.get(f"{url}/health/live").status_code == 200
        assert _post(url, bars).status_code == 200


def test_without_a_signals_table_the_service_still_scores_and_says_to_run_the_predict_stage(project, scorer):
    bars = _one_ticker(project, scorer)
    with in_process(create_app(scorer, None, "data/signals/none.parquet")) as url:
        response = httpx.get(f"{url}/v1/signals/{bars['ticker'][0]}")
        assert (response.status_code, response.json()) == (503, {"error": (
            "no signals table (data/signals/none.parquet did not exist when the server started): run the predict "
            "stage (dvc repro predict) and restart the server")})
        ready = httpx.get(f"{url}/health/ready").json()
        assert (ready["signals_as_of"], ready["signals_tickers"]) == (None, 0)
        assert _post(url, bars).json()["signals"][0]["prob"] == scorer.score_bars(bars)[0]["prob"][0]


def test_a_signals_table_another_model_made_is_refused_at_start(project, scorer, monkeypatch, tmp_path):
    other = pl.read_parquet(project / SIGNALS).with_columns(model_hash=pl.lit("0" * 64))
    with pytest.raises(StockcastError, match=f"made by model hash 000000000000, not by the served lstm "
                                             f"{scorer.hash[:12]}; rerun the predict stage"):
        create_app(scorer, other)
    other.write_parquet(tmp_path / "other.parquet")
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["serve", "--signals", str(tmp_path / "other.parquet")])
    assert result.exit_code == 2 and "made by model hash 000000000000" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_2000_requests_from_8_concurrent_clients_get_no_error(server, project, scorer):
    """GETs and POSTs mixed 3:1; every answer a 200 with the right prob. Prints p50/p99 (not asserted)."""
    table = {row["ticker"]: row["prob"] for row in pl.read_parquet(project / SIGNALS).iter_rows(named=True)}
    bars = _one_ticker(project, scorer)
    body, expected = {"bars": _bars_json(bars)}, scorer.score_bars(bars)[0]["prob"][0]
    tickers = sorted(table)
    times: list[float] = []
    wrong: list[str] = []

    def client(k: int) -> None:
        with httpx.Client(base_url=server, timeout=60) as http:
            for i in range(250):
                start = time.perf_counter()
                if i % 4 == 3:
                    response, prob = http.post("/v1/predict", json=body), expected
                else:
                    ticker = tickers[(k + i) % len(tickers)]
                    response, prob = http.get(f"/v1/signals/{ticker}"), table[ticker]
                times.append(time.perf_counter() - start)
                answer = response.json()
                got = answer["signals"][0]["prob"] if "signals" in answer else answer.get("prob")
                if response.status_code != 200 or got != prob:
                    wrong.append(f"{response.status_code} {response.text[:200]}")

    threads = [threading.Thread(target=client, args=(k,)) for k in range(8)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    wall = time.perf_counter() - start
    assert len(times) == 2000 and wrong == []
    p50, p99 = np.percentile(np.asarray(times) * 1000, [50, 99])
    print(f"load: 2000 requests, 8 clients, {2000 / wall:.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms")


def test_cli_predict_prints_and_writes_what_the_scorer_scores(project, scorer, monkeypatch, tmp_path):
    raw = pl.read_parquet(project / "data/raw/ohlcv.parquet")
    tickers = raw["ticker"].unique().sort().to_list()
    short = raw.filter(pl.col("ticker") == tickers[1]).tail(10)
    file = tmp_path / "bars.csv"
    pl.concat([raw.filter(pl.col("ticker") == tickers[0]), short]).rename(
        {"adj_close": "Adj Close", "close": "Close", "ticker": "Symbol"}).write_csv(file)  # Yahoo-ish spellings
    expected, _ = scorer.score_bars(load_directory(file)[0])
    monkeypatch.chdir(project)
    runner = CliRunner()
    for out in (tmp_path / "signals.parquet", tmp_path / "signals.csv"):
        result = runner.invoke(cli, ["predict", str(file), "--out", str(out)], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        written = pl.read_parquet(out) if out.suffix == ".parquet" else pl.read_csv(out, schema=expected.schema)
        assert written.drop("prob").equals(expected.drop("prob"))
        np.testing.assert_array_equal(written["prob"].cast(pl.Float32), expected["prob"])
    assert f"{expected['prob'][0]:.4f}" in result.output
    assert f"too short a history: 10 sessions, the model needs {scorer.min_rows}" in result.output

    elsewhere = tmp_path / "elsewhere"  # the threshold: evaluate.threshold of ./params.yaml, or --threshold
    elsewhere.mkdir()
    prob = expected["prob"][0]  # the one scored ticker: a threshold just above it calls down, just below up
    above, below = round(prob + 1e-3, 6), round(prob - 1e-3, 6)
    (elsewhere / "params.yaml").write_text(f"evaluate:\n  threshold: {above}\n")
    monkeypatch.chdir(elsewhere)
    model = ["--model", str(project / "models/lstm"), "--out", str(tmp_path / "t.parquet")]
    for option, call in (([], "down"), (["--threshold", str(below)], "up")):
        assert runner.invoke(cli, ["predict", str(file), *model, *option]).exit_code == 0
        assert pl.read_parquet(tmp_path / "t.parquet")["call"].to_list() == [call, None]
    result = runner.invoke(cli, ["predict", str(file), *model, "--threshold", "1.5"])
    assert (result.exit_code, result.output.strip()) == (
        2, "error: --threshold: evaluate.threshold: Input should be less than 1 (got 1.5)")

    monkeypatch.chdir(project)
    file.write_text("Date,Open,High,Low,Volume,Symbol\n2020-01-02,1,1,1,10,AAA\n")
    result = runner.invoke(cli, ["predict", str(file)])
    assert result.exit_code == 2 and "missing column 'close'" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(cli, ["predict", str(file), "--out", str(tmp_path / "x.json")])
    assert (result.exit_code, result.output.strip()) == (2, f"error: --out {tmp_path / 'x.json'}: name a .parquet "
                                                            "or .csv file")


def test_serving_doc_is_current():
    """docs/serving.md is what `stockcast serving-doc` writes today; rerun it after changing the API."""
    assert (ROOT / "docs" / "serving.md").read_text() == render(api().openapi())


def test_the_dockerfile_installs_the_torch_pyproject_pins():
    """One torch version: pyproject's pin, which the Dockerfile installs from the CPU index first."""
    pins = [d for d in tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
            if re.match(r"torch\b", d)]
    assert len(pins) == 1 and pins[0].startswith("torch==")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.findall(r"torch==[^\s\"']+", dockerfile) == pins
    assert "--index-url https://download.pytorch.org/whl/cpu" in dockerfile
