"""The training loop: AdamW, early stopping on validation loss, tensorboard logs, CPU or CUDA.

Reads top to bottom: pick the device, then per epoch train one pass, measure validation, log,
keep the best weights, stop when validation has not improved for `patience` epochs.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.tensorboard import SummaryWriter

from stockcast.errors import StockcastError
from stockcast.params import TrainParams

EpochCallback = Callable[[int, dict[str, float]], None]


@dataclass
class FitResult:
    best_epoch: int
    best: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    stopped_early: bool = False


def pick_device(wanted: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for CUDA without one is an error, not a fallback."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise StockcastError("train.device: cuda requested but torch sees no CUDA device (use auto or cpu)")
    if wanted == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(wanted)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train_one_epoch(model: nn.Module, loader: DataLoader, optimizer: torch.optim.Optimizer,
                    device: torch.device) -> float:
    """One pass over the training windows; returns the mean BCE loss."""
    model.train()
    loss_fn = nn.BCEWithLogitsLoss()
    total, count = 0.0, 0
    for xb, yb in loader:
        xb, yb = xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        loss = loss_fn(model(xb), yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        total += loss.item() * len(yb)
        count += len(yb)
    return total / max(count, 1)


@torch.no_grad()
def predict_proba(model: nn.Module, loader: DataLoader, device: torch.device) -> np.ndarray:
    """P(label = 1) for every window, in loader order."""
    model.eval()
    out = [torch.sigmoid(model(xb.to(device))).float().cpu() for xb, _ in loader]
    return torch.cat(out).numpy() if out else np.empty(0, dtype=np.float32)


def measure(model: nn.Module, loader: DataLoader, device: torch.device) -> dict[str, float]:
    """Validation loss (BCE) and accuracy at 0.5."""
    prob = predict_proba(model, loader, device).astype(np.float64)
    y = np.concatenate([yb.numpy() for _, yb in loader]).astype(np.float64)
    eps = 1e-7
    p = np.clip(prob, eps, 1 - eps)
    loss = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return {"val_loss": loss, "val_accuracy": float(np.mean((prob > 0.5) == (y > 0.5)))}


def fit(model: nn.Module, train_loader: DataLoader, val_loader: DataLoader, params: TrainParams,
        log_dir: str | Path, on_epoch: EpochCallback | None = None) -> FitResult:
    """Train with early stopping; the model ends holding the weights of its best validation epoch."""
    if len(train_loader.dataset) == 0 or len(val_loader.dataset) == 0:
        raise StockcastError("train: no usable windows in the train or val segment "
                             "(shorter train.seq_len or a longer history needed)")
    device = pick_device(params.device)
    model.to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=params.lr, weight_decay=params.weight_decay)
    writer = SummaryWriter(log_dir=str(log_dir))
    result = FitResult(best_epoch=-1, best={"val_loss": float("inf")})
    best_state = copy.deepcopy(model.state_dict())
    try:
        for epoch in range(params.epochs):
            metrics = {"train_loss": train_one_epoch(model, train_loader, optimizer, device),
                       **measure(model, val_loader, device)}
            for name, value in metrics.items():
                writer.add_scalar(name, value, epoch)
            result.history.append(metrics)
            if on_epoch:
                on_epoch(epoch, metrics)
            if metrics["val_loss"] < result.best["val_loss"]:
                result.best_epoch, result.best = epoch, metrics
                best_state = copy.deepcopy(model.state_dict())
            elif epoch - result.best_epoch >= params.patience:
                result.stopped_early = True
                break
    finally:
        writer.close()
    model.load_state_dict(best_state)
    return result
