"""What the torch nets share outside the training loop: the head, probabilities, batched inference.

Kept apart from stockcast.train (the loop, its checkpoints and DDP) so that predicting with a
trained net needs none of the training code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from stockcast import distributed
from stockcast.errors import StockcastError
from stockcast.params import TrainParams

VAL_BATCH = 4096  # inference only: as large as memory comfortably allows


def head_width(n_classes: int) -> int:
    """Logits a net outputs: one for two classes (sigmoid, BCE), one per class beyond (softmax, CE)."""
    return 1 if n_classes == 2 else n_classes


def head_logits(out: torch.Tensor) -> torch.Tensor:
    """The head's (batch, width) output as logits: (batch,) for one logit, (batch, n_classes) beyond.
    The width is tested here rather than squeezed blindly: torch's squeeze(-1) of a width of 3 is a
    no-op, but the ONNX exporter writes it as a Squeeze that the ONNX checker refuses."""
    return out.squeeze(-1) if out.shape[-1] == 1 else out


def class_probabilities(logits: torch.Tensor) -> torch.Tensor:
    """(batch, n_classes) probabilities: [1 - sigmoid, sigmoid] of one logit, else softmax."""
    if logits.ndim == 1:
        up = torch.sigmoid(logits)
        return torch.stack([1 - up, up], dim=1)
    return torch.softmax(logits, dim=1)


def pick_device(wanted: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; asking for CUDA without one is an error, not a fallback.
    Under torchrun each process takes the GPU of its LOCAL_RANK."""
    if wanted == "cuda" and not torch.cuda.is_available():
        raise StockcastError("train.device: cuda requested but torch sees no CUDA device (use auto or cpu)")
    if wanted == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", distributed.local_rank())


def amp_enabled(params: TrainParams, device: torch.device) -> bool:
    """bf16 autocast on CUDA when train.amp; CPU always trains in float32 (exact resume, tests)."""
    return params.amp and device.type == "cuda"


@torch.no_grad()
def predict_proba(model: torch.nn.Module, batches: DataLoader, device: torch.device, n_classes: int,
                  amp: bool = False) -> np.ndarray:
    """(n, n_classes) class probabilities for every window, in loader order (column 1 is P(up))."""
    model.eval()
    out = []
    for xb, _ in batches:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp and device.type == "cuda"):
            out.append(class_probabilities(model(xb.to(device, non_blocking=True)).float()).cpu())
    return torch.cat(out).numpy() if out else np.empty((0, n_classes), dtype=np.float32)
