"""GRU over a window of daily features: the LSTM's lighter sibling (3 gates instead of 4)."""

from __future__ import annotations

import torch
from torch import nn

from stockcast.params import TrainParams
from stockcast.models.nets import head_logits, head_width


class GRU(nn.Module):
    """Stacked GRU; the last step's hidden state goes through dropout and a linear head."""

    def __init__(self, n_features: int, hidden_size: int, num_layers: int, dropout: float, n_classes: int = 2):
        super().__init__()
        self.gru = nn.GRU(n_features, hidden_size, num_layers=num_layers, batch_first=True,
                          dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, head_width(n_classes))

    @classmethod
    def from_config(cls, n_features: int, params: TrainParams, n_classes: int = 2) -> GRU:
        return cls(n_features, params.hidden_size, params.num_layers, params.dropout, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, seq_len, n_features) -> logits (batch,), or (batch, n_classes) with three classes."""
        out, _ = self.gru(x)
        return head_logits(self.head(self.dropout(out[:, -1])))
