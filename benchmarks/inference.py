"""Inference latency on the CPU: torch, the float ONNX export and its int8 variant, plus LightGBM's own predict.

For the seed LSTM's shape (hidden 256 x 3 layers, seq_len 60, 95 features; random weights: latency
does not depend on what the weights learnt) it times, model only, from a float32 numpy window to
the (n, n_classes) probabilities:
- one ticker: a batch of one window, --single-reps calls after warm-up: p50 and p99 in ms;
- the universe: one batch of --universe windows (1,695 tickers), --universe-reps calls: median s.
The exports are written by stockcast.export exactly as the train stage writes them, and their
distance from torch on the universe batch is printed beside the times. LightGBM (its own text
model, 200 rounds of 15 leaves on random rows, the train params' defaults) is timed the same way on
one row and on the universe's rows. The HTTP end-to-end latency (features -> signal through the
server) is measured by `http_end_to_end`, the hook the serve stage fills in.

    python benchmarks/inference.py                        # all of this process's CPUs
    python benchmarks/inference.py --threads 1 --single-reps 1000
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import lightgbm as lgb
import numpy as np
import torch

from stockcast.export import OnnxRunner, ProbabilityNet, export_onnx, quantize_int8
from stockcast.models.lstm import LSTM

GOALS = {"one_ticker_p99_ms": 5.0, "http_p99_ms": 50.0, "universe_s": 0.5}  # issue 15's


def timings(predict: Callable[[np.ndarray], np.ndarray], windows: np.ndarray, reps: int,
            warmup: int = 10) -> list[float]:
    """Seconds of each of `reps` calls of `predict` on `windows`, after `warmup` calls."""
    for _ in range(warmup):
        predict(windows)
    out = []
    for _ in range(reps):
        start = time.perf_counter()
        predict(windows)
        out.append(time.perf_counter() - start)
    return out


def latency_ms(seconds: list[float]) -> dict[str, float]:
    ms = np.asarray(seconds) * 1e3
    return {"p50": round(float(np.percentile(ms, 50)), 3), "p99": round(float(np.percentile(ms, 99)), 3)}


def universe_s(seconds: list[float]) -> dict[str, float]:
    return {"median": round(statistics.median(seconds), 4), "min": round(min(seconds), 4)}


def lstm_gflop(batch: int, seq_len: int, features: int, hidden: int, layers: int) -> float:
    """Multiply-adds x 2 of the LSTM's gates: 4 gates of (input + hidden) x hidden per step and layer."""
    inputs = [features] + [hidden] * (layers - 1)
    return sum(2 * batch * seq_len * (i + hidden) * 4 * hidden for i in inputs) / 1e9


def http_end_to_end(args: argparse.Namespace) -> tuple[dict[str, float] | None, str | None]:
    """p50/p99 ms of one ticker's request through the HTTP server, features included, and why not
    when it cannot be measured. The serve stage (stockcast.serve) replaces this body."""
    return None, "not measured: the HTTP server (stockcast.serve) does not exist yet"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--layers", type=int, default=3)
    parser.add_argument("--seq-len", type=int, default=60)
    parser.add_argument("--features", type=int, default=95, help="the seed feature set's width")
    parser.add_argument("--universe", type=int, default=1695, help="tickers scored in one batch")
    parser.add_argument("--single-reps", type=int, default=300)
    parser.add_argument("--universe-reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)),
                        help="torch and onnxruntime intra-op threads (default: this process's CPUs)")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]  # other processes on the same cores inflate every number

    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    net = ProbabilityNet(LSTM(args.features, args.hidden, args.layers, dropout=0.0)).eval()
    rng = np.random.default_rng(0)
    one = rng.normal(size=(1, args.seq_len, args.features)).astype(np.float32)
    universe = rng.normal(size=(args.universe, args.seq_len, args.features)).astype(np.float32)

    @torch.inference_mode()
    def torch_predict(windows: np.ndarray) -> np.ndarray:
        return net(torch.from_numpy(windows)).numpy()

    with tempfile.TemporaryDirectory(prefix="stockcast-bench-") as folder:
        onnx_path, int8_path = Path(folder) / "model.onnx", Path(folder) / "model.int8.onnx"
        export_onnx(net.net, args.seq_len, args.features, onnx_path)
        quantize_int8(onnx_path, int8_path)
        runners = {"torch": torch_predict,
                   "onnx": OnnxRunner(onnx_path, args.threads).predict_proba,
                   "int8": OnnxRunner(int8_path, args.threads).predict_proba}
        sizes_mb = {"onnx": round(onnx_path.stat().st_size / 1e6, 2), "int8": round(int8_path.stat().st_size / 1e6, 2)}
        one_ticker = {name: latency_ms(timings(run, one, args.single_reps)) for name, run in runners.items()}
        whole = {name: universe_s(timings(run, universe, args.universe_reps, 1)) for name, run in runners.items()}
        reference = torch_predict(universe)
        max_diff = {name: float(np.abs(runners[name](universe) - reference).max()) for name in ("onnx", "int8")}

    rows = rng.normal(size=(20_000, args.features)).astype(np.float32)
    booster = lgb.train({"objective": "binary", "num_leaves": 15, "learning_rate": 0.05, "verbose": -1,
                         "num_threads": args.threads}, lgb.Dataset(rows, rng.integers(0, 2, len(rows))),
                        num_boost_round=200)
    lightgbm = {"one_row_ms": latency_ms(timings(booster.predict, rows[:1], args.single_reps)),
                "universe_s": universe_s(timings(booster.predict, rows[:args.universe], args.universe_reps, 1))}

    http, http_reason = http_end_to_end(args)
    print(json.dumps({
        "shape": {"model": "lstm", "hidden": args.hidden, "layers": args.layers, "seq_len": args.seq_len,
                  "features": args.features, "universe": args.universe},
        "cpu": {"threads": args.threads, "cpus_seen": os.cpu_count(), "machine": platform.machine(),
                "torch": torch.__version__, "load_1m_before": round(load_before, 2),
                "load_1m_after": round(os.getloadavg()[0], 2)},
        "one_ticker_ms": one_ticker,
        "universe_s": whole,
        "universe_gflop": round(lstm_gflop(args.universe, args.seq_len, args.features, args.hidden, args.layers), 1),
        "max_diff_vs_torch": max_diff,
        "file_mb": sizes_mb,
        "lightgbm": lightgbm,
        "http_end_to_end_ms": http,
        "http_end_to_end_reason": http_reason,
        "goals": GOALS,
        "goals_met": {"one_ticker_p99_ms": {k: v["p99"] <= GOALS["one_ticker_p99_ms"] for k, v in one_ticker.items()},
                      "http_p99_ms": None if http is None else http["p99"] <= GOALS["http_p99_ms"],
                      "universe_s": {k: v["median"] <= GOALS["universe_s"] for k, v in whole.items()}},
    }, indent=2))


if __name__ == "__main__":
    main()
