"""Per-epoch training checkpoints for `resume`: one safetensors file, written atomically, never pickled.

Tensors (weights, best weights, optimiser moments, RNG states) are safetensors entries; everything
else (epoch, step, history, optimiser hyper-parameters, python/numpy RNG scalars) is JSON in the
file's metadata. Restoring all of it, DataLoader generator included, is what makes a CPU run
killed with SIGKILL and resumed end bit-identical to an uninterrupted one.

Only an unfinished run is resumed. A checkpoint whose run finished (progress["done"]) is never
replayed: whatever reruns a finished training (`dvc repro -f train`, a changed model file the
fingerprint cannot see, deleted outputs) wants it trained again, so it starts afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import nn

from stockcast.errors import StockcastError

FILE = "last.safetensors"
NOT_RESULT_CHANGING = ("resume", "checkpoint_dir", "device")


def fingerprint(params: dict[str, Any], *arrays: np.ndarray) -> str:
    """What a checkpoint was trained on: params that change the result, and the data's bytes."""
    digest = hashlib.sha256(json.dumps({k: v for k, v in params.items() if k not in NOT_RESULT_CHANGING},
                                       sort_keys=True).encode())
    for array in arrays:
        digest.update(np.ascontiguousarray(array).data)
    return digest.hexdigest()


def _cpu(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}


def _pack_optimizer(state: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Optimiser state as JSON, its tensors moved into `tensors` (keys kept as ints via pairs)."""
    packed = []
    for pid, entry in state["state"].items():
        fields = {}
        for key, value in entry.items():
            if torch.is_tensor(value):
                tensors[f"optimizer/{pid}/{key}"] = value
                fields[key] = {"tensor": f"optimizer/{pid}/{key}"}
            else:
                fields[key] = value
        packed.append([pid, fields])
    return {"state": packed, "param_groups": state["param_groups"]}


def _unpack_optimizer(packed: dict[str, Any], tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    state = {pid: {k: tensors[v["tensor"]] if isinstance(v, dict) and "tensor" in v else v
                   for k, v in fields.items()}
             for pid, fields in packed["state"]}
    return {"state": state, "param_groups": packed["param_groups"]}


def _rng_state(generator: torch.Generator, tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Every random stream a run draws from: python, numpy, torch (CPU, CUDA) and the loader's."""
    tensors["rng/torch"] = torch.get_rng_state()
    tensors["rng/loader"] = generator.get_state()
    if torch.cuda.is_available():
        for i, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{i}"] = state
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss_next = random.getstate()
    return {"numpy": [kind, pos, has_gauss, gauss], "python": [version, list(internal), gauss_next]}


def _set_rng_state(meta: dict[str, Any], generator: torch.Generator, tensors: dict[str, torch.Tensor]) -> None:
    torch.set_rng_state(tensors["rng/torch"])
    generator.set_state(tensors["rng/loader"])
    cuda = [tensors[f"rng/cuda/{i}"] for i in sorted(int(k[len("rng/cuda/"):]) for k in tensors
                                                     if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, gauss = meta["numpy"]
    np.random.set_state((kind, tensors["rng/numpy"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = meta["python"]
    random.setstate((version, tuple(internal), gauss_next))


def save(directory: Path, model: nn.Module, best_state: dict[str, torch.Tensor], optimizer: torch.optim.Optimizer,
         generator: torch.Generator, progress: dict[str, Any]) -> None:
    """Write the whole training state after an epoch; a kill mid-write leaves the previous file intact."""
    tensors = {f"model/{k}": v for k, v in model.state_dict().items()}
    tensors |= {f"best/{k}": v for k, v in best_state.items()}
    meta = {"progress": progress, "optimizer": _pack_optimizer(optimizer.state_dict(), tensors),
            "rng": _rng_state(generator, tensors)}
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{FILE}.tmp"
    save_file(_cpu(tensors), tmp, metadata={"stockcast": json.dumps(meta)})
    os.replace(tmp, directory / FILE)


def load(directory: Path, model: nn.Module, optimizer: torch.optim.Optimizer, generator: torch.Generator,
         expected_fingerprint: str) -> tuple[dict[str, Any], dict[str, torch.Tensor]] | None:
    """Restore the state `save` wrote, returning (progress, best weights); None when there is nothing
    to resume: no checkpoint, one of a finished run, or one trained on other params or data. Nothing
    is restored then, so the run starts exactly as without a checkpoint."""
    path = directory / FILE
    if not path.exists():
        return None
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = json.loads((f.metadata() or {})["stockcast"])  # None: a file without metadata
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, KeyError, json.JSONDecodeError) as err:
        raise StockcastError(f"{path}: damaged checkpoint ({err}); delete it or set train.resume: false") from None
    if meta["progress"]["fingerprint"] != expected_fingerprint:
        print(f"train: {path} was written for other params or data; starting afresh")
        return None
    if meta["progress"]["done"]:
        print(f"train: {path} is of a finished run; training afresh (only an interrupted run resumes)")
        return None
    device = next(model.parameters()).device
    model.load_state_dict({k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")})
    optimizer.load_state_dict(_unpack_optimizer(meta["optimizer"], tensors))  # it moves them to the params' device
    _set_rng_state(meta["rng"], generator, tensors)
    best = {k[len("best/"):]: v.to(device) for k, v in tensors.items() if k.startswith("best/")}
    return meta["progress"], best
