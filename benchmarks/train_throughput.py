"""Training throughput: the pipeline's training step against a bare torch loop, same model and batch.

The pipeline pass is stockcast.train.train_one_epoch over the real DataLoader (shuffled windows
gathered from one float32 array, LR schedule, gradient clipping, autocast context); the bare loop
slices a pre-built tensor of windows and does forward, BCE, backward, AdamW step and nothing else.
Prints one JSON object: median samples/s of each over --repeats runs and the pipeline's overhead.

    python benchmarks/train_throughput.py                                   # seed-ish LSTM, CPU
    python benchmarks/train_throughput.py --hidden 256 --layers 3 --batch 1024 --device cuda   # GPU, bf16
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from stockcast.dataset import WindowDataset, loader
from stockcast.models.lstm import LSTM
from stockcast.params import TrainParams
from stockcast.models.nets import amp_enabled, pick_device
from stockcast.train import get_lr, train_one_epoch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def pipeline_rate(net: torch.nn.Module, dataset: WindowDataset, params: TrainParams, device: torch.device) -> float:
    """Samples/s of one train_one_epoch pass, exactly as stockcast.train.fit runs it."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    batches = loader(dataset, params.batch_size, True, params.seed, device.type == "cuda")
    steps = len(batches)
    _sync(device)
    start = time.perf_counter()
    train_one_epoch(net, batches, optimizer, device, params, 0, lambda step: get_lr(step, 0, steps, params))
    _sync(device)
    return len(dataset) / (time.perf_counter() - start)


def bare_rate(net: torch.nn.Module, windows: torch.Tensor, labels: torch.Tensor, params: TrainParams,
              device: torch.device) -> float:
    """Samples/s of the minimal loop over windows already on the device."""
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    net.train()
    _sync(device)
    start = time.perf_counter()
    for i in range(0, len(windows), params.batch_size):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp_enabled(params, device)):
            loss = F.binary_cross_entropy_with_logits(net(windows[i:i + params.batch_size]).float(),
                                                      labels[i:i + params.batch_size])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return len(windows) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--seq-len", type=int, default=60)
    parser.add_argument("--features", type=int, default=95, help="the seed feature set's width")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--samples", type=int, default=4096, help="windows per timed run")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--clip-norm", type=float, default=1.0, help="the pipeline clips; 0 compares without")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = TrainParams(hidden_size=args.hidden, num_layers=args.layers, dropout=0.0, seq_len=args.seq_len,
                         batch_size=args.batch, device=args.device, clip_norm=args.clip_norm)
    device = pick_device(args.device)
    rng = np.random.default_rng(0)
    rows = args.samples + args.seq_len - 1
    x = rng.normal(0, 1, (rows, args.features)).astype(np.float32)
    y = rng.integers(0, 2, rows).astype(np.float32)
    dataset = WindowDataset(x, y, np.arange(args.seq_len - 1, rows), args.seq_len)
    windows, labels = (t.to(device) for t in dataset.__getitems__(list(range(len(dataset)))))

    torch.manual_seed(0)
    net = LSTM.from_config(args.features, params).to(device)
    pipeline_rate(net, WindowDataset(x, y, dataset.ends[: args.batch * 2], args.seq_len), params, device)  # warm-up
    pipeline, bare = [], []
    for _ in range(args.repeats):  # interleaved, so drift in machine load hits both alike
        pipeline.append(pipeline_rate(net, dataset, params, device))
        bare.append(bare_rate(net, windows, labels, params, device))
    p, b = statistics.median(pipeline), statistics.median(bare)
    print(json.dumps({
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({args.threads} threads)",
        "model": f"lstm {args.hidden}x{args.layers}", "seq_len": args.seq_len, "features": args.features,
        "batch": args.batch, "clip_norm": args.clip_norm, "bf16": amp_enabled(params, device),
        "samples_per_run": len(dataset),
        "pipeline_samples_per_s": round(p, 1), "bare_samples_per_s": round(b, 1),
        "pipeline_overhead": round(1 - p / b, 4), "seconds_per_10M_sample_epoch": round(10_000_000 / p, 1),
    }, indent=2))


if __name__ == "__main__":
    main()
