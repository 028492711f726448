"""The training loop for torch nets: AdamW, warm-up + cosine LR, clipping, early stopping, resume, DDP.

Reads top to bottom: pick the device, build the loaders, restore the last checkpoint when resuming,
then per epoch train one pass, measure validation, remember the best weights, checkpoint, log, and
stop on patience, on the target accuracy or after the last epoch. bf16 autocast and pinned memory
apply on CUDA only; under `torchrun` the same loop runs with DistributedDataParallel.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from torch.utils.tensorboard import SummaryWriter

from stockcast import checkpoint, distributed
from stockcast.dataset import WindowDataset, loader
from stockcast.errors import StockcastError
from stockcast.params import TrainParams

EpochCallback = Callable[[int, dict[str, float]], None]
VAL_BATCH = 4096  # inference only: as large as memory comfortably allows


@dataclass
class FitResult:
    best_epoch: int
    best: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False  # by patience or by the target accuracy, before the last epoch


def pick_device(wanted: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for CUDA without one is an error, not a fallback.
    Under torchrun each process takes the GPU of its LOCAL_RANK."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise StockcastError("train.device: cuda requested but torch sees no CUDA device (use auto or cpu)")
    if wanted == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", distributed.local_rank())


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def amp_enabled(params: TrainParams, device: torch.device) -> bool:
    """bf16 autocast on CUDA when train.amp; CPU always trains in float32 (exact resume, tests)."""
    return params.amp and device.type == "cuda"


def get_lr(step: int, warmup_steps: int, total_steps: int, params: TrainParams) -> float:
    """Linear warm-up to train.lr, then constant or cosine decay to train.min_lr (nanoGPT's schedule)."""
    if step < warmup_steps:
        return params.lr * (step + 1) / warmup_steps
    if params.lr_schedule == "constant":
        return params.lr
    floor = min(params.min_lr, params.lr)
    done = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + 0.5 * (1.0 + math.cos(math.pi * done)) * (params.lr - floor)


def binary_scores(prob: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """Validation BCE (log loss) and accuracy at 0.5: the metrics every model reports."""
    p = np.clip(prob.astype(np.float64), 1e-7, 1 - 1e-7)
    y = y.astype(np.float64)
    return {"val_loss": float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))),
            "val_accuracy": float(np.mean((p > 0.5) == (y > 0.5)))}


def class_scores(proba: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """val_loss and val_accuracy of (n, n_classes) probabilities: with two classes exactly
    binary_scores of P(up); with three, cross-entropy and the accuracy of the most probable class."""
    if proba.shape[1] == 2:
        return binary_scores(proba[:, 1], y)
    p = np.clip(proba.astype(np.float64), 1e-7, 1.0)
    labels = y.astype(np.int64)
    return {"val_loss": float(-np.mean(np.log(p[np.arange(len(labels)), labels]))),
            "val_accuracy": float(np.mean(p.argmax(axis=1) == labels))}


def head_width(n_classes: int) -> int:
    """Logits a net outputs: one for two classes (sigmoid, BCE), one per class beyond (softmax, CE)."""
    return 1 if n_classes == 2 else n_classes


def loss_of(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE of one logit against labels 0/1, or cross-entropy of (batch, n_classes) logits."""
    if logits.ndim == 1:
        return F.binary_cross_entropy_with_logits(logits, y)
    return F.cross_entropy(logits, y.long())


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(batch, n_classes) probabilities: [1 - sigmoid, sigmoid] of one logit, else softmax."""
    if logits.ndim == 1:
        up = torch.sigmoid(logits)
        return torch.stack([1 - up, up], dim=1)
    return torch.softmax(logits, dim=1)


def improved(metrics: dict[str, float], best: dict[str, float], monitor: str) -> bool:
    """Is this epoch better on the monitored metric (loss: lower, accuracy: higher)?"""
    if monitor not in best:
        return True
    return metrics[monitor] < best[monitor] if monitor.endswith("loss") else metrics[monitor] > best[monitor]


def stop_reason(epoch: int, metrics: dict[str, float], best_epoch: int, params: TrainParams) -> str | None:
    """Why training ends after `epoch`: the target accuracy, patience, the last epoch, or not at all."""
    if params.target_accuracy is not None and metrics["val_accuracy"] >= params.target_accuracy:
        return "target"
    if epoch - best_epoch >= params.patience:
        return "patience"
    return "epochs" if epoch + 1 >= params.epochs else None


def train_one_epoch(model: nn.Module, batches: DataLoader, optimizer: torch.optim.Optimizer, device: torch.device,
                    params: TrainParams, step: int, lr_at: Callable[[int], float]) -> tuple[float, int]:
    """One pass over the training windows; returns the mean loss (BCE, or cross-entropy with three
    classes) and the next global step.
    The loss is summed on the device and read once, so no step waits for the GPU."""
    model.train()
    total, count = torch.zeros((), device=device), 0
    for xb, yb in batches:
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step)
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp_enabled(params, device)):
            loss = loss_of(model(xb).float(), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if params.clip_norm > 0:
            nn.utils.clip_grad_norm_(model.parameters(), params.clip_norm)
        optimizer.step()
        total += loss.detach() * len(yb)
        count += len(yb)
        step += 1
    return float(total) / max(count, 1), step


@torch.no_grad()
def predict_classes(model: nn.Module, batches: DataLoader, device: torch.device, n_classes: int,
                    amp: bool = False) -> np.ndarray:
    """(n, n_classes) class probabilities for every window, in loader order (column 1 is P(up))."""
    model.eval()
    out = []
    for xb, _ in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            out.append(class_probabilities(model(xb.to(device, non_blocking=True)).float()).cpu())
    return torch.cat(out).numpy() if out else np.empty((0, n_classes), dtype=np.float32)


def measure(net: nn.Module, batches: DataLoader, dataset: WindowDataset, device: torch.device, n_classes: int,
            amp: bool) -> dict[str, float]:
    """Validation scores of `net` on every window of `dataset`."""
    return class_scores(predict_classes(net, batches, device, n_classes, amp), dataset.y[dataset.ends])


def record(writer: SummaryWriter | None, on_epoch: EpochCallback | None, epoch: int, metrics: dict[str, float]) -> None:
    """Send one epoch's metrics to tensorboard and to the caller (dvclive, stdout)."""
    if writer is not None:
        for name, value in metrics.items():
            writer.add_scalar(name, value, epoch)
    if on_epoch is not None:
        on_epoch(epoch, metrics)


def open_writer(log_dir: str | Path) -> SummaryWriter | None:
    """A tensorboard writer on rank 0 only; purge_step=0 hides events of an earlier, interrupted run,
    whose history is replayed from the checkpoint instead."""
    return SummaryWriter(log_dir=str(log_dir), purge_step=0) if distributed.is_main() else None


def log_history(log_dir: str | Path, history: list[dict[str, float]], on_epoch: EpochCallback | None) -> None:
    """Tensorboard and callback for models fitted outside the epoch loop (trees, linear)."""
    writer = open_writer(log_dir)
    try:
        for epoch, metrics in enumerate(history):
            record(writer, on_epoch, epoch, metrics)
    finally:
        if writer is not None:
            writer.close()


def _snapshot(net: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def fit(net: nn.Module, train_set: WindowDataset, val_set: WindowDataset, params: TrainParams, log_dir: str | Path,
        on_epoch: EpochCallback | None = None, checkpoint_dir: Path | None = None, n_classes: int = 2) -> FitResult:
    """Train with early stopping; `net` ends holding the weights of its best validation epoch.

    With `checkpoint_dir`, every epoch is checkpointed there; with train.resume the run continues
    from a checkpoint of the same params, data and `n_classes` (2: one logit; 3: down, up, flat),
    which the checkpoint records. Under torchrun, gradients are averaged across
    processes; rank 0 measures validation and broadcasts it, so all ranks stop together.
    """
    if len(train_set) == 0 or len(val_set) == 0:
        raise StockcastError("train: no usable windows in the train or val segment "
                             "(shorter train.seq_len or a longer history needed)")
    device = pick_device(params.device)
    distributed.setup(device)
    net.to(device)
    model = net
    sampler = None
    if distributed.active():
        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = DistributedSampler(train_set, shuffle=True, seed=params.seed)
        if distributed.is_main():
            print(f"train: DistributedDataParallel over {distributed.world_size()} processes "
                  f"({torch.distributed.get_backend()})")
    pin = device.type == "cuda"
    train_batches = loader(train_set, params.batch_size, True, params.seed, pin, sampler=sampler)
    val_batches = loader(val_set, VAL_BATCH, False, params.seed, pin)
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    total_steps = len(train_batches) * params.epochs
    warmup_steps = len(train_batches) * params.warmup_epochs

    def lr_at(step: int) -> float:
        return get_lr(step, warmup_steps, total_steps, params)

    fingerprint = checkpoint.fingerprint({**params.model_dump(), "world_size": distributed.world_size(),
                                          "n_classes": n_classes},
                                         train_set.ends, val_set.ends, train_set.x, train_set.y)
    progress: dict[str, Any] = {"epoch": 0, "step": 0, "best_epoch": -1, "best": {}, "history": [],
                                "done": False, "stopped_early": False, "fingerprint": fingerprint,
                                "n_classes": n_classes}
    best_state = _snapshot(net)
    if checkpoint_dir is not None and params.resume:
        restored = checkpoint.load(checkpoint_dir, net, optimizer, train_batches.generator, fingerprint)
        if restored is not None:
            progress, best_state = restored
            print(f"train: resuming {checkpoint_dir} after epoch {progress['epoch'] - 1}")
    writer = open_writer(log_dir)
    try:
        for epoch, metrics in enumerate(progress["history"]):
            record(writer, on_epoch, epoch, metrics)
        while not progress["done"]:
            epoch = progress["epoch"]
            if sampler is not None:
                sampler.set_epoch(epoch)
            train_loss, progress["step"] = train_one_epoch(model, train_batches, optimizer, device, params,
                                                           progress["step"], lr_at)
            amp = amp_enabled(params, device)
            val = measure(net, val_batches, val_set, device, n_classes, amp) if distributed.is_main() else None
            metrics = {"train_loss": train_loss, **distributed.broadcast(val)}
            progress["history"].append(metrics)
            if improved(metrics, progress["best"], params.monitor):
                progress["best_epoch"], progress["best"] = epoch, metrics
                best_state = _snapshot(net)
            reason = stop_reason(epoch, metrics, progress["best_epoch"], params)
            progress |= {"epoch": epoch + 1, "done": reason is not None,
                         "stopped_early": reason in ("target", "patience")}
            if checkpoint_dir is not None and distributed.is_main():
                checkpoint.save(checkpoint_dir, net, best_state, optimizer, train_batches.generator, progress)
            record(writer, on_epoch, epoch, metrics)
    finally:
        if writer is not None:
            writer.close()
    net.load_state_dict(best_state)
    return FitResult(progress["best_epoch"], progress["best"], progress["history"], progress["stopped_early"])
