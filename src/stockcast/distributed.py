"""DistributedDataParallel plumbing for `torchrun`: which process this is, and talking to the others.

Outside torchrun (no WORLD_SIZE in the environment) every helper is a no-op for a single process,
so the training loop reads the same either way. NCCL on CUDA, gloo on CPU.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def local_rank() -> int:
    """This process's GPU on its node (torchrun sets LOCAL_RANK)."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Rank 0 alone writes checkpoints, logs and artifacts."""
    return rank() == 0


def active() -> bool:
    return dist.is_available() and dist.is_initialized()


def setup(device: torch.device) -> None:
    """Join the process group torchrun describes; nothing to do for a single process."""
    if world_size() > 1 and not active():
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")


def broadcast(obj: Any) -> Any:
    """Rank 0's `obj` on every rank, so all ranks take the same early-stopping decision."""
    if not active():
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def teardown() -> None:
    if active():
        dist.barrier()
        dist.destroy_process_group()
