"""Sequence models exported for serving without torch: ONNX float (model.onnx) and int8 (model.int8.onnx).

- The graph is the net with its probability head (nets.class_probabilities): input `windows`
  (batch, seq_len, n_features) float32 with a dynamic batch axis, output `probabilities`
  (batch, n_classes), so ONNX and torch give the same numbers and a server needs no post-processing.
- Exported by torch.onnx.export's dynamo exporter (torch.export, then onnxscript) at opset 18. It
  translates nn.LSTM and nn.GRU into ONNX's own LSTM and GRU operators, so the legacy TorchScript
  exporter (dynamo=False) is never needed. The weights stay inside the one file (no external
  `.data` file beside it), so the SHA-256 that config.json records for it covers them.
- int8: onnxruntime.quantization.quantize_dynamic with QInt8 weights in 7 bits (reduce_range);
  activations are quantised per batch at run time. 7 bits because onnxruntime's u8s8 kernel on x86
  CPUs without VNNI (AVX2 only) sums pairs of products in saturating 16-bit lanes: with 8-bit weights a
  transformer's int8 probabilities were 0.17 off torch's on such a CPU (AMD EPYC, AVX2), beyond the
  0.02 tests/test_export.py allows; with 7 bits they are within it there. An LSTM becomes onnxruntime's DynamicQuantizeLSTM and every MatMul/Gemm a
  MatMulInteger; onnxruntime has no quantised GRU, so a GRU's recurrent weights stay float (only its
  head is int8). What quantising costs is measured, not assumed: the evaluate stage scores both files
  beside torch on val and test.
- Parity: the float file must give torch's probabilities (CPU, float32) within PARITY_TOLERANCE on
  the windows it is checked on, or it is refused; the int8 file's distance is recorded, not gated.
Tabular models keep their own formats (logistic regression: safetensors arrays; LightGBM: its text
model, whose own predict benchmarks/inference.py times); an ensemble exports its sequence members
inside their folders (models/ensemble/lstm/model.onnx) and keeps its tabular ones as they are.
"""

from __future__ import annotations

import copy
import logging
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.capi import onnxruntime_pybind11_state as ort_errors
from torch import nn

from stockcast.dataset import loader
from stockcast.errors import StockcastError
from stockcast.models.base import FitResult, Model, Windows
from stockcast.models.ensemble import Ensemble
from stockcast.models.nets import VAL_BATCH, class_probabilities, predict_proba
from stockcast.models.sequence import SequenceModel
from stockcast.training_log import EpochCallback

OPSET = 18  # the issue asks >= 17; onnxruntime runs 18 since 1.14, so a server need not run the newest
FILES = {"onnx": "model.onnx", "int8": "model.int8.onnx"}  # variant -> file, inside the model's folder
INPUT, OUTPUT = "windows", "probabilities"
PARITY_TOLERANCE = 1e-5  # max |p_onnx - p_torch|: float32 rounding of a reordered graph, nothing more
PARITY_WINDOWS = 4096
"""Windows the train stage checks parity on, spread evenly over the segment: the export translates a
graph, so a few thousand windows exercise it as well as a million would (the evaluate stage then
compares every val and test window)."""
FOLD_ALL = 1 << 31  # constant-folding size limit that no model of these shapes reaches
ORT_ERRORS = (ort_errors.Fail, ort_errors.InvalidGraph, ort_errors.InvalidProtobuf, ort_errors.NoSuchFile,
              ort_errors.InvalidArgument)


class ProbabilityNet(nn.Module):
    """The net followed by its probability head: what the exported graph computes."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return class_probabilities(self.net(windows))


def export_onnx(net: nn.Module, seq_len: int, n_features: int, path: Path) -> None:
    """Write `net` (a copy on the CPU, in eval mode: the trained one is left where it is) with its
    probability head as one self-contained ONNX file at opset OPSET, batch axis dynamic."""
    probability_net = ProbabilityNet(copy.deepcopy(net).cpu()).eval()
    example = torch.zeros(2, seq_len, n_features)  # batch 2: an example batch of 1 would be specialised
    try:
        with _quiet():
            program = torch.onnx.export(probability_net, (example,), None, dynamo=True, opset_version=OPSET,
                                        input_names=[INPUT], output_names=[OUTPUT], verbose=False,
                                        dynamic_shapes={"windows": {0: torch.export.Dim("batch")}})
    except Exception as err:  # torch.export raises many types; the first line says what it could not trace
        raise StockcastError(f"export: {type(net).__name__} could not be exported to ONNX "
                             f"({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    # Fold every constant subgraph, whatever its size. The exporter reorders each recurrent layer's
    # gates (torch's i,f,g,o into ONNX's i,o,f,c) with Slice and Concat of the weights; its default
    # folding limit (8,192 inputs) leaves that to run time for all but tiny layers, and quantize_dynamic
    # can only quantise an LSTM whose weights are initializers (the seed LSTM stayed float without this).
    import onnxscript.optimizer  # here, not at the top: 2 s that every stage reading a model would pay

    onnxscript.optimizer.optimize(program.model, input_size_limit=FOLD_ALL, output_size_limit=FOLD_ALL)
    program.save(path, external_data=False)


def quantize_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation (QInt8 weights) of the float file `source` into `target`."""
    from onnxruntime.quantization import QuantType, quantize_dynamic  # 1.3 s, paid by train only

    with _quiet():
        quantize_dynamic(source, target, weight_type=QuantType.QInt8, reduce_range=True)


@contextmanager
def _quiet() -> Iterator[None]:
    """No warnings from the exporter and the quantiser, which would fill every train log: torch.export's
    deprecation notices about its own internals, "torchvision is not installed" (its operators are
    not used here), and quantize_dynamic's advice to run its pre-processing first (tried on these
    graphs, quant_pre_process changed no probability). Errors still raise."""
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(logging.NOTSET)


class OnnxRunner:
    """An exported file run by onnxruntime on the CPU: windows (n, seq_len, n_features) -> (n, n_classes).

    One intra-op thread per CPU this process may use (its affinity mask, which containers and
    taskset narrow; onnxruntime's own default counts the machine's cores) and a single inter-op
    thread: the graphs are one chain of operators, so nothing runs beside them.
    """

    def __init__(self, path: str | Path, threads: int | None = None):
        self.path = Path(path)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3  # errors only: its warnings name internal graph rewrites
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except ORT_ERRORS as err:
            raise StockcastError(f"{self.path}: not a loadable ONNX model ({str(err).splitlines()[0]})") from None
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if [i.name for i in inputs] != [INPUT] or [o.name for o in outputs] != [OUTPUT]:
            raise StockcastError(f"{self.path}: expected one input {INPUT!r} and one output {OUTPUT!r}, found "
                                 f"{[i.name for i in inputs]} -> {[o.name for o in outputs]}")
        _, self.seq_len, self.n_features = inputs[0].shape
        self.n_classes = outputs[0].shape[1]

    def predict_proba(self, windows: np.ndarray) -> np.ndarray:
        """(n, n_classes) float32 class probabilities (column 1 is P(up)) of float32 windows."""
        if windows.ndim != 3 or windows.shape[1:] != (self.seq_len, self.n_features):
            raise StockcastError(f"{self.path}: windows of shape {windows.shape}; the model reads "
                                 f"(n, {self.seq_len}, {self.n_features})")
        return self.session.run(None, {INPUT: np.ascontiguousarray(windows, dtype=np.float32)})[0]


class OnnxModel(Model):
    """A sequence model that predicts through an exported file, so the evaluate stage scores it
    through the very windows (scoring.predictions) it scores torch on. It predicts only."""

    reads_sequences = True

    def __init__(self, source: Model, runner: OnnxRunner):
        super().__init__(source.n_features, source.params, source.n_classes)
        self.runner = runner

    def predict_proba(self, data: Windows, segment: str) -> np.ndarray:
        batches = loader(data.dataset(segment), VAL_BATCH, False, 0, False)
        parts = [self.runner.predict_proba(xb.numpy()) for xb, _ in batches]
        return np.concatenate(parts) if parts else np.empty((0, self.n_classes), dtype=np.float32)

    def fit(self, data: Windows, log_dir: Path, on_epoch: EpochCallback | None = None,
            checkpoint_dir: Path | None = None) -> FitResult:
        raise self._predicts_only()

    def refit(self, data: Windows, selection: FitResult, log_dir: Path) -> dict[str, Any]:
        raise self._predicts_only()

    def save(self, directory: Path) -> list[str]:
        raise self._predicts_only()

    def restore(self, directory: Path) -> None:
        raise self._predicts_only()

    def _predicts_only(self) -> StockcastError:
        return StockcastError(f"{self.runner.path}: an exported model predicts only; fit and save the torch model")


@dataclass(frozen=True)
class Exported:
    """What an export wrote (paths relative to the model's folder) and config.json's `export` block."""

    files: list[str]
    record: dict[str, Any]


def export_model(model: Model, directory: Path, windows: Windows) -> Exported | None:
    """Export a sequence model (or an ensemble's sequence members, each in its folder) to FILES under
    `directory`, the float file checked against torch on `windows`' val windows (its train windows
    when val was merged into train by a refit); None for a model with nothing to export."""
    if isinstance(model, SequenceModel):
        return _export_sequence(model, Path(directory), windows)
    if isinstance(model, Ensemble):
        members = {name: _export_sequence(member, Path(directory) / name, windows)
                   for name, member in model.members.items() if isinstance(member, SequenceModel)}
        if not members:
            return None
        return Exported([f"{name}/{f}" for name, e in members.items() for f in e.files],
                        {"opset": OPSET, "parity_max_diff": max(e.record["parity_max_diff"] for e in members.values()),
                         "members": {name: e.record for name, e in members.items()}})
    return None


def _export_sequence(model: SequenceModel, directory: Path, windows: Windows) -> Exported:
    paths = {variant: directory / name for variant, name in FILES.items()}
    directory.mkdir(parents=True, exist_ok=True)
    export_onnx(model.net, windows.seq_len, model.n_features, paths["onnx"])
    quantize_int8(paths["onnx"], paths["int8"])
    segment = "val" if "val" in windows.ends else "train"
    sample = parity_sample(windows, segment)
    reference = torch_proba(model, sample, segment)
    diffs = {variant: max_diff(OnnxModel(model, OnnxRunner(path)).predict_proba(sample, segment), reference)
             for variant, path in paths.items()}
    if not diffs["onnx"] <= PARITY_TOLERANCE:
        raise StockcastError(f"{paths['onnx']}: its probabilities differ from torch's by up to {diffs['onnx']:.3g} "
                             f"on {len(sample.ends[segment])} {segment} windows (at most {PARITY_TOLERANCE:g} "
                             "allowed); the export is not faithful, report it with the model's params")
    return Exported(list(FILES.values()), {
        "opset": OPSET, "files": dict(FILES), "parity_segment": segment, "parity_windows": len(sample.ends[segment]),
        "parity_max_diff": diffs["onnx"], "int8_max_diff": diffs["int8"]})


def parity_sample(windows: Windows, segment: str) -> Windows:
    """At most PARITY_WINDOWS of the segment's windows, evenly spaced over it (all of them when fewer)."""
    ends = windows.ends[segment]
    step = max(1, -(-len(ends) // PARITY_WINDOWS))
    return Windows(windows.x, windows.y, windows.seq_len, {segment: ends[::step]})


def torch_proba(model: SequenceModel, windows: Windows, segment: str) -> np.ndarray:
    """The reference: the net's probabilities on the CPU in float32 (no autocast, wherever it trained)."""
    return predict_proba(copy.deepcopy(model.net).cpu(), loader(windows.dataset(segment), VAL_BATCH, False, 0, False),
                         torch.device("cpu"), model.n_classes)


def max_diff(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| over every window and class (0 for no windows)."""
    return float(np.abs(a.astype(np.float64) - b).max()) if a.size else 0.0


def onnx_variants(model: Model, directory: str | Path, config: dict[str, Any]) -> dict[str, Model]:
    """The loaded model again, predicting through each exported variant ("onnx", "int8"): a sequence
    model through its file, an ensemble through its sequence members' files (its tabular members as
    they are). Empty when config.json has no `export` block (tabular models). The files were verified
    with the rest of the folder by artifacts.load_model."""
    if "export" not in config:
        return {}
    return {variant: _variant(model, Path(directory), variant) for variant in FILES}


def _variant(model: Model, directory: Path, variant: str) -> Model:
    if isinstance(model, SequenceModel):
        return OnnxModel(model, OnnxRunner(directory / FILES[variant]))
    if isinstance(model, Ensemble):
        ensemble = copy.copy(model)
        ensemble.members = {name: _variant(member, directory / name, variant) if isinstance(member, SequenceModel)
                            else member
                            for name, member in model.members.items()}
        return ensemble
    raise StockcastError(f"{directory}: {model.params.model} has no exported variant")
