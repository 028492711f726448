"""Training curves to tensorboard (rank 0 only) and to the caller's callback (dvclive, stdout)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch.utils.tensorboard import SummaryWriter

from stockcast import distributed

EpochCallback = Callable[[int, dict[str, float]], None]


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
