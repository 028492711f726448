"""Transformer encoder over a window of daily features (Vaswani et al. 2017, pre-norm variant).

No causal mask: every row of the window is already in the past of its last date, so attention in
both directions leaks nothing. The last position's state is the window's summary.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from stockcast.params import TrainParams
from stockcast.models.nets import head_logits, head_width

MAX_LEN = 512  # the largest train.seq_len params accept


def sinusoidal_positions(length: int, d_model: int) -> torch.Tensor:
    """The fixed sin/cos position code of the original paper, (length, d_model)."""
    position = torch.arange(length, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10_000.0) / d_model))
    code = torch.zeros(length, d_model)
    code[:, 0::2] = torch.sin(position * freq)
    code[:, 1::2] = torch.cos(position * freq)[:, : d_model // 2]
    return code


class Transformer(nn.Module):
    """Linear embedding + positions -> `num_layers` pre-norm encoder layers -> last step -> linear head."""

    def __init__(self, n_features: int, d_model: int, heads: int, num_layers: int, dropout: float,
                 n_classes: int = 2):
        super().__init__()
        self.embed = nn.Linear(n_features, d_model)
        self.register_buffer("positions", sinusoidal_positions(MAX_LEN, d_model), persistent=False)
        layer = nn.TransformerEncoderLayer(d_model, heads, dim_feedforward=4 * d_model, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, head_width(n_classes))

    @classmethod
    def from_config(cls, n_features: int, params: TrainParams, n_classes: int = 2) -> Transformer:
        return cls(n_features, params.transformer.d_model, params.transformer.heads, params.num_layers,
                   params.dropout, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, seq_len, n_features) -> logits (batch,), or (batch, n_classes) with three classes."""
        h = self.encoder(self.embed(x) + self.positions[: x.shape[1]])
        return head_logits(self.head(self.norm(h[:, -1])))
