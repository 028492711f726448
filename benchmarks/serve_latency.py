"""HTTP latency of POST /v1/predict: one ticker's min_rows bars in, its signal out, through a real server.

The model has the seed's shape (features.set seed95 = 95 features, LSTM hidden 256 x 3 layers,
seq_len 60), untrained (latency does not depend on the weights), with a z-score normaliser fitted on
synthetic rows, saved as the train stage saves it. `stockcast serve` runs it in a subprocess on
127.0.0.1; one keep-alive client posts the same request --requests times after --warmup, and then
--clients concurrent clients post --concurrent requests in all. End to end = the client's wall time
(JSON encoding, HTTP, validation, quality checks, features, model, response). The breakdown times
the same steps in this process, one by one, to say where the time goes.

    python benchmarks/serve_latency.py                  # prints one JSON object
    python benchmarks/serve_latency.py --threads 2      # torch threads of the server
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import torch

from stockcast.artifacts import save_model
from stockcast.data.quality import check
from stockcast.data.synthetic import generate
from stockcast.features.registry import compute, feature_set
from stockcast.models import build
from stockcast.normalize import fit_normalizer, normalizer_to_dict
from stockcast.params import TrainParams
from stockcast.predict import Scorer, serving_quality
from stockcast.serve.app import _bars_frame, _signals
from stockcast.serve.schemas import PredictRequest, PredictResponse


def seed_model(folder: Path) -> Scorer:
    """An untrained seed-shaped LSTM with a z-score normaliser, saved and loaded as the pipeline does."""
    features = feature_set("seed95")
    names = [f.name for f in features]
    params = TrainParams(model="lstm", hidden_size=256, num_layers=3, dropout=0.3, seq_len=60, device="cpu")
    table = compute(generate("realistic", n_tickers=5, n_days=600, seed=1)[0], features).drop_nulls()
    x = table.select(pl.col(names).cast(pl.Float32)).to_numpy()
    x = np.where(np.isfinite(x), x, 0.0).astype(np.float32)
    normalizer = normalizer_to_dict(fit_normalizer("zscore", x, np.arange(len(x)), names))
    save_model(folder, build("lstm", len(names), params, 2), {
        "model": "lstm", "n_features": len(names), "features": names, "params": params.model_dump(exclude={"resume"}),
        "normalizer": normalizer}, {"normalizer.json": normalizer})
    return Scorer.load(folder)


def request_body(scorer: Scorer) -> bytes:
    """One ticker's last min_rows bars as the JSON a client posts."""
    bars = generate("realistic", n_tickers=1, n_days=400, seed=2)[0].tail(scorer.min_rows)
    rows = bars.with_columns(pl.col("date").cast(pl.String)).to_dicts()
    return json.dumps({"bars": rows}).encode()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 2), "p99_ms": round(float(np.percentile(ms, 99)), 2),
            "n": len(ms)}


def end_to_end(url: str, body: bytes, requests: int, warmup: int) -> dict[str, float]:
    """Sequential requests on one keep-alive connection, each timed by the client."""
    times = []
    with httpx.Client(base_url=url, headers={"content-type": "application/json"}, timeout=30) as client:
        for i in range(warmup + requests):
            start = time.perf_counter()
            response = client.post("/v1/predict", content=body)
            elapsed = time.perf_counter() - start
            if response.status_code != 200:
                raise SystemExit(f"POST /v1/predict: {response.status_code} {response.text}")
            if i >= warmup:
                times.append(elapsed)
    return _percentiles(times)


def concurrent(url: str, body: bytes, clients: int, requests: int) -> dict[str, float]:
    """`clients` threads, each with its own connection, `requests` in all: latency and throughput."""
    times: list[float] = []
    errors: list[str] = []

    def client_loop(count: int) -> None:
        with httpx.Client(base_url=url, headers={"content-type": "application/json"}, timeout=60) as client:
            for _ in range(count):
                start = time.perf_counter()
                response = client.post("/v1/predict", content=body)
                times.append(time.perf_counter() - start)
                if response.status_code != 200:
                    errors.append(response.text)

    start = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(requests // clients,)) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return {**_percentiles(times), "clients": clients, "requests_per_s": round(len(times) / wall, 1),
            "errors": len(errors)}


def breakdown(scorer: Scorer, body: bytes, repeats: int) -> dict[str, dict[str, float]]:
    """The server's steps of one request, timed one by one in this process (model = the torch forward)."""
    steps: dict[str, list[float]] = {k: [] for k in ("validate", "frame", "quality", "features", "signals_other",
                                                      "model", "response", "score_bars")}
    model_times: list[float] = []
    forward = scorer.model.predict_proba

    def timed_forward(*args, **kwargs):
        start = time.perf_counter()
        out = forward(*args, **kwargs)
        model_times.append(time.perf_counter() - start)
        return out

    scorer.model.predict_proba = timed_forward  # type: ignore[method-assign]

    def clock(name: str, step: Callable[[], object]) -> object:
        start = time.perf_counter()
        out = step()
        steps[name].append(time.perf_counter() - start)
        return out

    for i in range(repeats + 10):
        request = clock("validate", lambda: PredictRequest.model_validate(json.loads(body)))
        frame = clock("frame", lambda: _bars_frame(request.bars))
        clean = clock("quality", lambda: check(frame, serving_quality(), origin="bars").clean)
        table = clock("features", lambda: compute(clean, scorer.features))
        signals = clock("signals_other", lambda: scorer.signals(table))
        steps["signals_other"][-1] -= model_times[-1]
        steps["model"].append(model_times[-1])
        clock("response", lambda: PredictResponse(signals=_signals(signals)).model_dump_json())
        clock("score_bars", lambda: scorer.score_bars(frame))
        if i < 10:  # warm-up
            for values in steps.values():
                values.clear()
    scorer.model.predict_proba = forward  # type: ignore[method-assign]
    return {name: _percentiles(values) for name, values in steps.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--concurrent", type=int, default=400, help="requests of the concurrent run, in all")
    parser.add_argument("--threads", type=int, default=1, help="the server's torch threads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scorer = seed_model(Path(tmp) / "model")
        body = request_body(scorer)
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "stockcast.cli", "serve", str(Path(tmp) / "model"),
                                   "--port", str(port), "--threads", str(args.threads), "--signals",
                                   str(Path(tmp) / "none.parquet")], cwd=tmp, env=os.environ,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    httpx.get(f"{url}/health/live", timeout=1)
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise SystemExit(f"server did not start: {server.stderr.read().decode()[-2000:]}") from None
                    time.sleep(0.2)
            sequential = end_to_end(url, body, args.requests, args.warmup)
            loaded = concurrent(url, body, args.clients, args.concurrent)
        finally:
            server.terminate()
            server.wait(timeout=30)
        torch.set_num_threads(args.threads)
        steps = breakdown(scorer, body, min(args.requests, 200))
    print(json.dumps({"benchmark": "serve_latency", "model": "lstm seed shape (95 features, 256 x 3, seq_len 60)",
                      "bars_per_request": scorer.min_rows, "body_bytes": len(body), "torch_threads": args.threads,
                      "cpus": os.cpu_count(), "end_to_end_one_client": sequential, "end_to_end_concurrent": loaded,
                      "breakdown_in_process": steps}, indent=2))


if __name__ == "__main__":
    main()
