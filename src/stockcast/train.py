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
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from stockcast import checkpoint, distributed
from stockcast.dataset import WindowDataset, loader
from stockcast.errors import StockcastError
from stockcast.models.base import FitResult
from stockcast.models.nets import VAL_BATCH, amp_enabled, pick_device, predict_proba
from stockcast.models.selection import class_scores
from stockcast.params import TrainParams
from stockcast.training_log import EpochCallback, open_writer, record


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def get_lr(step: int, warmup_steps: int, total_steps: int, params: TrainParams) -> float:
    """Linear warm-up to train.lr, then constant or cosine decay to train.min_lr (nanoGPT's schedule)."""
    if step < warmup_steps:
        return params.lr * (step + 1) / warmup_steps
    if params.lr_schedule == "constant":
        return params.lr
    floor = min(params.min_lr, params.lr)
    done = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return floor + 0.5 * (1.0 + math.cos(math.pi * done)) * (params.lr - floor)


def loss_of(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """BCE of one logit against labels 0/1, or cross-entropy of (batch, n_classes) logits."""
    if logits.ndim == 1:
        return F.binary_cross_entropy_with_logits(logits, y)
    return F.cross_entropy(logits, y.long())


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


def measure(net: nn.Module, batches: DataLoader, dataset: WindowDataset, device: torch.device, n_classes: int,
            amp: bool) -> dict[str, float]:
    """Validation scores of `net` on every window of `dataset`."""
    return class_scores(predict_proba(net, batches, device, n_classes, amp), dataset.y[dataset.ends])


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


def fit_epochs(net: nn.Module, train_set: WindowDataset, params: TrainParams, epochs: int,
               log_dir: str | Path) -> list[dict[str, float]]:
    """Refit: train `net` from its fresh weights for exactly `epochs` passes, with nothing to stop on
    (val is part of `train_set` now), and keep the last epoch's weights; returns each epoch's train loss.

    The learning-rate schedule is laid over train.epochs passes as in the selection run and cut after
    `epochs`, so each pass sees the learning rate it saw when validation chose that length (the loss
    reads the class count from the net's output width). Under torchrun each process trains its shard,
    as in `fit`. No checkpoint: a refit is one short run after selection.
    """
    if len(train_set) == 0:
        raise StockcastError("train.refit: no usable windows in train+val")
    device = pick_device(params.device)
    distributed.setup(device)
    net.to(device)
    model, sampler = net, None
    if distributed.active():
        model = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = DistributedSampler(train_set, shuffle=True, seed=params.seed)
    batches = loader(train_set, params.batch_size, True, params.seed, device.type == "cuda", sampler=sampler)
    optimizer = torch.optim.AdamW(net.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    total_steps, warmup_steps = len(batches) * params.epochs, len(batches) * params.warmup_epochs
    history, step = [], 0
    writer = open_writer(log_dir)
    try:
        for epoch in range(epochs):
            if sampler is not None:
                sampler.set_epoch(epoch)
            loss, step = train_one_epoch(model, batches, optimizer, device, params, step,
                                         lambda s: get_lr(s, warmup_steps, total_steps, params))
            history.append({"train_loss": loss})
            record(writer, None, epoch, history[-1])
    finally:
        if writer is not None:
            writer.close()
    return history
